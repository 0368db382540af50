import NIOCore

/// A thread-safe handle on one live connection, held by its session so that deliveries from
/// other event loops can find the loop to hop to. The handler itself is only touched on that loop.
final class ConnectionContext: Sendable {
    let eventLoop: any EventLoop
    private let handler: NIOLoopBound<ConnectionHandler>

    init(handler: ConnectionHandler, channel: any Channel) {
        self.eventLoop = channel.eventLoop
        self.handler = NIOLoopBound(handler, eventLoop: channel.eventLoop)
    }

    /// The handler; call only on `eventLoop`.
    var loopBoundHandler: ConnectionHandler { handler.value }
}
