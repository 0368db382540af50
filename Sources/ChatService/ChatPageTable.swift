import Synchronization

/// The page sessions of this instance that have joined a room, by room, with how to reach each.
///
/// Edited by the page sessions' tasks as they enter and leave rooms; read to tell a room's
/// pages who is online. State: `state`'s mutex; nothing is called while it is held.
final class ChatPageTable: Sendable {
    typealias Deliver = @Sendable (ChatPageSession.Input) -> Void

    private struct State: Sendable {
        var rooms: [String: [String: Deliver]] = [:]
        var roomOf: [String: String] = [:]
    }

    private let state = Mutex(State())

    /// Puts `page` in `room` (out of the room it was in, if any).
    func enter(_ page: String, room: String, deliver: @escaping Deliver) {
        state.withLock { state in
            if let old = state.roomOf[page] { Self.remove(page, from: old, in: &state) }
            state.roomOf[page] = room
            state.rooms[room, default: [:]][page] = deliver
        }
    }

    /// Takes `page` out of its room; returns the room, or nil if it was in none.
    func leave(_ page: String) -> String? {
        state.withLock { state in
            guard let room = state.roomOf.removeValue(forKey: page) else { return nil }
            Self.remove(page, from: room, in: &state)
            return room
        }
    }

    func pages(in room: String) -> [(id: String, deliver: Deliver)] {
        state.withLock { state in (state.rooms[room] ?? [:]).map { ($0.key, $0.value) } }
    }

    var count: Int { state.withLock { $0.roomOf.count } }

    private static func remove(_ page: String, from room: String, in state: inout State) {
        state.rooms[room]?[page] = nil
        if state.rooms[room]?.isEmpty == true { state.rooms[room] = nil }
    }
}
