import Foundation
import PubSub

/// How chat messages look on MQTT. The payload is the text people read in `mosquitto_sub -v`
/// (`alice: hi`, `alice has joined the chat.`); MQTT 5 user properties carry the structured
/// fields, and the message id is PubSub's `pubsub-id`. Messages without the properties come
/// from plain MQTT clients and are read as well as their payload allows.
enum ChatWireFormat {
    static let user = "chat-user"
    static let type = "chat-type"
    static let time = "chat-time"
    /// Name shown for plain MQTT text that does not start with `NAME: `.
    static let anonymousUser = "mqtt"

    static func payload(kind: ChatMessage.Kind, user: String, text: String) -> String {
        switch kind {
        case .chat: "\(user): \(text)"
        case .join: "\(user) has joined the chat."
        case .leave: "\(user) has left the chat."
        }
    }

    static func userProperties(kind: ChatMessage.Kind, user: String, time: String) -> [String: String] {
        [Self.user: user, Self.type: kind.rawValue, Self.time: time]
    }

    /// Reads a message received on room topic `topic` (`general`, or `general/sensor1` for a
    /// device publishing below the room, which then names the sender when the payload does not).
    static func message(from message: PubSubMessage, maximumNameLength: Int) -> ChatMessage? {
        guard let topic = message.topic, !topic.isEmpty else { return nil }
        let levels = topic.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        let room = String(levels[0])
        guard ChatRoomName.isValid(room) else { return nil }
        let below = levels.count > 1 && !levels[1].isEmpty ? String(levels[1]) : nil
        let properties = message.userProperties
        // Every session reads every message: the sender's time is taken as is (the page renders
        // it as text and shows nothing for one it cannot read), not parsed again per reader.
        let time = properties[Self.time].flatMap { $0.count <= 40 ? $0 : nil } ?? ChatMessage.timestamp()

        if let kindName = properties[Self.type], let kind = ChatMessage.Kind(rawValue: kindName),
            let user = properties[Self.user], !user.isEmpty
        {
            var text = String(decoding: message.payload, as: UTF8.self)
            if kind == .chat, text.hasPrefix(user + ": ") { text.removeFirst(user.count + 2) }
            return ChatMessage(id: message.id, room: room, user: user, kind: kind, text: text, time: time)
        }

        guard let text = String(validating: message.payload, as: UTF8.self) else {
            return ChatMessage(
                id: message.id, room: room, user: below ?? anonymousUser, kind: .chat,
                text: "(\(message.payload.count) bytes of binary data)", time: time)
        }
        if let pretty = prettyJSON(message.payload) {
            return ChatMessage(
                id: message.id, room: room, user: below ?? anonymousUser, kind: .chat, text: pretty, time: time, format: .json)
        }
        if let (name, rest) = splitName(text, maximumNameLength: maximumNameLength) {
            return ChatMessage(id: message.id, room: room, user: name, kind: .chat, text: rest, time: time)
        }
        return ChatMessage(id: message.id, room: room, user: below ?? anonymousUser, kind: .chat, text: text, time: time)
    }

    /// `bob: hi` → ("bob", "hi"); a name has no colon or line break and is not too long.
    static func splitName(_ text: String, maximumNameLength: Int) -> (String, String)? {
        guard let separator = text.range(of: ": ") else { return nil }
        let name = text[..<separator.lowerBound].trimmingCharacters(in: .whitespaces)
        guard !name.isEmpty, name.count <= maximumNameLength, !name.contains(where: \.isNewline), !name.contains(":") else {
            return nil
        }
        return (name, String(text[separator.upperBound...]))
    }

    /// Objects and arrays only: a bare number or string reads fine as text.
    static func prettyJSON(_ payload: Data) -> String? {
        guard let first = payload.first(where: { !$0.isASCIIWhitespace }), first == UInt8(ascii: "{") || first == UInt8(ascii: "[") else {
            return nil
        }
        guard let value = try? JSONSerialization.jsonObject(with: payload),
            let data = try? JSONSerialization.data(withJSONObject: value, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        else { return nil }
        return String(decoding: data, as: UTF8.self)
    }
}

extension UInt8 {
    fileprivate var isASCIIWhitespace: Bool { self == 0x20 || self == 0x09 || self == 0x0A || self == 0x0D }
}
