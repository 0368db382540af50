import MQTTCore

/// Messages matching one inline subscription, in the order the broker routed them.
///
/// The subscription ends when `cancel()` is called or the sequence is dropped; its buffer holds
/// at most `max_queued_messages` messages (1,000 when unlimited) and the newest overflow is dropped.
public struct InlineSubscription: AsyncSequence, Sendable {
    public typealias Element = InlineMessage

    let stream: AsyncStream<InlineMessage>
    let subscriber: InlineSubscriber
    let fullFilter: String

    public func makeAsyncIterator() -> AsyncStream<InlineMessage>.AsyncIterator { stream.makeAsyncIterator() }

    /// Stops the subscription; iteration then finishes.
    public func cancel() {
        subscriber.core.router.unsubscribe(ObjectIdentifier(subscriber), filter: fullFilter)
        subscriber.continuation.finish()
    }
}
