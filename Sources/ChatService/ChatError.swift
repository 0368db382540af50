/// A request a page session cannot have: the message is shown to the user as is, and the
/// session stays up.
public struct ChatError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        let name: String
        public static let invalidCommand = Code(name: "invalidCommand")
        public static let invalidName = Code(name: "invalidName")
        public static let invalidRoom = Code(name: "invalidRoom")
        public static let invalidMessage = Code(name: "invalidMessage")
        public static let notJoined = Code(name: "notJoined")
        public static let alreadyJoined = Code(name: "alreadyJoined")
        public static let rateLimited = Code(name: "rateLimited")
        public static let brokerUnavailable = Code(name: "brokerUnavailable")
        /// The HTTP server could not start or stopped with an error (a port in use, say).
        public static let httpServerFailed = Code(name: "httpServerFailed")
        public var description: String { name }
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
