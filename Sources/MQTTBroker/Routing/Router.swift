import MQTTCore
import Synchronization

/// Every subscription in the broker, and the matching of a topic against them.
///
/// Owned by `Broker`. The trie is a value type behind a mutex; `route` holds the lock only to
/// walk the trie and pick shared-subscription members, and returns plain values: the caller
/// talks to sessions after the lock is gone.
final class Router: Sendable {
    /// Fixed at start: one delivery per matching subscription instead of one per subscriber.
    private let copyPerSubscription: Bool

    init(copyPerSubscription: Bool = false) {
        self.copyPerSubscription = copyPerSubscription
    }

    private struct State: Sendable {
        var trie = SubscriptionTrie<SubscriberKey, SubscriptionEntry>()
        /// Round-robin position per shared subscription (`group` + NUL + filter).
        var shareCursors: [UTF8Key: Int] = [:]
        /// Members per shared subscription, so that its cursor goes with its last member.
        var shareMembers: [UTF8Key: Int] = [:]

        mutating func remove(_ key: SubscriberKey, filter: String) -> Bool {
            guard trie.remove(key: key, filter: filter) != nil else { return false }
            if let group = key.shareGroup?.string {
                let share = Router.shareKey(group: group, filter: filter)
                if let members = shareMembers[share], members > 1 {
                    shareMembers[share] = members - 1
                } else {
                    shareMembers[share] = nil
                    shareCursors[share] = nil
                }
            }
            return true
        }
    }

    static func shareKey(group: String, filter: String) -> UTF8Key { UTF8Key(group + "\u{0}" + filter) }

    private let state = Mutex(State())

    /// Adds or replaces a subscription; returns whether it is new (Retain Handling 1 needs that).
    @discardableResult
    func subscribe(_ target: SubscriptionTarget, filter fullFilter: String, options: SubscriptionOptions, subscriptionIdentifier: Int?) -> Bool {
        let shared = SharedSubscription(fullFilter)
        let filter = shared?.topicFilter ?? fullFilter
        let entry = SubscriptionEntry(
            target: target, options: options, subscriptionIdentifier: subscriptionIdentifier,
            shareGroup: shared?.group, filter: filter)
        let key = SubscriberKey(subscriber: target.identity, shareGroup: shared?.group)
        return state.withLock { state in
            let isNew = state.trie.insert(entry, for: key, filter: filter) == nil
            if isNew, let group = shared?.group { state.shareMembers[Self.shareKey(group: group, filter: filter), default: 0] += 1 }
            return isNew
        }
    }

    /// Removes a subscription; returns whether it existed.
    @discardableResult
    func unsubscribe(_ subscriber: ObjectIdentifier, filter fullFilter: String) -> Bool {
        let shared = SharedSubscription(fullFilter)
        let key = SubscriberKey(subscriber: subscriber, shareGroup: shared?.group)
        return state.withLock { $0.remove(key, filter: shared?.topicFilter ?? fullFilter) }
    }

    func unsubscribeAll(_ subscriber: ObjectIdentifier, filters: some Sequence<String>) {
        let keys = filters.map { fullFilter -> (SubscriberKey, String) in
            let shared = SharedSubscription(fullFilter)
            return (SubscriberKey(subscriber: subscriber, shareGroup: shared?.group), shared?.topicFilter ?? fullFilter)
        }
        state.withLock { state in
            for (key, filter) in keys { _ = state.remove(key, filter: filter) }
        }
    }

    var subscriptionCount: Int { state.withLock { $0.trie.count } }

    /// Shared subscriptions with a round-robin cursor (each has at least one member).
    var sharedSubscriptionCount: Int { state.withLock { $0.shareCursors.count } }

    /// One target of a routed message with the merged view of its matching subscriptions.
    struct Match {
        var target: SubscriptionTarget
        var delivery: Delivery
    }

    /// Where a message goes: one match per plain subscriber, and per matching shared
    /// subscription its members in round-robin order from this message's turn on.
    struct Routed {
        var matches: [Match] = []
        /// The first member that may receive the message gets it (the broker checks read
        /// rules outside the lock).
        var sharedGroups: [[Match]] = []

