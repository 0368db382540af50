import Foundation

/// Parses Mosquitto's configuration file format (mosquitto.conf(5)) into a
/// ``BrokerConfiguration``, so an existing Mosquitto file runs unchanged as long as it
/// only uses keys from ``BrokerConfiguration/supportedKeys``.
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
    ) throws(ConfigurationError) -> (BrokerConfiguration, [ConfigurationWarning]) {
        var state = ConfigurationParseState(file: file)
        var text = Substring(contents)
        if text.first == "\u{FEFF}" { text.removeFirst() }
        // "\r\n" is a single Character in Swift, so it is matched explicitly.
        let lines = text.split(omittingEmptySubsequences: false) { $0 == "\n" || $0 == "\r\n" }
        for (index, rawLine) in lines.enumerated() {
            guard let line = ConfigurationLine(file: file, number: index + 1, text: rawLine) else { continue }
            guard let key = BrokerConfiguration.keysByName[line.key] else {
                if BrokerConfiguration.isUnsupportedMosquittoKey(line.key) {
                    throw line.error(.unsupportedKey, "key '\(line.key)' is not supported by Parley yet")
                }
                throw line.error(.unknownKey, "unknown configuration key '\(line.key)'")
            }
            try key.apply(&state, line)
        }
        return try state.finish()
    }

    /// Reads and parses the file at `path`; diagnostics name the file as `path`.
    public func parse(
        fileAt path: String
    ) throws(ConfigurationError) -> (BrokerConfiguration, [ConfigurationWarning]) {
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
        return try parse(contents: contents, file: path)
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
