import MQTTCore
import Testing

/// The examples of MQTT 5 §4.7 (and 3.1.1 §4.7) as a table of (filter, topic, matches).
let topicMatchingExamples: [(filter: String, topic: String, matches: Bool)] = [
    // §4.7.1.2 multi-level wildcard
    ("sport/tennis/player1/#", "sport/tennis/player1", true),
    ("sport/tennis/player1/#", "sport/tennis/player1/ranking", true),
    ("sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true),
    ("sport/tennis/player1/#", "sport/tennis/player2", false),
    ("sport/tennis/player1/#", "sport/tennis", false),
    ("sport/#", "sport", true),
    ("sport/#", "sport/", true),
    ("sport/#", "sports", false),
    ("sport/tennis/#", "sport/tennis", true),
    ("#", "sport", true),
    ("#", "sport/tennis/player1", true),
    ("#", "/", true),
    ("#", "/finance", true),
    // §4.7.1.3 single-level wildcard
    ("sport/tennis/+", "sport/tennis/player1", true),
    ("sport/tennis/+", "sport/tennis/player2", true),
    ("sport/tennis/+", "sport/tennis/player1/ranking", false),
    ("sport/+", "sport", false),
    ("sport/+", "sport/", true),
    ("sport/+", "sport/tennis/player1", false),
    ("+", "sport", true),
    ("+", "sport/tennis", false),
    ("+/+", "/finance", true),
    ("/+", "/finance", true),
    ("+", "/finance", false),
    ("+/tennis/#", "sport/tennis/player1", true),
    ("+/tennis/#", "sport/tennis", true),
    ("+/tennis/#", "sport/golf", false),
    ("sport/+/player1", "sport/tennis/player1", true),
    ("sport/+/player1", "sport//player1", true),
    ("+/+", "/", true),
    ("+", "/", false),
    ("/", "/", true),
    // §4.7.2 topics beginning with $
    ("#", "$SYS/broker/clients", false),
    ("#", "$SYS", false),
    ("+", "$SYS", false),
    ("+/monitor/Clients", "$SYS/monitor/Clients", false),
    ("+/#", "$SYS/monitor/Clients", false),
    ("$SYS/#", "$SYS/monitor/Clients", true),
    ("$SYS/#", "$SYS", true),
    ("$SYS/monitor/+", "$SYS/monitor/Clients", true),
    ("$SYS/+/Clients", "$SYS/monitor/Clients", true),
    ("#", "a/$SYS", true),
    ("+/+", "a/$SYS", true),
    ("#", "$", false),
    ("$", "$", true),
    // §4.7.3 topic semantics: case-sensitive, spaces allowed, no level normalisation
    ("ACCOUNTS", "Accounts", false),
    ("Accounts payable", "Accounts payable", true),
    ("sport/tennis", "sport/tennis/", false),
    ("sport/tennis/", "sport/tennis", false),
    ("sport/tennis", "/sport/tennis", false),
    ("a//b", "a/b", false),
    ("ü/+", "ü/日本", true),
    // Exact filters
    ("sport/tennis/player1", "sport/tennis/player1", true),
    ("sport/tennis/player1", "sport/tennis/player10", false),
    // Shared subscriptions match as their inner filter (§4.8.2)
    ("$share/g/sport/#", "sport", true),
    ("$share/g/sport/#", "sport/tennis/player1", true),
    ("$share/g/sport/#", "sports", false),
    ("$share/g/+", "sport", true),
    ("$share/g/#", "$SYS/x", false),
    ("$share/g/$SYS/#", "$SYS/x", true),
    ("$share/g/a", "$share/g/a", false),
]

@Suite("Topic matching (MQTT 5 §4.7)")
struct TopicMatchingTests {
    @Test("TopicMatcher follows the spec's examples", arguments: topicMatchingExamples)
    func matcher(filter: String, topic: String, matches: Bool) {
        #expect(TopicMatcher.matches(filter: filter, topic: topic) == matches)
    }

    @Test("SubscriptionTrie follows the spec's examples", arguments: topicMatchingExamples)
    func trie(filter: String, topic: String, matches: Bool) {
        // The broker files a shared subscription under its inner filter.
        let filed = SharedSubscription(filter)?.topicFilter ?? filter
        var trie = SubscriptionTrie<String, Int>()
        trie.insert(1, for: "client", filter: filed)
        var found: [String] = []
        trie.forEachMatch(topic: topic) { key, _ in found.append(key) }
        #expect(found == (matches ? ["client"] : []))
    }

    @Test("Every filter matches itself when it has no wildcards", arguments: ["a", "a/b", "/", "$SYS/x", "a b/ü"])
    func exactSelfMatch(name: String) {
        #expect(TopicMatcher.matches(filter: name, topic: name))
    }
}
