import NIOCore
import NIOEmbedded
import NIOWebSocket
import Testing

@testable import ChatService

/// Text frames the chat encodes itself read back as the same frames through NIO's decoder, at
/// every length form of RFC 6455 §5.2.
@Suite struct WebSocketFrameEncodingTests {
    @Test(arguments: [0, 1, 125, 126, 127, 65535, 65536, 70000])
    func aTextFrameReadsBackWithItsPayload(length: Int) throws {
        let payload = ByteBuffer(repeating: UInt8(ascii: "a") + UInt8(length % 26), count: length)
        var encoded = ByteBuffer()
        encoded.writeTextFrame(payload)
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(WebSocketFrameDecoder(maxFrameSize: 1 << 20)))
        try channel.writeInbound(encoded)
        let frame = try #require(try channel.readInbound(as: WebSocketFrame.self))
        #expect(frame.fin && frame.opcode == .text && frame.maskKey == nil)
        #expect(frame.data == payload)
        #expect(try channel.readInbound(as: WebSocketFrame.self) == nil)
        _ = try channel.finish()
    }

    @Test func framesSharingABufferReadBackInOrder() throws {
        var encoded = ByteBuffer()
        for text in ["one", String(repeating: "two", count: 100), "three"] { encoded.writeTextFrame(ByteBuffer(string: text)) }
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(WebSocketFrameDecoder(maxFrameSize: 1 << 20)))
        try channel.writeInbound(encoded)
        var texts: [String] = []
        while let frame = try channel.readInbound(as: WebSocketFrame.self) { texts.append(String(buffer: frame.data)) }
        #expect(texts == ["one", String(repeating: "two", count: 100), "three"])
        _ = try channel.finish()
    }
}
