import MQTTCore

/// Receives broker events, for logging, metrics or auditing. Called after the broker has acted
/// and outside its locks; keep implementations quick, they run on event loops.
public protocol BrokerObserver: Sendable {
    func clientConnected(_ client: ClientInfo)
    func clientDisconnected(_ client: ClientInfo, reason: DisconnectReason)
    func messagePublished(_ message: ApplicationMessage, by client: ClientInfo?)
    func messageDropped(_ message: ApplicationMessage, for clientIdentifier: String, reason: DropReason)
}

extension BrokerObserver {
    public func clientConnected(_ client: ClientInfo) {}
    public func clientDisconnected(_ client: ClientInfo, reason: DisconnectReason) {}
    public func messagePublished(_ message: ApplicationMessage, by client: ClientInfo?) {}
    public func messageDropped(_ message: ApplicationMessage, for clientIdentifier: String, reason: DropReason) {}
}

/// How a connection ended.
public enum DisconnectReason: Sendable, Hashable, CustomStringConvertible {
    /// The client sent DISCONNECT (v5: with this reason code).
    case clientDisconnected(ReasonCode)
    /// The network connection closed without DISCONNECT.
    case connectionLost
    case keepAliveTimeout
    /// Another connection with the same client identifier took the session over.
    case takenOver
    /// The client broke the protocol.
    case protocolError(MQTTProtocolError)
    case serverShuttingDown

    public var description: String {
        switch self {
        case .clientDisconnected(let code): "client disconnected (reason \(code))"
        case .connectionLost: "connection lost"
        case .keepAliveTimeout: "keep-alive timeout"
        case .takenOver: "session taken over"
        case .protocolError(let error): "protocol error: \(error)"
        case .serverShuttingDown: "server shutting down"
        }
    }
}
