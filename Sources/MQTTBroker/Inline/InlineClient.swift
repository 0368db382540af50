import MQTTCore
import NIOCore

/// Publishes and subscribes inside the hosting program, without a socket.
///
/// Messages go through the same router as network clients, so MQTT clients see inline
/// publishes and inline subscriptions see theirs, at every QoS and with `$share`. Delivery
/// in-process cannot be lost in transit, so a QoS 1 or 2 publish completes once routed.
public struct InlineClient: Sendable {
    let core: BrokerCore
    /// The identity hooks see for inline publishes.
    public let clientIdentifier: String

    init(core: BrokerCore, clientIdentifier: String) {
        self.core = core
        self.clientIdentifier = clientIdentifier
    }

    private var info: ClientInfo {
        ClientInfo(clientIdentifier: clientIdentifier, username: nil, protocolVersion: .v5, remoteAddress: nil)
    }

    /// Publishes a message; returns how many subscribers it was routed to. Over `memory_limit`
    /// it throws Quota Exceeded (0x97), as MQTT 5 publishers are told: a caller that can wait
    /// (a bridge) tries again later, and its own source holds the message meanwhile.
    @discardableResult
    public func publish(
        _ topic: String, payload: ByteBuffer, qos: QoS = .atMostOnce, retain: Bool = false, properties: MQTTProperties = .none
    ) throws(MQTTProtocolError) -> Int {
        try TopicValidation.validateTopicName(topic)
        if core.memoryExceeded.load(ordering: .relaxed) && !BrokerCore.isBrokerOwned(topic) {
            core.statistics.publishDropped.add(1, ordering: .relaxed)
            core.statistics.droppedOverMemoryLimit.add(1, ordering: .relaxed)
            throw MQTTProtocolError(.quotaExceeded, "the broker is over its memory_limit")
        }
        return route(topic, payload: payload, qos: qos, retain: retain, properties: properties)
    }

    /// Publishes a retained status that replaces the topic's last one, such as a bridge's link
    /// state. It holds no more memory than the status it replaces, so it goes out even over
    /// `memory_limit`, where a stale "0" or "1" would tell watchers the opposite of the truth.
    @discardableResult
    public func publishStatus(_ topic: String, _ text: String) throws(MQTTProtocolError) -> Int {
        try TopicValidation.validateTopicName(topic)
        return route(topic, payload: ByteBuffer(string: text), qos: .atLeastOnce, retain: true, properties: .none)
    }

    private func route(_ topic: String, payload: ByteBuffer, qos: QoS, retain: Bool, properties: MQTTProperties) -> Int {
        var properties = properties
        let expiresAt = properties.messageExpiryInterval.map { NIODeadline.now() + .seconds(Int64($0)) }
        properties.messageExpiryInterval = nil
        properties.topicAlias = nil
        properties.subscriptionIdentifiers = []
        let message = ApplicationMessage(
            topic: topic, payload: payload, qos: qos, retain: retain && core.configuration.retainAvailable,
            properties: properties, expiresAt: expiresAt, publisherClientIdentifier: clientIdentifier)
        return core.publish(message, from: info)
    }

    /// Publishes UTF-8 text.
    @discardableResult
    public func publish(_ topic: String, _ text: String, qos: QoS = .atMostOnce, retain: Bool = false) throws(MQTTProtocolError) -> Int {
        try publish(topic, payload: ByteBuffer(string: text), qos: qos, retain: retain)
    }

    /// Subscribes to `filter` (wildcards and `$share/group/...` allowed). Retained messages
    /// matching a non-shared filter arrive first, as for network clients.
    public func subscribe(_ filter: String, qos: QoS = .exactlyOnce) throws(MQTTProtocolError) -> InlineSubscription {
        try subscribe(filter, options: SubscriptionOptions(qos: qos))
    }

    /// Subscribes with MQTT 5 options: No Local skips this inline client's own publishes (a
    /// bridge forwarding both ways needs that), Retain As Published keeps their retain flag.
    /// At most `queueLimit` messages wait for the reader (default `max_queued_messages`, or
    /// 1,000 when that is unlimited); beyond it the newest are dropped and counted.
    public func subscribe(
        _ filter: String, options: SubscriptionOptions, queueLimit: Int? = nil
    ) throws(MQTTProtocolError) -> InlineSubscription {
        try TopicValidation.validateTopicFilter(filter)
        let limit = queueLimit ?? (core.configuration.maxQueuedMessages == 0 ? 1000 : core.configuration.maxQueuedMessages)
        let (stream, continuation) = AsyncStream.makeStream(of: InlineMessage.self, bufferingPolicy: .bufferingOldest(limit))
        let subscriber = InlineSubscriber(continuation: continuation, core: core, clientIdentifier: clientIdentifier)
        core.router.subscribe(.inline(subscriber), filter: filter, options: options, subscriptionIdentifier: nil)
        let core = self.core
        continuation.onTermination = { _ in
            core.router.unsubscribe(ObjectIdentifier(subscriber), filter: filter)
        }
        if SharedSubscription(filter) == nil && options.retainHandling != .doNotSend {
            let now = NIODeadline.now()
            for message in core.retainedStore.retainedMessages(matching: filter) {
                subscriber.receive(
                    Delivery(message: message, qos: min(message.qos, options.qos), retain: true, subscriptionIdentifiers: []), now: now)
            }
        }
        return InlineSubscription(stream: stream, subscriber: subscriber, fullFilter: filter)
    }
}
