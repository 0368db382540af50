/// The last messages of each room, oldest first. A value type; `ChatService` owns it behind a mutex.
struct ChatHistory: Sendable {
    let limit: Int
    private var rooms: [String: [ChatMessage]] = [:]

    init(limit: Int) {
        self.limit = limit
    }

    mutating func append(_ message: ChatMessage) {
        guard limit > 0 else { return }
        var messages = rooms[message.room, default: []]
        // A message seen twice (a broker redelivering QoS 1 after a reconnect) is kept once.
        guard !messages.contains(where: { $0.id == message.id }) else { return }
        messages.append(message)
        if messages.count > limit { messages.removeFirst(messages.count - limit) }
        rooms[message.room] = messages
    }

    func messages(in room: String) -> [ChatMessage] { rooms[room] ?? [] }
}
