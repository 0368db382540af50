import NIOCore

/// PUBACK, PUBREC, PUBREL and PUBCOMP: the four acknowledgements of the QoS 1 and 2 flows,
/// which share one layout (packet identifier, then a v5 reason code and properties).
public struct PublishResponsePacket: Sendable, Hashable {
    public var packetIdentifier: UInt16
    public var reasonCode: ReasonCode
    public var properties: MQTTProperties

    public init(packetIdentifier: UInt16, reasonCode: ReasonCode = .success, properties: MQTTProperties = .none) {
        self.packetIdentifier = packetIdentifier
        self.reasonCode = reasonCode
        self.properties = properties
    }

    func bodyLength(version: ProtocolVersion) -> Int {
        guard version.hasProperties else { return 2 }
        if properties.isEmpty { return reasonCode == .success ? 2 : 3 }
        return 3 + properties.encodedLengthWithPrefix
    }

    func encodeBody(into buffer: inout ByteBuffer, version: ProtocolVersion) {
        buffer.writeInteger(packetIdentifier)
        guard version.hasProperties else { return }
        if properties.isEmpty {
            if reasonCode != .success { buffer.writeInteger(reasonCode.rawValue) }
            return
        }
        buffer.writeInteger(reasonCode.rawValue)
        properties.encode(into: &buffer)
    }

    static func decode(body: inout ByteBuffer, version: ProtocolVersion, type: PacketType) throws(MQTTProtocolError) -> PublishResponsePacket {
        let identifier = try readPacketIdentifier(from: &body, in: type)
        var packet = PublishResponsePacket(packetIdentifier: identifier)
        if version.hasProperties && body.readableBytes > 0 {
            packet.reasonCode = ReasonCode(rawValue: try body.readMQTTByte())
            guard type.allowsReasonCode(packet.reasonCode) else {
                throw .protocolViolation("\(type) with reason code \(packet.reasonCode), which it may not carry")
            }
            if body.readableBytes > 0 {
                packet.properties = try MQTTProperties.decode(from: &body, context: .publishResponse)
            }
        }
        try body.expectFullyRead(type)
        return packet
    }
}

extension PacketType {
    /// The reason codes MQTT 5 defines for each acknowledgement (§3.4.2.1, §3.5.2.1, §3.6.2.1,
    /// §3.7.2.1); another value is answered as a protocol error, as Mosquitto does.
    func allowsReasonCode(_ code: ReasonCode) -> Bool {
        switch self {
        case .puback, .pubrec:
            [ReasonCode.success, .noMatchingSubscribers, .unspecifiedError, .implementationSpecificError, .notAuthorized,
             .topicNameInvalid, .packetIdentifierInUse, .quotaExceeded, .payloadFormatInvalid].contains(code)
        case .pubrel, .pubcomp:
            code == .success || code == .packetIdentifierNotFound
        default:
            true
        }
    }
}
