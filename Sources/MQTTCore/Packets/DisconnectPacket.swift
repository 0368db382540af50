import NIOCore

/// DISCONNECT: sent by a client to end cleanly, and in v5 also by the broker with the reason.
public struct DisconnectPacket: Sendable, Hashable {
    public var reasonCode: ReasonCode
    public var properties: MQTTProperties

    public init(reasonCode: ReasonCode = .normalDisconnection, properties: MQTTProperties = .none) {
        self.reasonCode = reasonCode
        self.properties = properties
    }
}

extension DisconnectPacket: MQTTPacketCodable {
    static var packetType: PacketType { .disconnect }

    func bodyLength(version: ProtocolVersion) -> Int {
        guard version.hasProperties else { return 0 }
        if properties.isEmpty { return reasonCode == .normalDisconnection ? 0 : 1 }
        return 1 + properties.encodedLengthWithPrefix
    }

    func encodeBody(into buffer: inout ByteBuffer, version: ProtocolVersion) {
        guard version.hasProperties else { return }
        if properties.isEmpty {
            if reasonCode != .normalDisconnection { buffer.writeInteger(reasonCode.rawValue) }
            return
        }
        buffer.writeInteger(reasonCode.rawValue)
        properties.encode(into: &buffer)
    }

    static func decode(flags: UInt8, body: inout ByteBuffer, version: ProtocolVersion) throws(MQTTProtocolError) -> DisconnectPacket {
        var packet = DisconnectPacket()
        if version.hasProperties && body.readableBytes > 0 {
            packet.reasonCode = ReasonCode(rawValue: try body.readMQTTByte())
            if body.readableBytes > 0 { packet.properties = try MQTTProperties.decode(from: &body, context: .disconnect) }
        }
        try body.expectFullyRead(.disconnect)
        return packet
    }
}
