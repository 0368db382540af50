import NIOCore

/// Cuts a byte stream into packet frames without interpreting them.
///
/// The remaining length is checked against `maximumPacketSize` as soon as it has been read, so
/// an oversized packet is refused before its body is buffered. Interpreting the body is left to
/// `MQTTPacket.decode`, which needs the connection's protocol version.
public struct MQTTFrameDecoder: NIOSingleStepByteToMessageDecoder {
    public typealias InboundOut = MQTTFrame

    /// The largest whole packet accepted (fixed header included).
    public var maximumPacketSize: Int

    public init(maximumPacketSize: Int = MQTTLimits.maximumPacketSize) {
        self.maximumPacketSize = maximumPacketSize
    }

    public mutating func decode(buffer: inout ByteBuffer) throws -> MQTTFrame? {
        guard let firstByte = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else { return nil }
        switch buffer.peekVariableByteInteger(at: 1) {
        case .incomplete:
            return nil
        case .tooLong:
            throw MQTTProtocolError.malformed("remaining length longer than 4 bytes")
        case .complete(let remainingLength, let lengthBytes):
            let packetSize = 1 + lengthBytes + remainingLength
            guard packetSize <= maximumPacketSize else {
                throw MQTTProtocolError.packetTooLarge(size: packetSize, limit: maximumPacketSize)
            }
            guard buffer.readableBytes >= packetSize else { return nil }
            buffer.moveReaderIndex(forwardBy: 1 + lengthBytes)
            return MQTTFrame(firstByte: firstByte, body: buffer.readSlice(length: remainingLength)!)
        }
    }

    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> MQTTFrame? {
        try decode(buffer: &buffer)
    }
}
