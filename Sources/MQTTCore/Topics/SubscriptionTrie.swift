/// Every subscription of a broker, indexed by filter level so that a topic is matched against
/// all filters in one walk rather than one comparison per subscription.
///
/// Inlinable so that the broker gets a copy specialized for its key and value types: the
/// generic version looks up type metadata on every step of every walk.
///
/// A value type with no locking of its own: the broker keeps one behind a `Mutex` and copies
/// out the matches before it calls anything else. `Key` identifies a subscriber within a filter
/// (for example a client id, or a client id and a share group), so re-subscribing replaces.
public struct SubscriptionTrie<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    @usableFromInline
    struct Node: Sendable {
        @usableFromInline var children: [TopicLevel: Node] = [:]
        @usableFromInline var values: [Key: Value] = [:]

        @inlinable init() {}

        @inlinable var isEmpty: Bool { children.isEmpty && values.isEmpty }
    }

    @usableFromInline var root = Node()
    @usableFromInline var storedCount = 0
    /// How many (filter, key) pairs are stored.
    public var count: Int { storedCount }

    @inlinable public init() {}

    /// Stores `value` for `key` under `filter`, returning the value it replaced.
    @inlinable @discardableResult
    public mutating func insert(_ value: Value, for key: Key, filter: String) -> Value? {
        let levels = filter.topicLevels
        let previous = Self.insert(value, for: key, levels: levels[...], into: &root)
        if previous == nil { storedCount += 1 }
        return previous
    }

    @inlinable static func insert(_ value: Value, for key: Key, levels: ArraySlice<Substring>, into node: inout Node) -> Value? {
        guard let level = levels.first else { return node.values.updateValue(value, forKey: key) }
        return insert(value, for: key, levels: levels.dropFirst(), into: &node.children[TopicLevel(level), default: Node()])
    }

    /// Removes `key`'s entry under `filter`, returning it; empty branches are pruned.
    @inlinable @discardableResult
    public mutating func remove(key: Key, filter: String) -> Value? {
        let levels = filter.topicLevels
        let removed = Self.remove(key: key, levels: levels[...], from: &root)
        if removed != nil { storedCount -= 1 }
        return removed
    }

    @inlinable static func remove(key: Key, levels: ArraySlice<Substring>, from node: inout Node) -> Value? {
        guard let level = levels.first else { return node.values.removeValue(forKey: key) }
        guard var child = node.children[TopicLevel(level)] else { return nil }
        // Take the child out so that it is mutated uniquely, not copied.
        node.children[TopicLevel(level)] = nil
        let removed = remove(key: key, levels: levels.dropFirst(), from: &child)
        if !child.isEmpty { node.children[TopicLevel(level)] = child }
        return removed
    }

    /// The entry `key` has under exactly `filter`.
    @inlinable public func value(for key: Key, filter: String) -> Value? {
        var node = root
        for level in filter.topicLevels {
            guard let child = node.children[TopicLevel(level)] else { return nil }
            node = child
        }
        return node.values[key]
    }

    /// Calls `body` with every entry whose filter matches `topic`. A key subscribed through
    /// several matching filters is reported once per filter.
    @inlinable public func forEachMatch(topic: String, _ body: (Key, Value) throws -> Void) rethrows {
        let levels = topic.topicLevels
        let isSystemTopic = topic.utf8.first == UInt8(ascii: "$")
        try Self.match(node: root, levels: levels[...], atRoot: true, isSystemTopic: isSystemTopic, body)
    }

    @inlinable static func match(
        node: Node, levels: ArraySlice<Substring>, atRoot: Bool, isSystemTopic: Bool, _ body: (Key, Value) throws -> Void
    ) rethrows {
        let wildcardsAllowed = !(atRoot && isSystemTopic)
        if wildcardsAllowed, let multi = node.children[.multiLevelWildcard] {
            for (key, value) in multi.values { try body(key, value) }
        }
        guard let level = levels.first else {
            for (key, value) in node.values { try body(key, value) }
            return
        }
        let rest = levels.dropFirst()
        if let exact = node.children[TopicLevel(level)] {
            try match(node: exact, levels: rest, atRoot: false, isSystemTopic: isSystemTopic, body)
        }
        if wildcardsAllowed, let single = node.children[.singleLevelWildcard] {
            try match(node: single, levels: rest, atRoot: false, isSystemTopic: isSystemTopic, body)
        }
    }

    /// Every entry with its filter, for snapshots and `$SYS` counts.
    public func allEntries() -> [(filter: String, key: Key, value: Value)] {
        var result: [(String, Key, Value)] = []
        func walk(_ node: Node, _ path: [Substring]) {
            if !node.values.isEmpty {
                let filter = path.joined(separator: "/")
                for (key, value) in node.values { result.append((filter, key, value)) }
            }
            for (level, child) in node.children { walk(child, path + [level.text]) }
        }
        walk(root, [])
        return result
    }
}
