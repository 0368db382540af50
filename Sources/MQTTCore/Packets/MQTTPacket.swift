import NIOCore

/// Any MQTT control packet. One case per packet so that handlers switch exhaustively.
public enum MQTTPacket: Sendable, Hashable {
    case connect(ConnectPacket)
    case connack(ConnAckPacket)
    case publish(PublishPacket)
    case puback(PublishResponsePacket)
    case pubrec(PublishResponsePacket)
    case pubrel(PublishResponsePacket)
    case pubcomp(PublishResponsePacket)
    case subscribe(SubscribePacket)
    case suback(SubAckPacket)
    case unsubscribe(UnsubscribePacket)
    case unsuback(UnsubAckPacket)
    case pingreq
    case pingresp
    case disconnect(DisconnectPacket)
    case auth(AuthPacket)

    public var type: PacketType {
        switch self {
        case .connect: .connect
        case .connack: .connack
        case .publish: .publish
        case .puback: .puback
        case .pubrec: .pubrec
        case .pubrel: .pubrel
        case .pubcomp: .pubcomp
        case .subscribe: .subscribe
        case .suback: .suback
        case .unsubscribe: .unsubscribe
        case .unsuback: .unsuback
        case .pingreq: .pingreq
        case .pingresp: .pingresp
        case .disconnect: .disconnect
        case .auth: .auth
        }
    }
}

extension MQTTPacket {
    /// Decodes one framed packet. `version` is the connection's protocol version; a CONNECT
    /// carries its own.
    public static func decode(_ frame: MQTTFrame, version: ProtocolVersion) throws(MQTTProtocolError) -> MQTTPacket {
        let typeNibble = frame.firstByte >> 4
        let flags = frame.firstByte & 0x0F
        // "Forbidden" (MQTT 5 §2.1.2): the packet parses, it just may not be sent, so a
        // protocol error, as Mosquitto answers.
        guard let type = PacketType(rawValue: typeNibble) else { throw .protocolViolation("packet type 0, which is forbidden") }
        // PUBLISH flags carry meaning; CONNECT's are checked once its protocol is known (MQTT
        // 3.1 did not reserve them).
        if type != .publish && type != .connect && flags != type.requiredFlags {
            throw .malformed("\(type) with reserved flag bits 0x\(String(flags, radix: 16))")
        }
        var body = frame.body
        switch type {
        case .connect: return .connect(try ConnectPacket.decode(flags: flags, body: &body, version: version))
        case .connack: return .connack(try ConnAckPacket.decode(flags: flags, body: &body, version: version))
        case .publish: return .publish(try PublishPacket.decode(flags: flags, body: &body, version: version))
        case .puback: return .puback(try PublishResponsePacket.decode(body: &body, version: version, type: type))
        case .pubrec: return .pubrec(try PublishResponsePacket.decode(body: &body, version: version, type: type))
        case .pubrel: return .pubrel(try PublishResponsePacket.decode(body: &body, version: version, type: type))
        case .pubcomp: return .pubcomp(try PublishResponsePacket.decode(body: &body, version: version, type: type))
        case .subscribe: return .subscribe(try SubscribePacket.decode(flags: flags, body: &body, version: version))
        case .suback: return .suback(try SubAckPacket.decode(flags: flags, body: &body, version: version))
        case .unsubscribe: return .unsubscribe(try UnsubscribePacket.decode(flags: flags, body: &body, version: version))
        case .unsuback: return .unsuback(try UnsubAckPacket.decode(flags: flags, body: &body, version: version))
        case .pingreq:
            try body.expectFullyRead(.pingreq)
            return .pingreq
        case .pingresp:
            try body.expectFullyRead(.pingresp)
            return .pingresp
        case .disconnect: return .disconnect(try DisconnectPacket.decode(flags: flags, body: &body, version: version))
        case .auth: return .auth(try AuthPacket.decode(flags: flags, body: &body, version: version))
        }
    }

    private var flagsAndBody: (flags: UInt8, length: (ProtocolVersion) -> Int, write: (inout ByteBuffer, ProtocolVersion) -> Void) {
        func parts<P: MQTTPacketCodable>(_ packet: P) -> (UInt8, (ProtocolVersion) -> Int, (inout ByteBuffer, ProtocolVersion) -> Void) {
            (packet.fixedHeaderFlags, packet.bodyLength(version:), packet.encodeBody(into:version:))
        }
        func response(_ packet: PublishResponsePacket, _ type: PacketType) -> (UInt8, (ProtocolVersion) -> Int, (inout ByteBuffer, ProtocolVersion) -> Void) {
            (type.requiredFlags, packet.bodyLength(version:), packet.encodeBody(into:version:))
        }
        switch self {
        case .connect(let packet): return parts(packet)
        case .connack(let packet): return parts(packet)
        case .publish(let packet): return parts(packet)
        case .puback(let packet): return response(packet, .puback)
        case .pubrec(let packet): return response(packet, .pubrec)
        case .pubrel(let packet): return response(packet, .pubrel)
        case .pubcomp(let packet): return response(packet, .pubcomp)
        case .subscribe(let packet): return parts(packet)
        case .suback(let packet): return parts(packet)
        case .unsubscribe(let packet): return parts(packet)
        case .unsuback(let packet): return parts(packet)
        case .pingreq, .pingresp: return (0, { _ in 0 }, { _, _ in })
        case .disconnect(let packet): return parts(packet)
        case .auth(let packet): return parts(packet)
        }
    }

    /// The whole packet's size on the wire, to compare with a peer's Maximum Packet Size.
    public func encodedSize(version: ProtocolVersion) -> Int {
        let bodyLength = flagsAndBody.length(version)
        return 1 + MQTTSize.variableByteInteger(bodyLength) + bodyLength
    }

    /// Appends the packet to `buffer`, sized once up front.
    public func encode(into buffer: inout ByteBuffer, version: ProtocolVersion) {
        let parts = flagsAndBody
        let bodyLength = parts.length(version)
        buffer.reserveCapacity(minimumWritableBytes: 5 + bodyLength)
        buffer.writeInteger((type.rawValue << 4) | parts.flags)
        buffer.writeMQTTVariableByteInteger(bodyLength)
        parts.write(&buffer, version)
    }

    /// The packet encoded into a new buffer.
    public func encoded(version: ProtocolVersion, allocator: ByteBufferAllocator = ByteBufferAllocator()) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 0)
        encode(into: &buffer, version: version)
        return buffer
    }
}
