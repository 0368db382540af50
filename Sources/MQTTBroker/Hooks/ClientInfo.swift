import MQTTCore
import NIOCore

/// What hooks know about a connected client.
public struct ClientInfo: Sendable, Hashable {
    public var clientIdentifier: String
    /// The user name of CONNECT, or the one taken from the client's certificate
    /// (`use_identity_as_username`, `use_subject_as_username`).
    public var username: String?
    public var protocolVersion: ProtocolVersion
    public var remoteAddress: String?
    /// Index in `BrokerConfiguration.listeners` of the listener the client came in on, so that
    /// hooks can treat listeners differently (`per_listener_settings`); nil for inline clients.
    public var listener: Int?
    /// Set by the broker for a client that presented the in-process credential (the chat):
    /// it passes the ACL like the inline client. Never derived from the user name alone.
    var isTrusted = false

    public init(
        clientIdentifier: String, username: String?, protocolVersion: ProtocolVersion, remoteAddress: String?,
        listener: Int? = nil
    ) {
        self.clientIdentifier = clientIdentifier
        self.username = username
        self.protocolVersion = protocolVersion
        self.remoteAddress = remoteAddress
        self.listener = listener
    }
}
