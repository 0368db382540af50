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
}
