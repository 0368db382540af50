import NIOCore

/// What every packet struct provides so that `MQTTPacket` can frame it: the body's size is
/// computed first so a packet is written in one pass into a buffer of the right capacity.
protocol MQTTPacketCodable: Sendable {
    static var packetType: PacketType { get }
    /// The low nibble of the fixed header's first byte.
    var fixedHeaderFlags: UInt8 { get }
    func bodyLength(version: ProtocolVersion) -> Int
    func encodeBody(into buffer: inout ByteBuffer, version: ProtocolVersion)
    /// Decodes a body whose fixed-header flags have already been checked where they are fixed.
    static func decode(flags: UInt8, body: inout ByteBuffer, version: ProtocolVersion) throws(MQTTProtocolError) -> Self
}

extension MQTTPacketCodable {
    var fixedHeaderFlags: UInt8 { Self.packetType.requiredFlags }
}

extension ByteBuffer {
    /// Fails a decode when bytes remain after the last field a packet defines.
    func expectFullyRead(_ type: PacketType) throws(MQTTProtocolError) {
        guard readableBytes == 0 else { throw .malformed("\(readableBytes) unexpected bytes at the end of \(type)") }
    }
}

/// Reads a non-zero packet identifier (MQTT 5 §2.2.1).
func readPacketIdentifier(from body: inout ByteBuffer, in type: PacketType) throws(MQTTProtocolError) -> UInt16 {
    let identifier = try body.readMQTTUInt16()
    // MQTT-2.2.1-3 forbids 0 without naming the fault; Mosquitto answers a protocol error.
    guard identifier != 0 else { throw .protocolViolation("\(type) with packet identifier 0") }
    return identifier
}