        var isEmpty: Bool { matches.isEmpty && sharedGroups.isEmpty }
    }

    /// The targets `message` goes to: one per subscriber, with QoS, retain flag and
    /// subscription identifiers merged over its matching subscriptions (MQTT 5 §3.3.4), plus the
    /// candidate members of each matching shared subscription.
    ///
    /// Per message this is the lock, the trie walk and one array: a subscriber matched twice is
    /// found by a linear look while matches are few and through an index built only past that.
    func route(_ message: ApplicationMessage) -> Routed {
        var routed = Routed()
        var index: [ObjectIdentifier: Int]?
        var sharedEntries: [SubscriptionEntry] = []
        var orderedShared: [[SubscriptionEntry]] = []
        state.withLock { state in
            state.trie.forEachMatch(topic: message.topic) { _, entry in
                if entry.shareGroup != nil {
                    sharedEntries.append(entry)
                } else if copyPerSubscription {
                    Self.append(entry, message: message, to: &routed.matches)
                } else {
                    Self.merge(entry, message: message, into: &routed.matches, index: &index)
                }
            }
            guard !sharedEntries.isEmpty else { return }
            var groups: [UTF8Key: [SubscriptionEntry]] = [:]
            for entry in sharedEntries {
                groups[Self.shareKey(group: entry.shareGroup!, filter: entry.filter), default: []].append(entry)
            }
            for (groupKey, members) in groups {
                let cursor = state.shareCursors[groupKey, default: 0]
                state.shareCursors[groupKey] = cursor &+ 1
                let ordered = members.sorted { $0.target.identity < $1.target.identity }
                let start = cursor % ordered.count
                orderedShared.append(Array(ordered[start...] + ordered[..<start]))
            }
        }
        for members in orderedShared {
            routed.sharedGroups.append(members.map { entry in
                let qos = min(message.qos, entry.options.qos)
                let ids = entry.subscriptionIdentifier.map { [$0] } ?? []
                return Match(target: entry.target, delivery: Delivery(
                    message: message, qos: qos, retain: entry.options.retainAsPublished && message.retain,
                    subscriptionIdentifiers: ids))
            })
        }
        return routed
    }

    /// One delivery for this subscription alone, with its own QoS, retain flag and identifier.
    private static func append(_ entry: SubscriptionEntry, message: ApplicationMessage, to matches: inout [Match]) {
        if entry.options.noLocal, entry.target.isClient(message.publisherClientIdentifier) { return }
        matches.append(Match(target: entry.target, delivery: Delivery(
            message: message, qos: min(message.qos, entry.options.qos), retain: entry.options.retainAsPublished && message.retain,
            subscriptionIdentifiers: entry.subscriptionIdentifier.map { [$0] } ?? [])))
    }

    /// Matches up to this many are searched in order; beyond it an index is built.
    private static let linearMatchLimit = 16

    private static func merge(
        _ entry: SubscriptionEntry, message: ApplicationMessage, into matches: inout [Match], index: inout [ObjectIdentifier: Int]?
    ) {
        if entry.options.noLocal, entry.target.isClient(message.publisherClientIdentifier) {
            return
        }
        let qos = min(message.qos, entry.options.qos)
        let retain = entry.options.retainAsPublished && message.retain
        let identity = entry.target.identity
        let existing: Int? = if let index { index[identity] } else { matches.firstIndex { $0.target.identity == identity } }
        if let position = existing {
            matches[position].delivery.qos = max(matches[position].delivery.qos, qos)
            matches[position].delivery.retain = matches[position].delivery.retain || retain
            if let id = entry.subscriptionIdentifier { matches[position].delivery.subscriptionIdentifiers.append(id) }
            return
        }
        matches.append(Match(target: entry.target, delivery: Delivery(
            message: message, qos: qos, retain: retain, subscriptionIdentifiers: entry.subscriptionIdentifier.map { [$0] } ?? [])))
        if index != nil {
            index![identity] = matches.count - 1
        } else if matches.count > linearMatchLimit {
            index = Dictionary(uniqueKeysWithValues: matches.enumerated().map { ($1.target.identity, $0) })
        }
    }
}
