import NIOCore
import NIOWebSocket

extension WebSocketFrame {
    /// A close frame saying `code` and, if given, why (RFC 6455 §5.5.1).
    static func close(_ code: WebSocketErrorCode, reason: String? = nil, allocator: ByteBufferAllocator) -> WebSocketFrame {
        var data = allocator.buffer(capacity: 2 + (reason?.utf8.count ?? 0))
        data.write(webSocketErrorCode: code)
        if let reason { data.writeString(reason) }
        return WebSocketFrame(fin: true, opcode: .connectionClose, data: data)
    }
}
