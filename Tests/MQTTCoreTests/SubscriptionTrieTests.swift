import MQTTCore
import Testing

@Suite("Subscription trie")
struct SubscriptionTrieTests {
    typealias Trie = SubscriptionTrie<String, Int>

    /// The (key, value) pairs matching `topic`, sorted so they compare independently of order.
    static func matches(_ trie: Trie, _ topic: String) -> [String] {
        var found: [String] = []
        trie.forEachMatch(topic: topic) { key, value in found.append("\(key)=\(value)") }
        return found.sorted()
    }

    /// How many nodes the trie holds below its root. `SubscriptionTrie` does not expose its
    /// nodes, so this reads them through `Mirror` to prove that `remove` prunes empty branches.
    static func storedNodeCount(_ trie: Trie) throws -> Int {
        let root = try #require(Mirror(reflecting: trie).children.first { $0.label == "root" }?.value)
        return try nodeCount(below: root)
    }

    private static func nodeCount(below node: Any) throws -> Int {
        let children = try #require(Mirror(reflecting: node).children.first { $0.label == "children" }?.value)
        var total = 0
        for entry in Mirror(reflecting: children).children {
            // Each dictionary entry reflects as a (key:, value:) tuple.
            let child = try #require(Mirror(reflecting: entry.value).children.first { $0.label == "value" }?.value)
            total += 1 + (try nodeCount(below: child))
        }
        return total
    }

    @Test("A new trie is empty")
    func emptyTrie() throws {
        let trie = Trie()
        #expect(trie.count == 0)
        #expect(trie.allEntries().isEmpty)
        #expect(Self.matches(trie, "a") == [])
        #expect(try Self.storedNodeCount(trie) == 0)
    }

    @Test("insert stores, and re-subscribing replaces and returns the previous value")
    func insertAndReplace() {
        var trie = Trie()
        #expect(trie.insert(1, for: "c1", filter: "a/b") == nil)
        #expect(trie.count == 1)
        #expect(trie.insert(2, for: "c1", filter: "a/b") == 1)
        #expect(trie.count == 1, "a replacement is not a new entry")
        #expect(trie.value(for: "c1", filter: "a/b") == 2)
        #expect(trie.insert(3, for: "c2", filter: "a/b") == nil)
        #expect(trie.insert(4, for: "c1", filter: "a/+") == nil)
        #expect(trie.count == 3)
        #expect(Self.matches(trie, "a/b") == ["c1=2", "c1=4", "c2=3"])
    }

    @Test("value(for:filter:) finds exactly the filter, never a match")
    func valueForFilter() {
        var trie = Trie()
        trie.insert(1, for: "c1", filter: "a/+")
        trie.insert(2, for: "c1", filter: "a/#")
        trie.insert(3, for: "c2", filter: "/a//")
        #expect(trie.value(for: "c1", filter: "a/+") == 1)
        #expect(trie.value(for: "c1", filter: "a/#") == 2)
        #expect(trie.value(for: "c1", filter: "a/b") == nil)
        #expect(trie.value(for: "c1", filter: "a") == nil)
        #expect(trie.value(for: "c2", filter: "a/+") == nil)
        #expect(trie.value(for: "c2", filter: "/a//") == 3)
        #expect(trie.value(for: "c2", filter: "/a/") == nil)
        #expect(trie.value(for: "c2", filter: "/a///") == nil)
    }

    @Test("remove returns the entry, updates count and leaves the rest")
    func remove() {
        var trie = Trie()
        trie.insert(1, for: "c1", filter: "a/b")
        trie.insert(2, for: "c2", filter: "a/b")
        trie.insert(3, for: "c1", filter: "a")
        trie.insert(4, for: "c1", filter: "a/b/c")
        #expect(trie.remove(key: "c1", filter: "a/b") == 1)
        #expect(trie.count == 3)
        #expect(trie.remove(key: "c1", filter: "a/b") == nil, "removing twice finds nothing")
        #expect(trie.remove(key: "c3", filter: "a/b") == nil)
        #expect(trie.remove(key: "c1", filter: "x/y") == nil)
        #expect(trie.remove(key: "c1", filter: "a/+") == nil, "a wildcard does not remove what it matches")
        #expect(trie.count == 3)
        #expect(Self.matches(trie, "a/b") == ["c2=2"])
        #expect(Self.matches(trie, "a") == ["c1=3"])
        #expect(Self.matches(trie, "a/b/c") == ["c1=4"])
    }

