import NIOCore
import NIOWebSocket

/// Carries MQTT over an upgraded WebSocket (MQTT 5 §6): the payloads of binary frames, and of
/// their continuations, are the MQTT byte stream, whatever their boundaries; the broker's bytes
/// go out as binary frames. Answers pings, and a close with a close.
///
/// Sits between the WebSocket codec and the MQTT frame decoder on the channel's event loop.
final class WebSocketMQTTHandler: ChannelDuplexHandler {
    typealias InboundIn = WebSocketFrame
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = WebSocketFrame

    /// Whether the current message is binary (continuations follow the frame that began it).
    private var inBinaryMessage = false
    private var closing = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .binary:
            inBinaryMessage = !frame.fin
            context.fireChannelRead(wrapInboundOut(frame.unmaskedData))
        case .continuation:
            guard inBinaryMessage else { return close(context: context, code: .protocolError) }
            if frame.fin { inBinaryMessage = false }
            context.fireChannelRead(wrapInboundOut(frame.unmaskedData))
        case .text:
            // MQTT travels in binary frames only (MQTT 5 §6.0.0.1).
            close(context: context, code: .unacceptableData)
        case .ping:
            let pong = WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)
            context.writeAndFlush(wrapOutboundOut(pong), promise: nil)
        case .pong:
            break
        case .connectionClose:
            close(context: context, code: .normalClosure)
        default:
            close(context: context, code: .protocolError)
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let bytes = unwrapOutboundIn(data)
        context.write(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .binary, data: bytes)), promise: promise)
    }

    /// Half-closing the output (the MQTT handler lingers after a refusing CONNACK) becomes a
    /// WebSocket close frame, so the browser reads the reply before the socket goes.
    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if mode == .output, !closing {
            closing = true
            var payload = context.channel.allocator.buffer(capacity: 2)
            payload.write(webSocketErrorCode: .normalClosure)
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, data: payload)), promise: nil)
        }
        context.close(mode: mode, promise: promise)
    }

    private func close(context: ChannelHandlerContext, code: WebSocketErrorCode) {
        if !closing {
            closing = true
            var payload = context.channel.allocator.buffer(capacity: 2)
            payload.write(webSocketErrorCode: code)
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, data: payload)), promise: nil)
        }
        context.close(promise: nil)
    }
}
