/// How PubSub channels map onto MQTT topics under a prefix.
///
/// The global channel is the topic `<prefix>` itself; topic `t` is `<prefix>/<encoded t>`, so
/// the two never collide and `<prefix>/#` sees every topic. `/` is kept so that MQTT clients can
/// use wildcards; `%`, `+`, `#`, U+0000 and other control characters are percent-encoded so that
/// any topic string survives the round trip.
public struct PubSubTopicMapping: Sendable, Hashable {
    public let prefix: String

    /// MQTT's limit on a topic's UTF-8 length.
    static let maximumTopicBytes = 65_535

    public init(prefix: String) throws(PubSubError) {
        let bytes = Array(prefix.utf8)
        guard !bytes.isEmpty else { throw PubSubError(.invalidPrefix, "the PubSub prefix is empty") }
        guard bytes.first != UInt8(ascii: "$") else {
            throw PubSubError(.invalidPrefix, "the PubSub prefix '\(prefix)' starts with '$', which MQTT reserves for the broker")
        }
        guard !bytes.contains(where: { $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "#") || $0 < 0x20 || $0 == 0x7F }) else {
            throw PubSubError(.invalidPrefix, "the PubSub prefix '\(prefix)' contains a wildcard or control character")
        }
        guard bytes.last != UInt8(ascii: "/") else {
            throw PubSubError(.invalidPrefix, "the PubSub prefix '\(prefix)' ends with '/'")
        }
        guard bytes.count < Self.maximumTopicBytes else { throw PubSubError(.invalidPrefix, "the PubSub prefix is too long") }
        self.prefix = prefix
    }

    /// The MQTT topic of the global channel.
    public var globalTopic: String { prefix }

    /// The MQTT topic a message sent on `topic` is published to.
    public func mqttTopic(for topic: String) throws(PubSubError) -> String {
        try checked(prefix + "/" + Self.encode(Substring(topic)))
    }

    /// The MQTT filter for a topic subscription: a level that is exactly `+`, or a final `#`, is
    /// an MQTT wildcard; anywhere else those characters are literal and encoded.
    public func mqttFilter(for topic: String) throws(PubSubError) -> String {
        let levels = topic.split(separator: "/", omittingEmptySubsequences: false)
        let mapped = levels.enumerated().map { index, level -> String in
            if level == "+" || (level == "#" && index == levels.count - 1) { return String(level) }
            return Self.encode(level)
        }
        return try checked(prefix + "/" + mapped.joined(separator: "/"))
    }

    /// The PubSub topic of an MQTT topic under the prefix; nil for the global channel or a topic
    /// outside the prefix.
    public func topic(forMQTTTopic mqttTopic: String) -> String? {
        let head = prefix + "/"
        guard mqttTopic.hasPrefix(head) else { return nil }
        return Self.decode(mqttTopic.dropFirst(head.count))
    }

    private func checked(_ mqttTopic: String) throws(PubSubError) -> String {
        guard mqttTopic.utf8.count <= Self.maximumTopicBytes else {
            throw PubSubError(.topicTooLong, "topic maps to \(mqttTopic.utf8.count) bytes of MQTT topic; the limit is \(Self.maximumTopicBytes)")
        }
        return mqttTopic
    }

    /// Characters MQTT clients refuse in topics (MQTT 5 §1.5.4: U+0000–U+001F, U+007F–U+009F
    /// and noncharacters; libmosquitto rejects them), those that mean something to MQTT (`+`,
    /// `#`), and `%` itself.
    private static func needsEncoding(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x25, 0x2B, 0x23, 0x00...0x1F, 0x7F...0x9F, 0xFDD0...0xFDEF: true
        default: scalar.value & 0xFFFE == 0xFFFE
        }
    }

    static func encode(_ text: Substring) -> String {
        guard text.unicodeScalars.contains(where: needsEncoding) else { return String(text) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count + 6)
        let hex = Array("0123456789ABCDEF".utf8)
        for scalar in text.unicodeScalars {
            if needsEncoding(scalar) {
                for byte in String(scalar).utf8 { bytes += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]] }
            } else {
                bytes += String(scalar).utf8
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Reverses `encode`; a `%` not followed by two hex digits is kept as is, so topics written
    /// by plain MQTT clients decode to themselves.
    static func decode(_ text: Substring) -> String {
        guard text.utf8.contains(UInt8(ascii: "%")) else { return String(text) }
        let source = Array(text.utf8)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(source.count)
        var index = 0
        func hexValue(_ byte: UInt8) -> UInt8? {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
            case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
            case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
            default: nil
            }
        }
        while index < source.count {
            if source[index] == UInt8(ascii: "%"), index + 2 < source.count,
                let high = hexValue(source[index + 1]), let low = hexValue(source[index + 2])
            {
                bytes.append(high << 4 | low)
                index += 3
            } else {
                bytes.append(source[index])
                index += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