    @Test("remove prunes branches left empty, and only those")
    func removePrunes() throws {
        var trie = Trie()
        trie.insert(1, for: "c1", filter: "a/b/c/d")
        #expect(try Self.storedNodeCount(trie) == 4)
        trie.insert(2, for: "c1", filter: "a/x")
        #expect(try Self.storedNodeCount(trie) == 5)
        trie.remove(key: "c1", filter: "a/b/c/d")
        #expect(try Self.storedNodeCount(trie) == 2, "b/c/d pruned, a/x kept")
        trie.insert(3, for: "c1", filter: "a")
        trie.remove(key: "c1", filter: "a/x")
        #expect(try Self.storedNodeCount(trie) == 1, "a holds a value itself, so it stays")
        trie.remove(key: "c1", filter: "a")
        #expect(try Self.storedNodeCount(trie) == 0)
        #expect(trie.count == 0)
        // A failed removal must not leave behind the nodes it walked through.
        trie.remove(key: "c1", filter: "p/q/r")
        #expect(try Self.storedNodeCount(trie) == 0)
        // And the trie is usable again.
        trie.insert(4, for: "c1", filter: "a/b/c/d")
        #expect(Self.matches(trie, "a/b/c/d") == ["c1=4"])
    }

    @Test("Removing one key keeps other keys on the same node")
    func removeKeepsSiblingKeys() throws {
        var trie = Trie()
        trie.insert(1, for: "c1", filter: "a/b")
        trie.insert(2, for: "c2", filter: "a/b")
        trie.remove(key: "c1", filter: "a/b")
        #expect(try Self.storedNodeCount(trie) == 2)
        #expect(trie.value(for: "c2", filter: "a/b") == 2)
    }

    @Test("A key subscribed through several matching filters is reported once per filter")
    func overlappingFilters() {
        var trie = Trie()
        trie.insert(1, for: "c", filter: "a/b")
        trie.insert(2, for: "c", filter: "a/+")
        trie.insert(3, for: "c", filter: "a/#")
        trie.insert(4, for: "c", filter: "#")
        trie.insert(5, for: "c", filter: "+/b")
        trie.insert(6, for: "c", filter: "+/+/#")
        #expect(Self.matches(trie, "a/b") == ["c=1", "c=2", "c=3", "c=4", "c=5", "c=6"])
        #expect(Self.matches(trie, "a") == ["c=3", "c=4"])
        #expect(Self.matches(trie, "x/b") == ["c=4", "c=5", "c=6"])
    }

    @Test("Root-level wildcards do not match $ topics; literal $ filters and deeper wildcards do")
    func dollarTopics() {
        var trie = Trie()
        trie.insert(1, for: "hash", filter: "#")
        trie.insert(2, for: "plus", filter: "+/monitor/Clients")
        trie.insert(3, for: "sys", filter: "$SYS/#")
        trie.insert(4, for: "sysplus", filter: "$SYS/monitor/+")
        trie.insert(5, for: "plushash", filter: "+/#")
        #expect(Self.matches(trie, "$SYS/monitor/Clients") == ["sys=3", "sysplus=4"])
        #expect(Self.matches(trie, "$SYS") == ["sys=3"])
        #expect(Self.matches(trie, "x/monitor/Clients") == ["hash=1", "plus=2", "plushash=5"])
        #expect(Self.matches(trie, "a/$SYS") == ["hash=1", "plushash=5"])
    }

