import NIOCore

/// One packet's bytes as framed off the wire: the fixed header's first byte and the body.
public struct MQTTFrame: Sendable, Hashable {
    public var firstByte: UInt8
    public var body: ByteBuffer

    public init(firstByte: UInt8, body: ByteBuffer) {
        self.firstByte = firstByte
        self.body = body
    }

    /// The frame's size on the wire, fixed header included.
    public var encodedSize: Int {
        1 + MQTTSize.variableByteInteger(body.readableBytes) + body.readableBytes
    }
}
