import MQTTCore

/// Who receives messages for one subscription in the router's trie.
enum SubscriptionTarget: Sendable {
    case session(Session)
    case inline(InlineSubscriber)

    var identity: ObjectIdentifier {
        switch self {
        case .session(let session): ObjectIdentifier(session)
        case .inline(let subscriber): ObjectIdentifier(subscriber)
        }
    }

    /// Whose publications No Local keeps away.
    var clientIdentifier: String {
        switch self {
        case .session(let session): session.clientIdentifier
        case .inline(let subscriber): subscriber.clientIdentifier
        }
    }
}

/// Identifies one subscription within a filter: a subscriber may hold the same filter once
/// plainly and once per share group.
struct SubscriberKey: Sendable, Hashable {
    var subscriber: ObjectIdentifier
    var shareGroup: String?
}

/// One subscription as the router stores it under its (unshared) filter.
struct SubscriptionEntry: Sendable {
    var target: SubscriptionTarget
    var options: SubscriptionOptions
    var subscriptionIdentifier: Int?
    var shareGroup: String?
    /// The filter without any `$share` prefix, to tell shared subscriptions apart.
    var filter: String
}
