import MQTTCore
import Testing

/// Topics are compared as UTF-8 bytes (MQTT 5 §4.7.3 forbids normalizing them), where Swift's
/// `String` equality would make a composed "é" (C3 A9) equal a decomposed one (65 CC 81).
@Suite("Topics compared by bytes")
struct TopicBytesTests {
    static let composed = "caf\u{E9}"
    static let decomposed = "cafe\u{301}"

    @Test("The two spellings are equal Strings but different topics")
    func spellingsDiffer() {
        #expect(Self.composed == Self.decomposed)
        #expect(UTF8Key(Self.composed) != UTF8Key(Self.decomposed))
        #expect(UTF8Key(Self.composed) == UTF8Key("caf\u{E9}"))
    }

    @Test("The trie keeps one subscription per spelling and matches each only by its own bytes")
    func trieByBytes() {
        var trie = SubscriptionTrie<String, Int>()
        trie.insert(1, for: "a", filter: "t/\(Self.composed)")
        trie.insert(2, for: "a", filter: "t/\(Self.decomposed)")
        #expect(trie.count == 2)
        var found: [Int] = []
        trie.forEachMatch(topic: "t/\(Self.decomposed)") { _, value in found.append(value) }
        #expect(found == [2])
        #expect(trie.remove(key: "a", filter: "t/\(Self.composed)") == 1)
        #expect(trie.value(for: "a", filter: "t/\(Self.decomposed)") == 2)
    }

    @Test("The retained tree keeps a message per spelling")
    func treeByBytes() {
        var tree = TopicTree<String>()
        tree.set("composed", at: Self.composed)
        tree.set("decomposed", at: Self.decomposed)
        #expect(tree.count == 2)
        #expect(tree.value(at: Self.composed) == "composed")
        var found: [String] = []
        tree.forEachMatch(filter: "+") { found.append($0) }
        #expect(found.sorted() == ["composed", "decomposed"])
    }

    @Test("A single filter matches only its own spelling")
    func matcherByBytes() {
        #expect(TopicMatcher.matches(filter: "x/\(Self.composed)", topic: "x/\(Self.composed)"))
        #expect(!TopicMatcher.matches(filter: "x/\(Self.composed)", topic: "x/\(Self.decomposed)"))
    }

    @Test("A slash followed by a combining mark still separates levels")
    func slashBeforeCombiningMark() {
        var trie = SubscriptionTrie<String, Int>()
        trie.insert(1, for: "a", filter: "a/+")
        var found: [Int] = []
        trie.forEachMatch(topic: "a/\u{301}b") { _, value in found.append(value) }
        #expect(found == [1])
        #expect(TopicMatcher.matches(filter: "a/+", topic: "a/\u{301}b"))
    }
}
