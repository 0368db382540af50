import MQTTBroker
import Foundation

/// Parses Mosquitto's configuration file format (mosquitto.conf(5)) into a
/// ``ParleyConfiguration``, so an existing Mosquitto file runs unchanged as long as it
/// only uses keys from ``ParleyConfiguration/supportedKeys``.
///
/// Syntax:
/// * one `key value...` per line; words are separated by spaces or tabs;
/// * lines whose first non-blank character is `#` are comments; blank lines and
///   leading/trailing whitespace are ignored; single-word values may be followed by a
///   `# comment`;
/// * `listener PORT [ADDRESS]` starts a listener block; listener-scoped keys that follow
///   apply to it; before the first `listener` line they set the default for every
///   listener;
/// * without `listener`, `port` or `bind_address` lines the broker listens on
///   0.0.0.0:1883.
///
/// Parsing stops at the first error. Warnings (ignored keys and the like) are returned
/// together with the configuration and should be logged by the caller.
public struct MosquittoConfigParser: Sendable {
    public init() {}

    /// Parses configuration text. `file` is used only in diagnostics.
    public func parse(
        contents: String,
        file: String
    ) throws(ConfigurationError) -> (ParleyConfiguration, [ConfigurationWarning]) {
        var state = ConfigurationParseState(file: file)
        try apply(contents: contents, file: file, to: &state)
        return try state.finish()
    }

    private func apply(contents: String, file: String, to state: inout ConfigurationParseState) throws(ConfigurationError) {
        var text = Substring(contents)
        if text.first == "\u{FEFF}" { text.removeFirst() }
        // "\r\n" is a single Character in Swift, so it is matched explicitly.
        let lines = text.split(omittingEmptySubsequences: false) { $0 == "\n" || $0 == "\r\n" }
        for (index, rawLine) in lines.enumerated() {
            guard let line = ConfigurationLine(file: file, number: index + 1, text: rawLine) else { continue }
            guard let key = ParleyConfiguration.keysByName[line.key] else {
                if ParleyConfiguration.isUnsupportedMosquittoKey(line.key) {
                    throw line.error(.unsupportedKey, "key '\(line.key)' is not supported by Parley yet")
                }
                throw line.error(.unknownKey, "unknown configuration key '\(line.key)'")
            }
            try key.apply(&state, line)
            if let include = state.pendingInclude {
                state.pendingInclude = nil
                try applyIncludedFiles(include.path, line: include.line, to: &state)
            }
        }
    }

    /// `include_dir`: the folder's `*.conf` files in Mosquitto's order (by name, ignoring case
    /// first), each applied as if its lines stood here.
    private func applyIncludedFiles(_ folder: String, line: ConfigurationLine, to state: inout ConfigurationParseState) throws(ConfigurationError) {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: folder)
        } catch {
            throw line.error(.io, "key 'include_dir': cannot read folder '\(folder)': \(Self.reason(for: error))")
        }
        let files = names.filter { $0.hasSuffix(".conf") && $0.count > 5 }.sorted { lhs, rhs in
            let order = lhs.lowercased().compare(rhs.lowercased())
            return order == .orderedSame ? lhs < rhs : order == .orderedAscending
        }
        state.inIncludedFile = true
        defer { state.inIncludedFile = false }
        for name in files {
            let path = (folder as NSString).appendingPathComponent(name)
            try apply(contents: try Self.read(path), file: path, to: &state)
        }
    }

    /// Reads and parses the file at `path`; diagnostics name the file as `path`.
    public func parse(
        fileAt path: String
    ) throws(ConfigurationError) -> (ParleyConfiguration, [ConfigurationWarning]) {
        try parse(contents: try Self.read(path), file: path)
    }

    private static func read(_ path: String) throws(ConfigurationError) -> String {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            throw ConfigurationError(
                kind: .io, file: path, line: 0, key: nil,
                message: "cannot read configuration file: it is a directory"
            )
        }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw ConfigurationError(
                kind: .io, file: path, line: 0, key: nil,
                message: "cannot read configuration file: \(Self.reason(for: error))"
            )
        }
        guard let contents = String(data: data, encoding: .utf8) else {
            throw ConfigurationError(
                kind: .io, file: path, line: 0, key: nil,
                message: "cannot read configuration file: it is not valid UTF-8"
            )
        }
        return contents
    }

    private static func reason(for error: any Error) -> String {
        let nsError = error as NSError
        if nsError.domain == NSCocoaErrorDomain {
            switch nsError.code {
            case NSFileReadNoSuchFileError: return "no such file"
            case NSFileReadNoPermissionError: return "permission denied"
            default: break
            }
        }
        if let underlying = nsError.userInfo[NSUnderlyingErrorKey] as? NSError,
           underlying.domain == NSPOSIXErrorDomain,
           let message = strerror(Int32(underlying.code)) {
            return String(cString: message)
        }
        return nsError.localizedDescription
    }
}
