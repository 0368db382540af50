/// One session's queue of deliveries, drained in order by the session's own task.
///
/// Owned by the hub's session record. Each session has its own task, so a slow or throwing
/// handler delays only its own session's later messages, never another session's.
final class SessionMailbox: Sendable {
    /// Which subscriptions of the session a delivery is for.
    enum Channel: Sendable, Hashable {
        case global
        /// A topic subscription, by its MQTT filter.
        case topic(filter: String)
    }

    struct Delivery: Sendable {
        var channel: Channel
        var message: PubSubMessage
    }

    enum Item: Sendable {
        case delivery(Delivery)
        /// Reached once everything queued before it has been handled.
        case barrier(CheckedContinuation<Void, Never>)
    }

    private let continuation: AsyncStream<Item>.Continuation
    let items: AsyncStream<Item>

    init() {
        (items, continuation) = AsyncStream.makeStream(of: Item.self)
    }

    func enqueue(_ delivery: Delivery) {
        continuation.yield(.delivery(delivery))
    }

    /// Waits until the session's task has handled everything queued so far (returns at once if
    /// the mailbox is closed).
    func settle() async {
        await withCheckedContinuation { waiter in
            if case .terminated = continuation.yield(.barrier(waiter)) { waiter.resume() }
        }
    }

    func close() {
        continuation.finish()
    }
}
