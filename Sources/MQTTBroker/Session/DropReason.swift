/// Why the broker discarded a message for one subscriber; reported to observers and counted.
public enum DropReason: Sendable, Hashable, CustomStringConvertible {
    /// The session's offline or flow-control queue held `max_queued_messages` (or
    /// `max_queued_bytes`) already; the newest message is the one dropped, as Mosquitto does.
    case queueFull
    /// The Message Expiry Interval ran out before the message could be sent.
    case expired
    /// The packet would exceed the Maximum Packet Size the client announced.
    case packetTooLarge
    /// A QoS 0 message for an offline session while `queue_qos0_messages` is false.
    case offlineQoS0
    /// The connection could not take more data and the message was QoS 0.
    case slowConsumer
    /// The authorizer refused delivery to this client.
    case notAuthorized

    public var description: String {
        switch self {
        case .queueFull: "queue full"
        case .expired: "message expired"
        case .packetTooLarge: "packet larger than the client's maximum"
        case .offlineQoS0: "QoS 0 for an offline client"
        case .slowConsumer: "slow consumer"
        case .notAuthorized: "not authorized"
        }
    }
}
