import NIOCore

/// UNSUBACK: v5 carries one reason code per filter; 3.1.1 only the packet identifier.
public struct UnsubAckPacket: Sendable, Hashable {
    public var packetIdentifier: UInt16
    public var reasonCodes: [ReasonCode]
    public var properties: MQTTProperties

    public init(packetIdentifier: UInt16, reasonCodes: [ReasonCode] = [], properties: MQTTProperties = .none) {
        self.packetIdentifier = packetIdentifier
        self.reasonCodes = reasonCodes
        self.properties = properties
    }
}

extension UnsubAckPacket: MQTTPacketCodable {
    static var packetType: PacketType { .unsuback }

    func bodyLength(version: ProtocolVersion) -> Int {
        version.hasProperties ? 2 + properties.encodedLengthWithPrefix + reasonCodes.count : 2
    }

    func encodeBody(into buffer: inout ByteBuffer, version: ProtocolVersion) {
        buffer.writeInteger(packetIdentifier)
        guard version.hasProperties else { return }
        properties.encode(into: &buffer)
        for code in reasonCodes { buffer.writeInteger(code.rawValue) }
    }

    static func decode(flags: UInt8, body: inout ByteBuffer, version: ProtocolVersion) throws(MQTTProtocolError) -> UnsubAckPacket {
        let identifier = try readPacketIdentifier(from: &body, in: .unsuback)
        guard version.hasProperties else {
            try body.expectFullyRead(.unsuback)
            return UnsubAckPacket(packetIdentifier: identifier)
        }
        let properties = try MQTTProperties.decode(from: &body, context: .unsuback)
        var codes: [ReasonCode] = []
        while body.readableBytes > 0 { codes.append(ReasonCode(rawValue: try body.readMQTTByte())) }
        return UnsubAckPacket(packetIdentifier: identifier, reasonCodes: codes, properties: properties)
    }
}
