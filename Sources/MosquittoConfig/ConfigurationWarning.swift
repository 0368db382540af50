import MQTTBroker
/// A configuration line that was accepted but does not take (full) effect in Parley,
/// for example a Mosquitto option that Parley ignores.
///
/// Warnings are returned next to the parsed configuration; the broker should log them
/// at startup. `description` renders as `"<file>:<line>: <message>"`.
public struct ConfigurationWarning: CustomStringConvertible, Sendable, Equatable {
    /// The file name as it was passed to the parser.
    public var file: String
    /// 1-based line number; 0 when the warning concerns the whole file.
    public var line: Int
    /// The configuration key the warning is about, if any.
    public var key: String?
    /// Human-readable explanation without the location prefix.
    public var message: String

    public init(file: String, line: Int, key: String?, message: String) {
        self.file = file
        self.line = line
        self.key = key
        self.message = message
    }

    public var description: String {
        line > 0 ? "\(file):\(line): \(message)" : "\(file): \(message)"
    }
}
