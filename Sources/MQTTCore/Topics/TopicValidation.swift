/// Topic name and topic filter rules (MQTT 5 §4.7; strings are already well-formed UTF-8
/// without U+0000 when they leave the decoder).
public enum TopicValidation {
    /// A topic name a PUBLISH may carry: non-empty, no wildcards, at most 65,535 bytes.
    public static func validateTopicName(_ topic: String) throws(MQTTProtocolError) {
        let utf8 = topic.utf8
        guard !utf8.isEmpty else { throw .topicNameInvalid("empty topic name") }
        guard utf8.count <= MQTTLimits.maximumFieldLength else { throw .topicNameInvalid("topic name longer than 65535 bytes") }
        for byte in utf8 where byte == UInt8(ascii: "+") || byte == UInt8(ascii: "#") {
            throw .topicNameInvalid("wildcard in topic name '\(topic)'")
        }
        if utf8.contains(0) { throw .topicNameInvalid("U+0000 in topic name") }
    }

    /// A topic filter: `+` fills a whole level, `#` is the whole last level; `$share/` filters
    /// need a group name without wildcards and a filter after it.
    public static func validateTopicFilter(_ filter: String) throws(MQTTProtocolError) {
        if let shared = SharedSubscription(filter) {
            try validatePlainFilter(shared.topicFilter)
        } else if SharedSubscription.isShared(filter) {
            let rest = filter.utf8.dropFirst(SharedSubscription.prefix.utf8.count)
            guard let slash = rest.firstIndex(of: UInt8(ascii: "/")), slash != rest.startIndex,
                filter.utf8.index(after: slash) != filter.utf8.endIndex
            else {
                // A share name without a filter after it is no subscription at all (MQTT 5
                // §4.8.2): a protocol error, as Mosquitto answers, not a refused filter.
                throw .protocolViolation("shared subscription '\(filter)' has no share name or no topic filter")
            }
            throw .topicFilterInvalid("malformed shared subscription '\(filter)'")
        } else {
            try validatePlainFilter(filter)
        }
    }

    private static func validatePlainFilter(_ filter: String) throws(MQTTProtocolError) {
        let utf8 = Array(filter.utf8)
        guard !utf8.isEmpty else { throw .topicFilterInvalid("empty topic filter") }
        guard utf8.count <= MQTTLimits.maximumFieldLength else { throw .topicFilterInvalid("topic filter longer than 65535 bytes") }
        let slash = UInt8(ascii: "/")
        for (index, byte) in utf8.enumerated() {
            switch byte {
            case UInt8(ascii: "+"):
                let alone = (index == 0 || utf8[index - 1] == slash) && (index == utf8.count - 1 || utf8[index + 1] == slash)
                guard alone else { throw .topicFilterInvalid("'+' must fill a whole level in '\(filter)'") }
            case UInt8(ascii: "#"):
                let last = index == utf8.count - 1 && (index == 0 || utf8[index - 1] == slash)
                guard last else { throw .topicFilterInvalid("'#' must be the whole last level in '\(filter)'") }
            case 0:
                throw .topicFilterInvalid("U+0000 in topic filter")
            default:
                continue
            }
        }
    }

    /// Whether a filter uses `+` or `#`.
    public static func hasWildcards(_ filter: String) -> Bool {
        filter.utf8.contains { $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "#") }
    }
}
