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

    private let continuation: AsyncStream<Delivery>.Continuation
    let deliveries: AsyncStream<Delivery>

    init() {
        (deliveries, continuation) = AsyncStream.makeStream(of: Delivery.self)
    }

    func enqueue(_ delivery: Delivery) {
        continuation.yield(delivery)
    }

    func close() {
        continuation.finish()
    }
}
