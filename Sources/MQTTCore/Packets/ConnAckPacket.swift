import NIOCore

/// CONNACK: the broker's answer to CONNECT.
public struct ConnAckPacket: Sendable, Hashable {
    public var sessionPresent: Bool
    /// The v5 reason; a 3.1.1 return code is mapped to and from it.
    public var reasonCode: ReasonCode
    public var properties: MQTTProperties

    public init(sessionPresent: Bool = false, reasonCode: ReasonCode = .success, properties: MQTTProperties = .none) {
        self.sessionPresent = sessionPresent
        self.reasonCode = reasonCode
        self.properties = properties
    }
}

extension ConnAckPacket: MQTTPacketCodable {
    static var packetType: PacketType { .connack }

    func bodyLength(version: ProtocolVersion) -> Int {
        2 + (version.hasProperties ? properties.encodedLengthWithPrefix : 0)
    }

    func encodeBody(into buffer: inout ByteBuffer, version: ProtocolVersion) {
        // MQTT 3.1 has no Session Present flag: its first CONNACK byte is reserved and unused.
        buffer.writeInteger(UInt8(sessionPresent && version > .v3_1 ? 1 : 0))
        if version.hasProperties {
            buffer.writeInteger(reasonCode.rawValue)
            properties.encode(into: &buffer)
        } else {
            buffer.writeInteger(reasonCode.connectReturnCodeV3)
        }
    }

    static func decode(flags: UInt8, body: inout ByteBuffer, version: ProtocolVersion) throws(MQTTProtocolError) -> ConnAckPacket {
        let acknowledgeFlags = try body.readMQTTByte()
        guard acknowledgeFlags & 0xFE == 0 else { throw .malformed("CONNACK reserved flags set") }
        let code = try body.readMQTTByte()
        let reason = version.hasProperties ? ReasonCode(rawValue: code) : ReasonCode.fromConnectReturnCodeV3(code)
        let properties = version.hasProperties ? try MQTTProperties.decode(from: &body, context: .connack) : .none
        try body.expectFullyRead(.connack)
        return ConnAckPacket(sessionPresent: acknowledgeFlags & 1 != 0, reasonCode: reason, properties: properties)
    }
}
