import MQTTCore

/// Decides who may publish, subscribe and receive. Called synchronously on the event loop for
/// every PUBLISH, SUBSCRIBE entry and delivery, so implementations must not block.
///
/// The broker consults it for network clients only: the embedding program's inline clients are
/// trusted, but what they publish is still checked against each receiving client.
public protocol Authorizer: Sendable {
    func canPublish(_ client: ClientInfo, topic: String) -> Bool
    func canSubscribe(_ client: ClientInfo, filter: String) -> Bool
    /// Checked at every delivery to a network client, whatever the message's origin (another
    /// client, a will, a bridge, an inline client, a retained or queued message): a
    /// subscription to `#` must not leak topics the subscriber may not read.
    func canReceive(_ client: ClientInfo, topic: String) -> Bool
}

extension Authorizer {
    public func canPublish(_ client: ClientInfo, topic: String) -> Bool { true }
    public func canSubscribe(_ client: ClientInfo, filter: String) -> Bool { true }
    public func canReceive(_ client: ClientInfo, topic: String) -> Bool { true }
}

/// Allows everything; the default until an ACL is configured.
public struct AllowAllAuthorizer: Authorizer {
    public init() {}
}
