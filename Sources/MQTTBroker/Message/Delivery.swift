import MQTTCore

/// One message on its way to one session, with what the matching subscriptions decided.
struct Delivery: Sendable {
    var message: ApplicationMessage
    /// min(published QoS, the highest granted QoS among the matching subscriptions).
    var qos: QoS
    /// The retain flag as the subscriber sees it (Retain As Published, or a retained message
    /// sent because of a SUBSCRIBE).
    var retain: Bool
    var subscriptionIdentifiers: [Int]
    /// A retained message sent because of a SUBSCRIBE: the state the client asked for, written
    /// however full the socket is (MQTT 5 §3.3.1.3), in order before anything published later.
    /// Live QoS 0 messages are dropped instead when a subscriber's socket is over its budget.
    var isRetainedOnSubscribe = false
}
