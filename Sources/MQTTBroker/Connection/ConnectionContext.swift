import NIOCore

/// A thread-safe handle on one live connection, held by its session so that deliveries from
/// other event loops can find the loop to hop to.
///
/// The handler is held weakly: the channel pipeline owns it, and neither the session nor a
/// delivery in flight may keep a closed connection's handler (and through it the channel)
/// alive. The reference is read only on `eventLoop`, where the handler lives.
final class ConnectionContext: Sendable {
    let eventLoop: any EventLoop
    private nonisolated(unsafe) weak var weakHandler: ConnectionHandler?

    init(handler: ConnectionHandler, eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
        self.weakHandler = handler
    }

    /// The handler while its connection is open; call only on `eventLoop`.
    var handler: ConnectionHandler? {
        eventLoop.assertInEventLoop()
        return weakHandler
    }
}
