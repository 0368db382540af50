/// A listener that cannot be opened as configured: a TLS file that cannot be read or used, a
/// socket path that cannot be bound. Names the listener and, when there is one, the file.
public struct ListenerSetupError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The listener as `ADDRESS:PORT` or its socket path.
    public var listener: String
    public var file: String?
    public var message: String

    public init(listener: String, file: String?, message: String) {
        self.listener = listener
        self.file = file
        self.message = message
    }

    public var description: String {
        if let file { return "listener \(listener): \(file): \(message)" }
        return "listener \(listener): \(message)"
    }
}
