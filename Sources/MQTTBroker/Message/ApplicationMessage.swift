import MQTTCore
import NIOCore

/// A message as the broker routes it: what the publisher sent, minus the per-connection parts
/// (packet identifier, topic alias, DUP) that each hop sets for itself.
///
/// A value with reference storage: routing hands the same message to every subscriber, queue
/// and retained store, and each of those copies is one reference count, not a copy of the
/// topic, payload and thirty-odd property fields. Setting a field copies the storage first
/// when it is shared (copy on write), so the value semantics are those of a plain struct.
public struct ApplicationMessage: Sendable, Hashable {
    /// Mutated only while uniquely referenced (see `mutableStorage`), hence `@unchecked Sendable`.
    final class Storage: @unchecked Sendable {
        var topic: String
        var payload: ByteBuffer
        var qos: QoS
        var retain: Bool
        var properties: MQTTProperties
        var expiresAt: NIODeadline?
        var publisherClientIdentifier: String?

        init(
            topic: String, payload: ByteBuffer, qos: QoS, retain: Bool, properties: MQTTProperties, expiresAt: NIODeadline?,
            publisherClientIdentifier: String?
        ) {
            self.topic = topic
            self.payload = payload
            self.qos = qos
            self.retain = retain
            self.properties = properties
            self.expiresAt = expiresAt
            self.publisherClientIdentifier = publisherClientIdentifier
        }

        func copy() -> Storage {
            Storage(
                topic: topic, payload: payload, qos: qos, retain: retain, properties: properties, expiresAt: expiresAt,
                publisherClientIdentifier: publisherClientIdentifier)
        }
    }

    private var storage: Storage

    private var mutableStorage: Storage {
        mutating get {
            if !isKnownUniquelyReferenced(&storage) { storage = storage.copy() }
            return storage
        }
    }

    public var topic: String {
        get { storage.topic }
        set { mutableStorage.topic = newValue }
    }

    public var payload: ByteBuffer {
        get { storage.payload }
        set { mutableStorage.payload = newValue }
    }

    public var qos: QoS {
        get { storage.qos }
        set { mutableStorage.qos = newValue }
    }

    public var retain: Bool {
        get { storage.retain }
        set { mutableStorage.retain = newValue }
    }

    /// Forwarded properties (payload format, content type, response topic, correlation data,
    /// user properties). Message expiry is kept as `expiresAt` and recomputed per delivery.
    public var properties: MQTTProperties {
        get { storage.properties }
        set { mutableStorage.properties = newValue }
    }

    /// When the message stops being deliverable (v5 Message Expiry Interval).
    public var expiresAt: NIODeadline? {
        get { storage.expiresAt }
        set { mutableStorage.expiresAt = newValue }
    }

    /// The client that published it, for No Local; nil for the inline client and `$SYS`.
    public var publisherClientIdentifier: String? {
        get { storage.publisherClientIdentifier }
        set { mutableStorage.publisherClientIdentifier = newValue }
    }

    public init(
        topic: String, payload: ByteBuffer, qos: QoS = .atMostOnce, retain: Bool = false,
        properties: MQTTProperties = .none, expiresAt: NIODeadline? = nil, publisherClientIdentifier: String? = nil
    ) {
        storage = Storage(
            topic: topic, payload: payload, qos: qos, retain: retain, properties: properties, expiresAt: expiresAt,
            publisherClientIdentifier: publisherClientIdentifier)
    }

    /// The same for every copy of this value made since it was last changed: a store keeps one
    /// copy of a message however many sessions and retained topics hold it.
    public var identity: ObjectIdentifier { ObjectIdentifier(storage) }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        if lhs.storage === rhs.storage { return true }
        return lhs.topic == rhs.topic && lhs.payload == rhs.payload && lhs.qos == rhs.qos && lhs.retain == rhs.retain
            && lhs.properties == rhs.properties && lhs.expiresAt == rhs.expiresAt
            && lhs.publisherClientIdentifier == rhs.publisherClientIdentifier
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(topic)
        hasher.combine(payload)
        hasher.combine(qos)
        hasher.combine(retain)
        hasher.combine(properties)
        hasher.combine(expiresAt)
        hasher.combine(publisherClientIdentifier)
    }

    /// Builds the routed form of an incoming PUBLISH whose topic alias has been resolved.
    ///
    /// `ownBytes` copies the payload and correlation data out of the read buffer they were cut
    /// from: a message that may be held (QoS 1/2 in a queue or in flight, a retained one)
    /// would otherwise keep the whole buffer alive, up to 64 KiB for a 50-byte message, and
    /// `max_queued_bytes` would count a fraction of what is held. A QoS 0 message written at
    /// once is encoded into its own buffer anyway and needs no copy (unless
    /// `queue_qos0_messages` may queue it).
    init(publish: PublishPacket, topic: String, publisher: String?, now: NIODeadline, ownBytes: Bool = false) {
        var properties = publish.properties
        properties.topicAlias = nil
        properties.subscriptionIdentifiers = []
        let expiresAt = properties.messageExpiryInterval.map { now + .seconds(Int64($0)) }
        properties.messageExpiryInterval = nil
        var payload = publish.payload
        if ownBytes {
            payload = ByteBuffer(bytes: payload.readableBytesView)
            if let correlation = properties.correlationData { properties.correlationData = ByteBuffer(bytes: correlation.readableBytesView) }
        }
        self.init(
            topic: topic, payload: payload, qos: publish.qos, retain: publish.retain, properties: properties,
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
