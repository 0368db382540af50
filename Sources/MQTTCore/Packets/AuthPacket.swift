import NIOCore

/// AUTH (v5 only): a step of extended authentication.
public struct AuthPacket: Sendable, Hashable {
    public var reasonCode: ReasonCode
    public var properties: MQTTProperties

    public init(reasonCode: ReasonCode = .success, properties: MQTTProperties = .none) {
        self.reasonCode = reasonCode
        self.properties = properties
    }
}

extension AuthPacket: MQTTPacketCodable {
    static var packetType: PacketType { .auth }

    func bodyLength(version: ProtocolVersion) -> Int {
        reasonCode == .success && properties.isEmpty ? 0 : 1 + properties.encodedLengthWithPrefix
    }

    func encodeBody(into buffer: inout ByteBuffer, version: ProtocolVersion) {
        guard !(reasonCode == .success && properties.isEmpty) else { return }
        buffer.writeInteger(reasonCode.rawValue)
        properties.encode(into: &buffer)
    }

    static func decode(flags: UInt8, body: inout ByteBuffer, version: ProtocolVersion) throws(MQTTProtocolError) -> AuthPacket {
        guard version.hasProperties else { throw .malformed("AUTH is not an MQTT \(version) packet") }
        var packet = AuthPacket()
        if body.readableBytes > 0 {
            packet.reasonCode = ReasonCode(rawValue: try body.readMQTTByte())
            if body.readableBytes > 0 { packet.properties = try MQTTProperties.decode(from: &body, context: .auth) }
        }
        try body.expectFullyRead(.auth)
        return packet
    }
}
