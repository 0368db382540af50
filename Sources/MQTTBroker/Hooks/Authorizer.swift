import MQTTCore

/// Decides who may publish, subscribe and receive. Called synchronously on the event loop for
/// every PUBLISH, SUBSCRIBE entry and delivery, so implementations must not block.
public protocol Authorizer: Sendable {
    func canPublish(_ client: ClientInfo, topic: String) -> Bool
    func canSubscribe(_ client: ClientInfo, filter: String) -> Bool
    /// Checked again at delivery, as Mosquitto's ACLs are: a subscription to `#` must not leak
    /// topics the subscriber may not read.
    func canReceive(clientIdentifier: String, topic: String) -> Bool
}

extension Authorizer {
    public func canPublish(_ client: ClientInfo, topic: String) -> Bool { true }
    public func canSubscribe(_ client: ClientInfo, filter: String) -> Bool { true }
    public func canReceive(clientIdentifier: String, topic: String) -> Bool { true }
}

/// Allows everything; the default until an ACL is configured.
public struct AllowAllAuthorizer: Authorizer {
    public init() {}
}
