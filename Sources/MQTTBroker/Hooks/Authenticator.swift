import MQTTCore
import NIOCore

/// Decides whether a CONNECT may open a session. Called once per CONNECT, off the hot path, so
/// it may be asynchronous (a password file, a database, a token service).
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

/// The default: anyone with a user name is accepted; clients without one only when anonymous
/// access is allowed (Mosquitto's `allow_anonymous`). Password checks plug in as another
/// `Authenticator`.
public struct AnonymousAuthenticator: Authenticator {
    public var allowAnonymous: Bool

    public init(allowAnonymous: Bool = true) {
        self.allowAnonymous = allowAnonymous
    }

    public func authenticate(_ request: AuthenticationRequest) async -> AuthenticationResult {
        if request.client.username == nil && !allowAnonymous { return .rejected(.notAuthorized) }
        return .accepted
    }
}
