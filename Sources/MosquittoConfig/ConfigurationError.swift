import MQTTBroker
/// A configuration file problem that stops the broker from starting.
///
/// `description` renders the conventional compiler-style form
/// `"<file>:<line>: <message>"`, e.g.
/// `"parley.conf:12: key 'max_keepalive': expected an integer between 0 and 65535, got 'abc'"`.
/// Errors that are not tied to a line (``Kind/io``) use `line == 0` and render as
/// `"<file>: <message>"`.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What went wrong.
    public enum Kind: String, Sendable, Equatable, CaseIterable {
        /// The key is neither a Parley key nor a known Mosquitto key (typo?).
        case unknownKey
        /// A real Mosquitto key that Parley does not implement yet.
        case unsupportedKey
        /// A supported key whose value selects a feature Parley does not implement yet
        /// (e.g. `protocol websockets`, `per_listener_settings true`).
        case unsupportedValue
        /// The value is malformed, out of range, or conflicts with an earlier line.
        case invalidValue
        /// The key was given without the value it requires.
        case missingValue
        /// The configuration file could not be read.
        case io
    }

    public var kind: Kind
    /// The file name as it was passed to the parser.
    public var file: String
    /// 1-based line number; 0 when the problem concerns the whole file.
    public var line: Int
    /// The configuration key the problem is about, if any.
    public var key: String?
    /// Human-readable explanation without the location prefix.
    public var message: String

    public init(kind: Kind, file: String, line: Int, key: String?, message: String) {
        self.kind = kind
        self.file = file
        self.line = line
        self.key = key
        self.message = message
    }

    public var description: String {
        line > 0 ? "\(file):\(line): \(message)" : "\(file): \(message)"
    }
}
