import MQTTCore

/// One subscription of a session, as the session remembers it for resubscription and counting.
public struct SessionSubscription: Sendable, Hashable {
    public var options: SubscriptionOptions
    public var subscriptionIdentifier: Int?

    public init(options: SubscriptionOptions, subscriptionIdentifier: Int? = nil) {
        self.options = options
        self.subscriptionIdentifier = subscriptionIdentifier
    }
}
