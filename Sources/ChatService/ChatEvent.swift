import Foundation
import NIOCore

/// What the server sends a page: one JSON object per text frame, `type` naming the event.
enum ChatEvent: Sendable, Equatable {
    case joined(name: String, room: String)
    case history(room: String, messages: [ChatMessage])
    case message(ChatMessage)
    /// Everyone online in the room: sent to a page when it enters a room.
    case online(room: String, users: [String])
    /// Who came and went since the last change, coalesced: sent to the pages already in the room,
    /// so a join costs one small frame per page instead of the whole list.
    case presence(room: String, joined: [String], left: [String])
    case error(String)

    private enum Key: String, CodingKey {
        case type, name, room, messages, users, message, joined, left
    }

    var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        // Encoding these plain values cannot fail.
        let data = (try? encoder.encode(self)) ?? Data(#"{"type":"error","message":"internal encoding error"}"#.utf8)
        return String(decoding: data, as: UTF8.self)
    }

    /// The event as a text frame's payload; one buffer can be written to many pages.
    var frame: ByteBuffer { ByteBuffer(string: json) }
}

extension ChatEvent: Encodable {
    func encode(to encoder: any Encoder) throws {
        switch self {
        case .message(let message):
            // A live message is the message's own fields beside "type".
            try message.encode(to: encoder)
            var container = encoder.container(keyedBy: Key.self)
            try container.encode("message", forKey: .type)
        case .joined(let name, let room):
            var container = encoder.container(keyedBy: Key.self)
            try container.encode("joined", forKey: .type)
            try container.encode(name, forKey: .name)
            try container.encode(room, forKey: .room)
        case .history(let room, let messages):
            var container = encoder.container(keyedBy: Key.self)
            try container.encode("history", forKey: .type)
            try container.encode(room, forKey: .room)
            try container.encode(messages, forKey: .messages)
        case .online(let room, let users):
            var container = encoder.container(keyedBy: Key.self)
            try container.encode("online", forKey: .type)
            try container.encode(room, forKey: .room)
            try container.encode(users, forKey: .users)
        case .presence(let room, let joined, let left):
            var container = encoder.container(keyedBy: Key.self)
            try container.encode("presence", forKey: .type)
            try container.encode(room, forKey: .room)
            try container.encode(joined, forKey: .joined)
            try container.encode(left, forKey: .left)
        case .error(let message):
            var container = encoder.container(keyedBy: Key.self)
            try container.encode("error", forKey: .type)
            try container.encode(message, forKey: .message)
        }
    }
}
