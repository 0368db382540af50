import NIOCore

extension ByteBuffer {
    /// Appends `payload` as one unmasked, final text frame (RFC 6455 §5.2), as a server sends
    /// it. NIO's encoder writes a frame as its own buffers; frames encoded here can share one.
    mutating func writeTextFrame(_ payload: ByteBuffer) {
        let length = payload.readableBytes
        writeInteger(UInt8(0x81))
        switch length {
        case ..<126:
            writeInteger(UInt8(length))
        case ..<65536:
            writeInteger(UInt8(126))
            writeInteger(UInt16(length))
        default:
            writeInteger(UInt8(127))
            writeInteger(UInt64(length))
        }
        writeImmutableBuffer(payload)
    }
}
