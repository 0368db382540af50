import NIOCore

/// PUBLISH: an application message travelling in either direction.
///
/// `payload` is a slice of the buffer it arrived in; the broker hands the same storage to every
/// subscriber rather than copying it.
public struct PublishPacket: Sendable, Hashable {
    public var topic: String
    public var payload: ByteBuffer
    public var qos: QoS
    public var retain: Bool
    public var duplicate: Bool
    /// Present exactly when `qos` is above 0.
    public var packetIdentifier: UInt16?
    public var properties: MQTTProperties

    public init(
        topic: String, payload: ByteBuffer, qos: QoS = .atMostOnce, retain: Bool = false, duplicate: Bool = false,
        packetIdentifier: UInt16? = nil, properties: MQTTProperties = .none
    ) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.duplicate = duplicate
        self.packetIdentifier = packetIdentifier
        self.properties = properties
    }
}

extension PublishPacket: MQTTPacketCodable {
    static var packetType: PacketType { .publish }

    var fixedHeaderFlags: UInt8 {
        (duplicate ? 0x08 : 0) | (qos.rawValue << 1) | (retain ? 0x01 : 0)
    }

    func bodyLength(version: ProtocolVersion) -> Int {
        MQTTSize.string(topic) + (qos == .atMostOnce ? 0 : 2)
            + (version.hasProperties ? properties.encodedLengthWithPrefix : 0) + payload.readableBytes
    }

    func encodeBody(into buffer: inout ByteBuffer, version: ProtocolVersion) {
        buffer.writeMQTTString(topic)
        if qos != .atMostOnce { buffer.writeInteger(packetIdentifier ?? 0) }
        if version.hasProperties { properties.encode(into: &buffer) }
        buffer.writeImmutableBuffer(payload)
    }

    static func decode(flags: UInt8, body: inout ByteBuffer, version: ProtocolVersion) throws(MQTTProtocolError) -> PublishPacket {
        guard let qos = QoS(rawValue: (flags >> 1) & 0x03) else { throw .malformed("PUBLISH with QoS 3") }
        let duplicate = flags & 0x08 != 0
        if duplicate && qos == .atMostOnce { throw .malformed("PUBLISH QoS 0 with the DUP flag") }
        let topic = try body.readMQTTName("topic name")
        let packetIdentifier = qos == .atMostOnce ? nil : try readPacketIdentifier(from: &body, in: .publish)
        let properties = version.hasProperties ? try MQTTProperties.decode(from: &body, context: .publish) : .none
        if topic.isEmpty {
            // Only a v5 alias may stand in for the topic (MQTT 5 §3.3.2.3.4).
            // "It is a Protocol Error if the Topic Name is zero length and there is no Topic Alias."
            guard properties.topicAlias != nil else { throw .protocolViolation("PUBLISH with an empty topic and no topic alias") }
        } else {
            // A wildcard in a topic name is a packet that breaks the format (MQTT-3.3.2-2):
            // malformed, as Mosquitto answers, not Topic Name Invalid (0x90), which is for
            // well-formed names the receiver will not take.
            do { try TopicValidation.validateTopicName(topic) } catch { throw .malformed(error.message) }
        }
        return PublishPacket(
            topic: topic, payload: body.readSlice(length: body.readableBytes)!, qos: qos, retain: flags & 0x01 != 0,
            duplicate: duplicate, packetIdentifier: packetIdentifier, properties: properties)
    }
}
