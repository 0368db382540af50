import Logging
import NIOCore
import NIOPosix
import NIOWebSocket

/// Carries one browser's MQTT connection between its WebSocket and a TCP connection to the
/// broker, from the WebSocket's event loop, with no Swift task.
///
/// The broker connection is made on the same event loop, so the two sides call each other
/// directly. Each side reads only while the other can take more (backpressure both ways), and
/// either side ending ends both: the browser closed, or the broker closed the connection (a
/// refusal, a DISCONNECT, a protocol error).
///
/// State: owned by the event loop of both channels.
final class MQTTWebSocketRelayHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private let relay: MQTTWebSocketRelay
    private let logger: Logger
    private var context: ChannelHandlerContext?
    private var broker: (any Channel)?
    /// What the browser sent before the broker connection was up (a CONNECT that came with
    /// the upgrade request).
    private var early: [ByteBuffer] = []
    private var closing = false

    init(relay: MQTTWebSocketRelay, logger: Logger) {
        self.relay = relay
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        // Nothing is read from the browser until the broker is there to take it.
        try? context.channel.syncOptions?.setOption(.autoRead, value: false)
        let loop = context.eventLoop
        let me = NIOLoopBound(self, eventLoop: loop)
        ClientBootstrap(group: loop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(BrokerSide(relay: me))
                }
            }
            .connect(host: relay.host, port: relay.port)
            .whenComplete { result in
                switch result {
                case .success(let channel): me.value.connected(to: channel)
                case .failure(let error): me.value.brokerUnreachable(error)
                }
            }
    }

    private func connected(to channel: any Channel) {
        guard let context, context.channel.isActive, !closing else {
            channel.close(promise: nil)
            return
        }
        broker = channel
        for bytes in early { channel.write(bytes, promise: nil) }
        early = []
        channel.flush()
        context.channel.setOption(.autoRead, value: true).whenFailure { _ in }
        context.read()
    }

    private func brokerUnreachable(_ error: any Error) {
        logger.notice("chat: /mqtt could not reach the broker at \(relay.host):\(relay.port): \(error)")
        close(.unexpectedServerError, reason: "broker unreachable")
    }

    // MARK: From the browser

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        // MQTT travels in binary frames (MQTT 5 §6.0.0.1), possibly fragmented.
        case .binary, .continuation:
            if let broker {
                broker.write(frame.unmaskedData, promise: nil)
            } else if !closing {
                early.append(frame.unmaskedData)
            }
        case .ping:
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)), promise: nil)
        case .text:
            close(.unacceptableData, reason: "MQTT travels in binary frames")
        case .connectionClose:
            close(.normalClosure, reason: nil)
        default:
            break
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        broker?.flush()
        context.fireChannelReadComplete()
    }

    /// The browser reads again: so may the broker side.
    func channelWritabilityChanged(context: ChannelHandlerContext) {
        broker?.setOption(.autoRead, value: context.channel.isWritable).whenFailure { _ in }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        closing = true
        broker?.close(promise: nil)
        broker = nil
        self.context = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    // MARK: From the broker

    fileprivate func fromBroker(_ bytes: ByteBuffer) {
        context?.write(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .binary, data: bytes)), promise: nil)
    }

    fileprivate func brokerReadComplete() {
        context?.flush()
    }

    /// The broker reads again: so may the browser side.
    fileprivate func brokerWritabilityChanged(_ writable: Bool) {
        context?.channel.setOption(.autoRead, value: writable).whenFailure { _ in }
    }

    fileprivate func brokerClosed() {
        broker = nil
        close(.normalClosure, reason: nil)
    }

    /// Sends a close frame, then closes the WebSocket (and with it the broker side).
    private func close(_ code: WebSocketErrorCode, reason: String?) {
        guard let context, !closing else { return }
        closing = true
        let channel = context.channel
        let written = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(.close(code, reason: reason, allocator: channel.allocator)), promise: written)
        written.futureResult.whenComplete { _ in channel.close(promise: nil) }
    }
}

/// The relay's broker connection: bytes from the broker go to the browser as binary frames.
private final class BrokerSide: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let relay: NIOLoopBound<MQTTWebSocketRelayHandler>

    init(relay: NIOLoopBound<MQTTWebSocketRelayHandler>) {
        self.relay = relay
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        relay.value.fromBroker(unwrapInboundIn(data))
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        relay.value.brokerReadComplete()
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        relay.value.brokerWritabilityChanged(context.channel.isWritable)
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        relay.value.brokerClosed()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
