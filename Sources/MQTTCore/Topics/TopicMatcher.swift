/// Matches one topic name against one topic filter (MQTT 5 §4.7), for callers that hold a
/// single filter; the broker matches many at once with `SubscriptionTrie`.
public enum TopicMatcher {
    public static func matches(filter: String, topic: String) -> Bool {
        if let shared = SharedSubscription(filter) { return matches(filter: shared.topicFilter, topic: topic) }
        // Wildcards at the first level never match `$` topics (MQTT 5 §4.7.2).
        if topic.utf8.first == UInt8(ascii: "$"), let first = filter.utf8.first,
            first == UInt8(ascii: "+") || first == UInt8(ascii: "#")
        {
            return false
        }
        var filterLevels = filter.split(separator: "/", omittingEmptySubsequences: false)[...]
        var topicLevels = topic.split(separator: "/", omittingEmptySubsequences: false)[...]
        while let level = filterLevels.popFirst() {
            if level == "#" { return true }
            guard let topicLevel = topicLevels.popFirst() else { return false }
            if level != "+" && level != topicLevel { return false }
        }
        return topicLevels.isEmpty
    }
}
