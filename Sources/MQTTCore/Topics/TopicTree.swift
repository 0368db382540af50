/// Values stored under topic names, found by topic filter: the retained messages of a broker.
///
/// Indexed by level, so that a wildcard filter walks only the branches it can match (a
/// `fleet/d7/+` subscribe over 50,000 topics visits ten, not fifty thousand) and nothing has
/// to be copied to be searched. A value type without a lock; the broker keeps one behind a
/// `Mutex`. Inlinable for the same reason as `SubscriptionTrie`.
public struct TopicTree<Value: Sendable>: Sendable {
    @usableFromInline
    struct Node: Sendable {
        @usableFromInline var children: [TopicLevel: Node] = [:]
        @usableFromInline var value: Value?

        @inlinable init() {}

        @inlinable var isEmpty: Bool { children.isEmpty && value == nil }
    }

    @usableFromInline var root = Node()
    @usableFromInline var storedCount = 0

    /// How many topics hold a value.
    public var count: Int { storedCount }

    @inlinable public init() {}

    /// Stores `value` under `topic`, returning the value it replaced.
    @inlinable @discardableResult
    public mutating func set(_ value: Value, at topic: String) -> Value? {
        let levels = topic.topicLevels
        let previous = Self.set(value, levels: levels[...], in: &root)
        if previous == nil { storedCount += 1 }
        return previous
    }

    @inlinable static func set(_ value: Value, levels: ArraySlice<Substring>, in node: inout Node) -> Value? {
        guard let level = levels.first else {
            let previous = node.value
            node.value = value
            return previous
        }
        return set(value, levels: levels.dropFirst(), in: &node.children[TopicLevel(level), default: Node()])
    }

    /// Removes the value under `topic`, pruning branches left empty.
    @inlinable @discardableResult
    public mutating func remove(at topic: String) -> Value? {
        let levels = topic.topicLevels
        let removed = Self.remove(levels: levels[...], from: &root)
        if removed != nil { storedCount -= 1 }
        return removed
    }

    @inlinable static func remove(levels: ArraySlice<Substring>, from node: inout Node) -> Value? {
        guard let level = levels.first else {
            let removed = node.value
            node.value = nil
            return removed
        }
        guard var child = node.children[TopicLevel(level)] else { return nil }
        // Take the child out so that it is mutated uniquely, not copied.
        node.children[TopicLevel(level)] = nil
        let removed = remove(levels: levels.dropFirst(), from: &child)
        if !child.isEmpty { node.children[TopicLevel(level)] = child }
        return removed
    }

    /// The value stored under exactly `topic`.
    @inlinable public func value(at topic: String) -> Value? {
        var node = root
        for level in topic.topicLevels {
            guard let child = node.children[TopicLevel(level)] else { return nil }
            node = child
        }
        return node.value
    }

    /// Calls `body` with the value of every topic that `filter` matches (MQTT 5 §4.7): `+` one
    /// level, `#` this level and everything below (so `a/#` also matches `a`), and neither
    /// wildcard at the first level reaches topics starting with `$`.
    @inlinable public func forEachMatch(filter: String, _ body: (Value) throws -> Void) rethrows {
        let levels = filter.topicLevels
        try Self.match(node: root, levels: levels[...], atRoot: true, body)
    }

    @inlinable static func match(node: Node, levels: ArraySlice<Substring>, atRoot: Bool, _ body: (Value) throws -> Void) rethrows {
        guard let level = levels.first else {
            if let value = node.value { try body(value) }
            return
        }
        switch level {
        case "#":
            if !atRoot, let value = node.value { try body(value) }
            for (name, child) in node.children where !(atRoot && name.text.utf8.first == UInt8(ascii: "$")) {
                try visitAll(child, body)
            }
        case "+":
            let rest = levels.dropFirst()
            for (name, child) in node.children where !(atRoot && name.text.utf8.first == UInt8(ascii: "$")) {
                try match(node: child, levels: rest, atRoot: false, body)
            }
        default:
            if let child = node.children[TopicLevel(level)] { try match(node: child, levels: levels.dropFirst(), atRoot: false, body) }
        }
    }

    @inlinable static func visitAll(_ node: Node, _ body: (Value) throws -> Void) rethrows {
        if let value = node.value { try body(value) }
        for child in node.children.values { try visitAll(child, body) }
    }
}
