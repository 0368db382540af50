import MQTTCore

/// A packet a session wants written to its connection, decided under the session's lock and
/// written after the lock is released.
enum OutboundAction: Sendable {
    /// A PUBLISH; `packetIdentifier` is nil for QoS 0.
    case publish(Delivery, packetIdentifier: UInt16?, duplicate: Bool)
    /// A PUBREL resent for a QoS 2 message whose PUBREC had arrived before the connection dropped.
    case pubrel(packetIdentifier: UInt16)
}
