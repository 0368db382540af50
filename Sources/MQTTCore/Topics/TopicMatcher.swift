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
        var filterLevels = filter.topicLevels[...]
        var topicLevels = topic.topicLevels[...]
        while let level = filterLevels.popFirst() {
            if level == "#" { return true }
            guard let topicLevel = topicLevels.popFirst() else { return false }
            // Bytes, not canonical equivalence (MQTT 5 §4.7.3).
            if level != "+" && !level.hasSameBytes(as: topicLevel) { return false }
        }
        return topicLevels.isEmpty
    }
}
