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

    /// Whose publications No Local keeps away (compare with `isClient`: by bytes).
    var clientIdentifier: String {
        switch self {
        case .session(let session): session.clientIdentifier
        case .inline(let subscriber): subscriber.clientIdentifier
        }
    }

    /// Whether this target is the client `identifier` names, byte for byte.
    func isClient(_ identifier: String?) -> Bool {
        guard let identifier else { return false }
        return clientIdentifier.hasSameBytes(as: identifier)
    }
}

/// Identifies one subscription within a filter: a subscriber may hold the same filter once
/// plainly and once per share group.
struct SubscriberKey: Sendable, Hashable {
    var subscriber: ObjectIdentifier
    /// By bytes: groups spelled with a composed and a decomposed "é" are two groups.
    var shareGroup: UTF8Key?

    init(subscriber: ObjectIdentifier, shareGroup: String?) {
        self.subscriber = subscriber
        self.shareGroup = shareGroup.map { UTF8Key($0) }
    }
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
