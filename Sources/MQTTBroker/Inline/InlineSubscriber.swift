import MQTTCore
import NIOCore

/// The receiving end of one inline subscription: the router yields into its stream.
///
/// Owned by the `InlineSubscription` the caller iterates; the router holds it through its
/// trie entry until the subscription is cancelled. `AsyncStream`'s continuation is thread-safe,
/// so deliveries need no hop and no lock here.
final class InlineSubscriber: Sendable {
    let continuation: AsyncStream<InlineMessage>.Continuation
    let core: BrokerCore
    /// The inline client that subscribed, for No Local.
    let clientIdentifier: String

    init(continuation: AsyncStream<InlineMessage>.Continuation, core: BrokerCore, clientIdentifier: String) {
        self.continuation = continuation
        self.core = core
        self.clientIdentifier = clientIdentifier
    }

    func receive(_ delivery: Delivery, now: NIODeadline) {
        guard !delivery.message.isExpired(at: now) else {
            core.reportDrop(delivery.message, for: clientIdentifier, reason: .expired)
            return
        }
        let message = InlineMessage(
            topic: delivery.message.topic, payload: delivery.message.payload, qos: delivery.qos, retain: delivery.retain,
            properties: delivery.message.outgoingProperties(at: now, subscriptionIdentifiers: delivery.subscriptionIdentifiers))
        if case .dropped = continuation.yield(message) {
            core.reportDrop(delivery.message, for: clientIdentifier, reason: .queueFull)
        }
    }
}
