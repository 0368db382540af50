import MQTTCore
import NIOCore

/// What hooks know about a connected client.
public struct ClientInfo: Sendable, Hashable {
    public var clientIdentifier: String
    public var username: String?
    public var protocolVersion: ProtocolVersion
    public var remoteAddress: String?

    public init(clientIdentifier: String, username: String?, protocolVersion: ProtocolVersion, remoteAddress: String?) {
        self.clientIdentifier = clientIdentifier
        self.username = username
        self.protocolVersion = protocolVersion
        self.remoteAddress = remoteAddress
    }
}
