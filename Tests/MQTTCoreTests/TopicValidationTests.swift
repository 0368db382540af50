import MQTTCore
import Testing

@Suite("Topic name and filter validation")
struct TopicValidationTests {
    @Test("Valid topic names", arguments: [
        "sport/tennis/player1", "sport", "/", "//", "/finance", "finance/", "$SYS/broker/load", "a b/c d",
        "Accounts payable", "ü/日本/😀", "sport/tennis/player1/ranking", "$share/g/x", String(repeating: "a", count: 65_535),
    ])
    func validTopicNames(topic: String) {
        #expect(throws: Never.self) { try TopicValidation.validateTopicName(topic) }
    }

    @Test("Invalid topic names are refused with 0x90", arguments: [
        "", "#", "+", "sport/#", "sport/+/player1", "sport+", "sport/tennis#", "a\u{0}b", "\u{0}",
        String(repeating: "a", count: 65_536),
    ])
    func invalidTopicNames(topic: String) {
        let error = #expect(throws: MQTTProtocolError.self) { try TopicValidation.validateTopicName(topic) }
        #expect(error?.reasonCode == .topicNameInvalid)
    }

    @Test("Valid topic filters", arguments: [
        "#", "+", "+/+", "/+", "+/", "/", "sport/#", "sport/tennis/#", "sport/tennis/player1/#", "sport/+",
        "sport/+/player1", "+/tennis/#", "+/+/+/#", "$SYS/#", "$SYS/monitor/+", "sport/tennis/player1", "//#",
        "ü/+/😀", "$share/g/sport/#", "$share/group/+", "$share/g/#", "$share/g/a/b", "$share/g/$SYS/#",
        "$share", "$sharefoo/+", "$share/g/$share/h/x",
    ])
    func validTopicFilters(filter: String) {
        #expect(throws: Never.self) { try TopicValidation.validateTopicFilter(filter) }
    }

    @Test("Invalid topic filters are refused with 0x8F", arguments: [
        "", "sport/tennis#", "sport/tennis/#/ranking", "sport+", "+sport", "sport/+tennis", "#/", "##", "++", "a/#/",
        "a/b#", "#a", "+#", "a\u{0}b", "$share/g+/x", "$share/+/x", "$share/#/x",
        "$share/g#/x", "$share/g/sport+", "$share/g/#/x", String(repeating: "a", count: 65_536),
    ])
    func invalidTopicFilters(filter: String) {
        let error = #expect(throws: MQTTProtocolError.self) { try TopicValidation.validateTopicFilter(filter) }
        #expect(error?.reasonCode == .topicFilterInvalid)
    }

    @Test("A shared subscription without a share name or a filter is a protocol error, as Mosquitto answers",
          arguments: ["$share/g", "$share/", "$share//x", "$share/g/"])
    func sharedSubscriptionWithoutParts(filter: String) {
        let error = #expect(throws: MQTTProtocolError.self) { try TopicValidation.validateTopicFilter(filter) }
        #expect(error?.reasonCode == .protocolError)
    }

    @Test("hasWildcards", arguments: [
        ("#", true), ("+", true), ("a/+/b", true), ("a/#", true), ("$share/g/+", true),
        ("a/b", false), ("$SYS/x", false), ("/", false), ("", false),
    ])
    func hasWildcards(filter: String, expected: Bool) {
        #expect(TopicValidation.hasWildcards(filter) == expected)
    }

    @Test("Shared subscriptions split into group and filter", arguments: [
        ("$share/g/sport/#", "g", "sport/#"),
        ("$share/consumer1/sport/tennis/+", "consumer1", "sport/tennis/+"),
        ("$share/g/#", "g", "#"),
        ("$share/g//", "g", "/"),
        ("$share/ü/a", "ü", "a"),
        ("$share/g/$SYS/x", "g", "$SYS/x"),
    ])
    func sharedSubscriptionParts(filter: String, group: String, topicFilter: String) throws {
        let shared = try #require(SharedSubscription(filter))
        #expect(shared.group == group)
        #expect(shared.topicFilter == topicFilter)
    }

    @Test("Filters that are not well-formed shared subscriptions", arguments: [
        "sport/#", "$share", "$share/", "$share/g", "$share//x", "$share/g+/x", "$share/g#/x", "$share/g/",
        "$SHARE/g/x", "$sharex/g/x", "share/g/x", "/$share/g/x",
    ])
    func notShared(filter: String) {
        #expect(SharedSubscription(filter) == nil)
    }
}
