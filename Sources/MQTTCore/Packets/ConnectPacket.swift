import NIOCore

/// CONNECT: the first packet of every connection, which also fixes the protocol version.
public struct ConnectPacket: Sendable, Hashable {
    public var protocolVersion: ProtocolVersion
    public var cleanStart: Bool
    public var keepAlive: UInt16
    public var clientIdentifier: String
    public var will: Will?
    public var username: String?
    public var password: ByteBuffer?
    public var properties: MQTTProperties
    /// Mosquitto's bridge flag (`try_private`): the top bit of a 3.1/3.1.1 protocol level
    /// (0x83, 0x84). Not MQTT, but Mosquitto bridges send it by default; such a client's
    /// subscriptions behave as No Local and Retain As Published, so bridged messages do not loop.
    public var isBridge: Bool

    public init(
        protocolVersion: ProtocolVersion = .v3_1_1, cleanStart: Bool = true, keepAlive: UInt16 = 60,
        clientIdentifier: String, will: Will? = nil, username: String? = nil, password: ByteBuffer? = nil,
        properties: MQTTProperties = .none, isBridge: Bool = false
    ) {
        self.protocolVersion = protocolVersion
        self.cleanStart = cleanStart
        self.keepAlive = keepAlive
        self.clientIdentifier = clientIdentifier
        self.will = will
        self.username = username
        self.password = password
        self.properties = properties
        self.isBridge = isBridge
    }

    /// The protocol level byte of a CONNECT body, read without decoding the rest, so that a
    /// broker can answer a CONNECT it cannot decode in a CONNACK format the client understands.
    public static func peekProtocolLevel(in body: ByteBuffer) -> UInt8? {
        guard let nameLength = body.getInteger(at: body.readerIndex, as: UInt16.self) else { return nil }
        return body.getInteger(at: body.readerIndex + 2 + Int(nameLength), as: UInt8.self)
    }
}

extension ConnectPacket: MQTTPacketCodable {
    static var packetType: PacketType { .connect }

    private var flagsByte: UInt8 {
        var flags: UInt8 = 0
        if cleanStart { flags |= 0x02 }
        if let will {
            flags |= 0x04 | (will.qos.rawValue << 3)
            if will.retain { flags |= 0x20 }
        }
        if password != nil { flags |= 0x40 }
        if username != nil { flags |= 0x80 }
        return flags
    }

    func bodyLength(version: ProtocolVersion) -> Int {
        var length = MQTTSize.string(protocolVersion.protocolName) + 1 + 1 + 2
        if protocolVersion.hasProperties { length += properties.encodedLengthWithPrefix }
        length += MQTTSize.string(clientIdentifier)
        if let will {
            if protocolVersion.hasProperties { length += will.properties.encodedLengthWithPrefix }
            length += MQTTSize.string(will.topic) + MQTTSize.binary(will.payload)
        }
        if let username { length += MQTTSize.string(username) }
        if let password { length += MQTTSize.binary(password) }
        return length
    }

    func encodeBody(into buffer: inout ByteBuffer, version: ProtocolVersion) {
        buffer.writeMQTTString(protocolVersion.protocolName)
        buffer.writeInteger(protocolVersion.rawValue | (isBridge ? 0x80 : 0))
        buffer.writeInteger(flagsByte)
        buffer.writeInteger(keepAlive)
        if protocolVersion.hasProperties { properties.encode(into: &buffer) }
        buffer.writeMQTTString(clientIdentifier)
        if let will {
            if protocolVersion.hasProperties { will.properties.encode(into: &buffer) }
            buffer.writeMQTTString(will.topic)
            buffer.writeMQTTBinary(will.payload)
        }
        if let username { buffer.writeMQTTString(username) }
        if let password { buffer.writeMQTTBinary(password) }
    }

    static func decode(flags: UInt8, body: inout ByteBuffer, version _: ProtocolVersion) throws(MQTTProtocolError) -> ConnectPacket {
        let protocolName = try body.readMQTTString()
        // MQTT-3.1.2-1: another protocol's name may be dropped without an answer, as Mosquitto does.
        guard protocolName == ProtocolVersion.v5.protocolName || protocolName == ProtocolVersion.v3_1.protocolName else {
            throw .protocolViolation("CONNECT for protocol '\(protocolName)', not MQTT")
        }
        let level = try body.readMQTTByte()
        let isBridge = level & 0x80 != 0
        guard let version = ProtocolVersion(rawValue: level & 0x7F), version.protocolName == protocolName,
            !(isBridge && version == .v5)
        else {
            throw MQTTProtocolError(.unsupportedProtocolVersion, "unsupported protocol '\(protocolName)' level \(level)")
        }
        // MQTT 3.1 left these bits unused rather than reserved; clients of its time set them.
        let checksReservedBits = version != .v3_1
        if checksReservedBits && flags != PacketType.connect.requiredFlags {
            throw .malformed("CONNECT with reserved flag bits 0x\(String(flags, radix: 16))")
        }
        let connectFlags = try body.readMQTTByte()
        guard connectFlags & 0x01 == 0 || !checksReservedBits else { throw .malformed("CONNECT reserved flag is set") }
        let hasWill = connectFlags & 0x04 != 0
        guard let willQoS = QoS(rawValue: (connectFlags >> 3) & 0x03) else { throw .malformed("CONNECT will QoS 3") }
        let willRetain = connectFlags & 0x20 != 0
        if !hasWill && (willQoS != .atMostOnce || willRetain) {
            throw .malformed("CONNECT will QoS or retain set without a will")
        }
        let hasPassword = connectFlags & 0x40 != 0
        let hasUsername = connectFlags & 0x80 != 0
        if hasPassword && !hasUsername && version < .v5 {
            throw .malformed("CONNECT password without a user name")
        }
        let keepAlive = try body.readMQTTUInt16()
        let properties = version.hasProperties ? try MQTTProperties.decode(from: &body, context: .connect) : .none
        let clientIdentifier = try body.readMQTTName("client identifier")
        var will: Will?
        if hasWill {
            let willProperties = version.hasProperties ? try MQTTProperties.decode(from: &body, context: .will) : .none
            let topic = try body.readMQTTName("will topic")
            do { try TopicValidation.validateTopicName(topic) } catch { throw .malformed(error.message) }
            let payload = try body.readMQTTBinary()
            will = Will(topic: topic, payload: payload, qos: willQoS, retain: willRetain, properties: willProperties)
        }
        let username = hasUsername ? try body.readMQTTName("user name") : nil
        let password = hasPassword ? try body.readMQTTBinary() : nil
        try body.expectFullyRead(.connect)
        return ConnectPacket(
            protocolVersion: version, cleanStart: connectFlags & 0x02 != 0, keepAlive: keepAlive,
            clientIdentifier: clientIdentifier, will: will, username: username, password: password,
            properties: properties, isBridge: isBridge)
    }
}
