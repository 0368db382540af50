import NIOCore

/// SUBACK: one reason code per SUBSCRIBE entry (3.1.1: granted QoS or 0x80 failure).
public struct SubAckPacket: Sendable, Hashable {
    public var packetIdentifier: UInt16
    public var reasonCodes: [ReasonCode]
    public var properties: MQTTProperties

    public init(packetIdentifier: UInt16, reasonCodes: [ReasonCode], properties: MQTTProperties = .none) {
        self.packetIdentifier = packetIdentifier
        self.reasonCodes = reasonCodes
        self.properties = properties
    }
}

extension SubAckPacket: MQTTPacketCodable {
    static var packetType: PacketType { .suback }

    func bodyLength(version: ProtocolVersion) -> Int {
        2 + (version.hasProperties ? properties.encodedLengthWithPrefix : 0) + reasonCodes.count
    }

    func encodeBody(into buffer: inout ByteBuffer, version: ProtocolVersion) {
        buffer.writeInteger(packetIdentifier)
        if version.hasProperties { properties.encode(into: &buffer) }
        for code in reasonCodes {
            // 3.1.1 knows one failure code.
            buffer.writeInteger(version.hasProperties || !code.isFailure ? code.rawValue : 0x80)
        }
    }

    static func decode(flags: UInt8, body: inout ByteBuffer, version: ProtocolVersion) throws(MQTTProtocolError) -> SubAckPacket {
        let identifier = try readPacketIdentifier(from: &body, in: .suback)
        let properties = version.hasProperties ? try MQTTProperties.decode(from: &body, context: .suback) : .none
        var codes: [ReasonCode] = []
        while body.readableBytes > 0 { codes.append(ReasonCode(rawValue: try body.readMQTTByte())) }
        return SubAckPacket(packetIdentifier: identifier, reasonCodes: codes, properties: properties)
    }
}
