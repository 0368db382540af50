import Foundation

/// One line of a room's conversation, as pages show it and the history keeps it.
public struct ChatMessage: Codable, Sendable, Hashable {
    public enum Kind: String, Codable, Sendable {
        case chat, join, leave
    }

    /// How the page renders `text`: plain, or pretty-printed JSON a device published.
    public enum Format: String, Codable, Sendable {
        case text, json
    }

    /// The PubSub message id (`pubsub-id`), shared by every instance that sees the message.
    public var id: String
    public var room: String
    public var user: String
    public var kind: Kind
    public var text: String
    /// ISO 8601 with milliseconds, UTC.
    public var time: String
    public var format: Format

    public init(id: String, room: String, user: String, kind: Kind, text: String, time: String, format: Format = .text) {
        self.id = id
        self.room = room
        self.user = user
        self.kind = kind
        self.text = text
        self.time = time
        self.format = format
    }

    static func timestamp(_ date: Date = Date()) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }
}
