import NIOCore

/// The message a client leaves with the broker in CONNECT, published if it disappears without
/// a normal DISCONNECT (or after v5's Will Delay Interval).
public struct Will: Sendable, Hashable {
    public var topic: String
    public var payload: ByteBuffer
    public var qos: QoS
    public var retain: Bool
    /// v5 will properties: Will Delay Interval plus the properties a PUBLISH may carry.
    public var properties: MQTTProperties

    public init(topic: String, payload: ByteBuffer, qos: QoS = .atMostOnce, retain: Bool = false, properties: MQTTProperties = .none) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.properties = properties
    }
}
