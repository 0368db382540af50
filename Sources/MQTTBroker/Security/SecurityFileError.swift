/// A password or ACL file that cannot be used. Raised when the broker starts or reloads, so
/// the operator learns which line to fix; a reload that fails keeps the previous rules.
public struct SecurityFileError: Error, CustomStringConvertible, Sendable, Equatable {
    public var file: String
    /// 1-based line number; 0 when the problem concerns the whole file.
    public var line: Int
    public var message: String

    public init(file: String, line: Int, message: String) {
        self.file = file
        self.line = line
        self.message = message
    }

    public var description: String {
        line > 0 ? "\(file):\(line): \(message)" : "\(file): \(message)"
    }
}