    @Test("allEntries lists every entry with its filter, empty levels included")
    func allEntries() {
        var trie = Trie()
        let entries: [(String, String, Int)] = [
            ("a/b", "c1", 1), ("a/b", "c2", 2), ("a", "c1", 3), ("#", "c3", 4), ("+", "c3", 5),
            ("/a//", "c4", 6), ("/", "c4", 7), ("$SYS/#", "c5", 8), ("a/+/#", "c6", 9),
        ]
        for (filter, key, value) in entries { trie.insert(value, for: key, filter: filter) }
        let listed = trie.allEntries().map { "\($0.filter)|\($0.key)|\($0.value)" }.sorted()
        #expect(listed == entries.map { "\($0.0)|\($0.1)|\($0.2)" }.sorted())
        #expect(trie.count == entries.count)
    }

    @Test("forEachMatch rethrows and stops at the first error")
    func forEachMatchRethrows() {
        struct Stop: Error {}
        var trie = Trie()
        for key in ["c1", "c2", "c3"] { trie.insert(0, for: key, filter: "a") }
        var calls = 0
        #expect(throws: Stop.self) {
            try trie.forEachMatch(topic: "a") { _, _ in
                calls += 1
                throw Stop()
            }
        }
        #expect(calls == 1)
    }

    @Test("A copy is independent of the original (value semantics)")
    func valueSemantics() {
        var original = Trie()
        original.insert(1, for: "c", filter: "a/b")
        var copy = original
        copy.insert(2, for: "c", filter: "a/c")
        copy.remove(key: "c", filter: "a/b")
        #expect(original.count == 1)
        #expect(Self.matches(original, "a/b") == ["c=1"])
        #expect(Self.matches(original, "a/c") == [])
        #expect(copy.count == 1)
        #expect(Self.matches(copy, "a/c") == ["c=2"])
    }

    // MARK: Randomized agreement with TopicMatcher

    static let levels = ["a", "b", "c", "$SYS", ""]

    static func randomFilter(_ rng: inout XorShift) -> String {
        while true {
            let depth = Int.random(in: 1...4, using: &rng)
            var parts: [String] = (0..<depth).map { _ in
                Int.random(in: 0..<7, using: &rng) < 2 ? "+" : levels.randomElement(using: &rng)!
            }
            if Int.random(in: 0..<4, using: &rng) == 0 { parts[depth - 1] = "#" }
            let filter = parts.joined(separator: "/")
            if !filter.isEmpty { return filter }
        }
    }

    static func randomTopic(_ rng: inout XorShift) -> String {
        while true {
            let depth = Int.random(in: 1...5, using: &rng)
            let topic = (0..<depth).map { _ in levels.randomElement(using: &rng)! }.joined(separator: "/")
            if !topic.isEmpty { return topic }
        }
    }

    @Test("forEachMatch agrees with TopicMatcher on random filters and topics", arguments: [1, 42, 0xC0FFEE, 0xDEAD_BEEF] as [UInt64])
    func agreesWithTopicMatcher(seed: UInt64) throws {
        var rng = XorShift(seed: seed)
        var trie = Trie()
        var filters: [String: Int] = [:]
        for index in 0..<300 {
            let filter = Self.randomFilter(&rng)
            try TopicValidation.validateTopicFilter(filter)
            filters[filter] = index
            trie.insert(index, for: filter, filter: filter)
            // A second subscriber on some filters, to check per-key reporting.
            if index % 3 == 0 { trie.insert(-index, for: filter + "#2", filter: filter) }
        }
        // Remove some again so matching also runs over pruned branches.
        for filter in filters.keys.sorted().prefix(40) {
            #expect(trie.remove(key: filter, filter: filter) != nil)
            filters[filter] = nil
        }
        var checkedMatches = 0
        for _ in 0..<500 {
            let topic = Self.randomTopic(&rng)
            var fromTrie: [String] = []
            trie.forEachMatch(topic: topic) { key, _ in
                if !key.hasSuffix("#2") { fromTrie.append(key) }
            }
            let expected = filters.keys.filter { TopicMatcher.matches(filter: $0, topic: topic) }
            #expect(fromTrie.sorted() == expected.sorted(), "topic '\(topic)'")
            checkedMatches += expected.count
        }
        // The table must exercise matching, not only misses.
        #expect(checkedMatches > 100)
        #expect(trie.count == trie.allEntries().count)
    }
}
