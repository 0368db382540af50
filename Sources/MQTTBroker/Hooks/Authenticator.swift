import MQTTCore
import NIOCore

/// Decides whether a CONNECT may open a session. Called once per CONNECT, off the hot path, so
/// it may be asynchronous (a database, a token service).
///
/// The broker applies its own rules first, so an authenticator cannot forget them:
/// `allow_anonymous` (a client without a user name is refused unless it is allowed on its
/// listener) and the `password_file`. The authenticator sees only clients that passed them.
public protocol Authenticator: Sendable {
    func authenticate(_ request: AuthenticationRequest) async -> AuthenticationResult
}

/// The credentials of a CONNECT.
public struct AuthenticationRequest: Sendable {
    public var client: ClientInfo
    public var password: ByteBuffer?
    /// v5 enhanced authentication method, if the client named one.
    public var authenticationMethod: String?
    public var authenticationData: ByteBuffer?
}

public enum AuthenticationResult: Sendable, Hashable {
    case accepted
    /// Refused with a CONNACK reason (mapped to the nearest 3.1.1 return code for old clients).
    case rejected(ReasonCode)
}
