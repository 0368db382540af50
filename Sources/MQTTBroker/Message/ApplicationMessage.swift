import MQTTCore
import NIOCore

/// A message as the broker routes it: what the publisher sent, minus the per-connection parts
/// (packet identifier, topic alias, DUP) that each hop sets for itself.
///
/// Immutable once built and shared by every subscriber; `payload` is one buffer for all of them.
public struct ApplicationMessage: Sendable, Hashable {
    public var topic: String
    public var payload: ByteBuffer
    public var qos: QoS
    public var retain: Bool
    /// Forwarded properties (payload format, content type, response topic, correlation data,
    /// user properties). Message expiry is kept as `expiresAt` and recomputed per delivery.
    public var properties: MQTTProperties
    /// When the message stops being deliverable (v5 Message Expiry Interval).
    public var expiresAt: NIODeadline?
    /// The client that published it, for No Local; nil for the inline client and `$SYS`.
    public var publisherClientIdentifier: String?

    public init(
        topic: String, payload: ByteBuffer, qos: QoS = .atMostOnce, retain: Bool = false,
        properties: MQTTProperties = .none, expiresAt: NIODeadline? = nil, publisherClientIdentifier: String? = nil
    ) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.properties = properties
        self.expiresAt = expiresAt
        self.publisherClientIdentifier = publisherClientIdentifier
    }

    /// Builds the routed form of an incoming PUBLISH whose topic alias has been resolved.
    init(publish: PublishPacket, topic: String, publisher: String?, now: NIODeadline) {
        var properties = publish.properties
        properties.topicAlias = nil
        properties.subscriptionIdentifiers = []
        let expiresAt = properties.messageExpiryInterval.map { now + .seconds(Int64($0)) }
        properties.messageExpiryInterval = nil
        self.init(
            topic: topic, payload: publish.payload, qos: publish.qos, retain: publish.retain, properties: properties,
            expiresAt: expiresAt, publisherClientIdentifier: publisher)
    }

    func isExpired(at now: NIODeadline) -> Bool {
        guard let expiresAt else { return false }
        return expiresAt <= now
    }

    /// The properties to send at `now`: the stored ones plus the remaining expiry interval.
    func outgoingProperties(at now: NIODeadline, subscriptionIdentifiers: [Int]) -> MQTTProperties {
        var outgoing = properties
        if let expiresAt {
            let remaining = (expiresAt - now).nanoseconds
            // Round up so a message with time left never shows 0, which would mean "no expiry".
            outgoing.messageExpiryInterval = UInt32(clamping: max(1, (remaining + 999_999_999) / 1_000_000_000))
        }
        outgoing.subscriptionIdentifiers = subscriptionIdentifiers
        return outgoing
    }
}
