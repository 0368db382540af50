import NIOCore
import NIOWebSocket

/// Serves one page session's WebSocket from its connection's event loop, with no Swift task of
/// its own.
///
/// A page served as a task keeps that task's stack for as long as it is open: about 24 KiB
/// of async frames from the HTTP server down to the WebSocket reader, the bulk of a page's
/// memory when thousands are open. Here frames are read and written by this handler; a task
/// exists only while one of the page's commands waits on the broker, and while it says
/// goodbye.
///
/// State: all of it is owned by the channel's event loop. Inputs from other tasks (PubSub
/// hand-offs, who is online) reach it through the loop's `ChatLoopInbox` and `route`, which is
/// emptied when the page's session ends, so late inputs are dropped and the session stops
/// referring to this handler.
final class ChatPageHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private enum Phase {
        case open
        /// This side sent its close frame and waits for the page's.
        case closing
        case closed
    }

    private let service: ChatService
    private var session: ChatPageSession?
    private var route: NIOLoopBoundBox<ChatPageHandler?>?
    private var context: ChannelHandlerContext?
    /// Where encoded text frames are written: past the WebSocket frame encoder, so a batch of
    /// them is one buffer (and one entry in NIO's pending writes, which keeps its largest size).
    private var encodedOutput: ChannelHandlerContext?
    /// Text frames encoded since the last flush, written to `encodedOutput` as one buffer;
    /// nil when nothing waits to be flushed.
    private var encoded: ByteBuffer?
    private var backlog: ChatPageBacklog<ChatPageSession.Input>
    private var phase = Phase.open
    /// A command is waiting on the broker: later inputs wait behind it, in order.
    private var commandRunning = false

    init(service: ChatService) {
        self.service = service
        backlog = ChatPageBacklog(limit: service.configuration.sessionBufferLimit)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        // NIO's upgrader puts the encoder before the page's handlers; without it nothing
        // could be written.
        guard let encoder = try? context.pipeline.syncOperations.context(handlerType: WebSocketFrameEncoder.self) else {
            context.close(promise: nil)
            return
        }
        encodedOutput = encoder
        let loop = context.eventLoop
        let route = NIOLoopBoundBox<ChatPageHandler?>(self, eventLoop: loop)
        self.route = route
        let inbox = service.inbox(for: loop)
        let session = ChatPageSession(service: service) { input in inbox.deliver(input, to: route) }
        self.session = session
        service.pageWatch.withLock { $0 }?(session)
        service.opened(page: session.id) {
            loop.execute { route.value?.goAway(.goingAway, reason: "The chat server is stopping.") }
        }
        if !context.channel.isActive { pageClosed() }
    }

    // MARK: Frames from the page

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .text, .binary:
            let limit = service.configuration.maximumFrameSize
            guard frame.length <= limit else {
                return goAway(.messageTooLarge, reason: "Chat commands are at most \(limit) bytes.")
            }
            guard frame.opcode == .text else {
                enqueue(.binaryFrame)
                return
            }
            let payload = frame.unmaskedData
            guard let text = String(validating: payload.readableBytesView, as: UTF8.self) else {
                return goAway(.dataInconsistentWithMessage, reason: "Text frames must be UTF-8.")
            }
            enqueue(.frame(text))
        case .ping:
            guard phase == .open else { return }
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)), promise: nil)
        case .connectionClose:
            answerClose(frame, context: context)
        default:
            break
        }
    }

    /// The page closes: an answer to this side's close ends the connection; a close of its own
    /// is echoed first (RFC 6455 §5.5.1).
    private func answerClose(_ frame: WebSocketFrame, context: ChannelHandlerContext) {
        let channel = context.channel
        guard phase == .open else {
            channel.close(promise: nil)
            return
        }
        phase = .closing
        backlog.removeAll()
        var data = frame.unmaskedData
        let echo = data.readWebSocketErrorCode().map { WebSocketFrame.close($0, allocator: channel.allocator) }
            ?? WebSocketFrame(fin: true, opcode: .connectionClose, data: ByteBuffer())
        let written = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(echo), promise: written)
        written.futureResult.whenComplete { _ in channel.close(promise: nil) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if error is NIOWebSocketFrameAggregator.Error {
            let limit = service.configuration.maximumFrameSize
            goAway(.messageTooLarge, reason: "Chat commands are at most \(limit) bytes, in at most 16 fragments.")
        } else {
            session?.logger.debug("chat: page connection failed: \(error)")
            context.close(promise: nil)
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            drain()
            flush()
        }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        pageClosed()
        context.fireChannelInactive()
    }

    private func pageClosed() {
        guard phase != .closed else { return }
        phase = .closed
        backlog.removeAll()
        if !commandRunning { endSession() }
    }

    // MARK: Inputs

    /// Takes `input` in order: at once when nothing waits before it, else behind the backlog.
    /// With `flush` false the caller flushes later (`flush()`), so the frames of a hand-over
    /// of many inputs go out as one buffer; the result says whether this input left frames to
    /// flush that none before it had.
    @discardableResult
    func enqueue(_ input: ChatPageSession.Input, flush: Bool = true) -> Bool {
        guard phase == .open, let context else { return false }
        let before = encoded != nil
        if backlog.isEmpty, !commandRunning, context.channel.isWritable {
            take(input)
        } else if !backlog.append(input) {
            session?.logger.notice("chat: a page fell \(backlog.limit) events behind; closing it")
            goAway(.policyViolation, reason: "This page fell too far behind the conversation; reload it to continue.")
            return false
        }
        if flush { self.flush() }
        return encoded != nil && !before
    }

    /// Sends the frames written since the last flush.
    func flush() {
        guard let context, encoded != nil else { return }
        writeEncoded()
        context.flush()
    }

    /// Handles inputs that wait, in order, while the socket takes more and no command is
    /// running. A page whose socket stays full lets its backlog grow until `enqueue` drops it.
    private func drain() {
        guard let context else { return }
        while phase == .open, !commandRunning, context.channel.isWritable, let input = backlog.popFirst() {
            take(input)
        }
    }

    private func take(_ input: ChatPageSession.Input) {
        guard let session, let context else { return }
        switch session.step(for: input) {
        case .write(let frame):
            write(frame)
        case .skip:
            break
        case .command(let text):
            run(text, in: session, on: context.eventLoop)
        }
    }

    /// Adds a text frame to the buffer `flush` writes.
    private func write(_ frame: ByteBuffer) {
        guard let context else { return }
        if encoded == nil { encoded = context.channel.allocator.buffer(capacity: frame.readableBytes + 10) }
        encoded!.writeTextFrame(frame)
    }

    private func writeEncoded() {
        guard let buffer = encoded, let encodedOutput else { return }
        encoded = nil
        encodedOutput.write(NIOAny(buffer), promise: nil)
    }

    private func run(_ command: String, in session: ChatPageSession, on loop: any EventLoop) {
        commandRunning = true
        guard let route else { return }
        Task {
            let frames = await session.perform(command)
            loop.execute { route.value?.finished(command: frames) }
        }
    }

    private func finished(command frames: [ByteBuffer]) {
        commandRunning = false
        guard phase != .closed else { return endSession() }
        guard phase == .open else { return }
        for frame in frames { write(frame) }
        drain()
        flush()
    }

    // MARK: Closing

    /// Tells the page why in a close frame and closes the connection once the page answered,
    /// or a second after the frame reached the socket, or after 5 s of a socket that does not
    /// drain.
    private func goAway(_ code: WebSocketErrorCode, reason: String) {
        guard let context, phase == .open else { return }
        phase = .closing
        backlog.removeAll()
        writeEncoded()
        let channel = context.channel
        let loop = context.eventLoop
        let written = loop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(.close(code, reason: reason, allocator: channel.allocator)), promise: written)
        written.futureResult.whenComplete { _ in
            loop.scheduleTask(in: .seconds(1)) { channel.close(promise: nil) }
        }
        loop.scheduleTask(in: .seconds(5)) { channel.close(promise: nil) }
    }

    /// The page has gone: its session says goodbye in its room, in a task of its own, and
    /// only then counts as closed (a stopping server waits for that before leaving the broker).
    private func endSession() {
        route?.value = nil
        route = nil
        context = nil
        encodedOutput = nil
        encoded = nil
        guard let session else { return }
        let service = self.service
        Task {
            await session.end()
            service.closed(page: session.id)
        }
    }
}
