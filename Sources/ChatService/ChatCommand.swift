import Foundation

/// What a page sends over its WebSocket: one JSON object per text frame.
enum ChatCommand: Sendable, Equatable {
    case join(name: String, room: String?)
    case send(text: String)
    case room(String)

    private struct Frame: Decodable {
        var type: String
        var name: String?
        var room: String?
        var text: String?
    }

    /// Parses a frame; anything else is an `invalidCommand` error the page is told about.
    init(json: String) throws(ChatError) {
        let frame: Frame
        do {
            frame = try JSONDecoder().decode(Frame.self, from: Data(json.utf8))
        } catch {
            throw ChatError(.invalidCommand, "Not a chat command: expected a JSON object with a \"type\"")
        }
        switch frame.type {
        case "join":
            guard let name = frame.name else { throw ChatError(.invalidCommand, "\"join\" needs a \"name\"") }
            self = .join(name: name, room: frame.room)
        case "send":
            guard let text = frame.text else { throw ChatError(.invalidCommand, "\"send\" needs a \"text\"") }
            self = .send(text: text)
        case "room":
            guard let room = frame.room else { throw ChatError(.invalidCommand, "\"room\" needs a \"room\"") }
            self = .room(room)
        default:
            throw ChatError(.invalidCommand, "Unknown command type \"\(frame.type)\"")
        }
    }
}
