/// The last messages of each room, oldest first, for at most `roomLimit` rooms. A value type;
/// `ChatService` owns it behind a mutex.
///
/// Rooms come from topics anyone on the broker may publish to (`chat/<anything>`), so their
/// number is bounded too: past `roomLimit`, the room written to least recently is forgotten.
struct ChatHistory: Sendable {
    let limit: Int
    let roomLimit: Int
    private var rooms: [String: Room] = [:]
    /// Counts writes, to tell which room was written to least recently.
    private var clock: UInt64 = 0

    private struct Room: Sendable {
        var messages: [ChatMessage] = []
        var lastWrite: UInt64 = 0
    }

    init(limit: Int, roomLimit: Int = 1000) {
        self.limit = limit
        self.roomLimit = max(roomLimit, 1)
    }

    mutating func append(_ message: ChatMessage) {
        guard limit > 0 else { return }
        var room = rooms[message.room] ?? Room()
        // A message seen twice (a broker redelivering QoS 1 after a reconnect) is kept once.
        guard !room.messages.contains(where: { $0.id == message.id }) else { return }
        room.messages.append(message)
        if room.messages.count > limit { room.messages.removeFirst(room.messages.count - limit) }
        clock += 1
        room.lastWrite = clock
        if rooms[message.room] == nil && rooms.count >= roomLimit, let oldest = rooms.min(by: { $0.value.lastWrite < $1.value.lastWrite }) {
            rooms[oldest.key] = nil
        }
        rooms[message.room] = room
    }

    func messages(in room: String) -> [ChatMessage] { rooms[room]?.messages ?? [] }

    /// Rooms with a history.
    var roomCount: Int { rooms.count }
}
