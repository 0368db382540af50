/// Why a store could not be opened, read or written, with the file it concerns.
///
/// A struct with static constructors rather than a closed enum, so that stores outside this
/// module can describe their own failures.
public struct PersistenceError: Error, Sendable, CustomStringConvertible {
    public var path: String
    public var message: String
    /// The operating system's error number, when one caused it.
    public var errno: Int32?

    public init(path: String, message: String, errno: Int32? = nil) {
        self.path = path
        self.message = message
        self.errno = errno
    }

    public var description: String {
        let reason = errno.map { ": \(String(cString: strerror($0)))" } ?? ""
        return "\(path): \(message)\(reason)"
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
