import MQTTCore
import NIOCore

/// A message received by an inline subscription.
public struct InlineMessage: Sendable, Hashable {
    public var topic: String
    public var payload: ByteBuffer
    public var qos: QoS
    /// Set for retained messages sent because of the subscription, or with Retain As Published.
    public var retain: Bool
    /// Forwarded v5 properties, with the remaining Message Expiry Interval.
    public var properties: MQTTProperties

    /// The payload read as UTF-8 text.
    public var payloadString: String { String(buffer: payload) }
}
