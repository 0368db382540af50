import Foundation

/// One page session's view of the hub, with Flet's operations (`page.pubsub`).
///
/// Handlers are identified by where they are subscribed (file, line and column), or by an
/// explicit `id`: subscribing the same handler again has no extra effect, as in Flet. Messages
/// reach a session's handlers in order, on the session's own task.
public struct PubSubClient: Sendable {
    public let hub: PubSubHub
    public let sessionID: String

    init(hub: PubSubHub, sessionID: String) {
        self.hub = hub
        self.sessionID = sessionID
    }

    static func key(_ id: String?, _ file: String, _ line: Int, _ column: Int) -> String {
        id ?? "\(file):\(line):\(column)"
    }

    // MARK: Subscribing (String forms)

    /// Receives messages sent to everyone (`send_all`, `send_others`).
    public func subscribe(
        id: String? = nil, file: String = #fileID, line: Int = #line, column: Int = #column,
        _ handler: @escaping @Sendable (String) async throws -> Void
    ) async throws {
        try await subscribe(message: Self.key(id, file, line, column)) { try await handler($0.text) }
    }

    /// Receives messages sent on `topic`; MQTT wildcards (`sensors/+/temp`, `room/#`) are allowed.
    public func subscribeTopic(
        _ topic: String, id: String? = nil, file: String = #fileID, line: Int = #line, column: Int = #column,
        _ handler: @escaping @Sendable (String, String) async throws -> Void
    ) async throws {
        try await subscribeTopic(topic, message: Self.key(id, file, line, column)) { try await handler($0.topic ?? topic, $0.text) }
    }

    // MARK: Subscribing (Data forms)

    public func subscribe(
        id: String? = nil, file: String = #fileID, line: Int = #line, column: Int = #column,
        _ handler: @escaping @Sendable (Data) async throws -> Void
    ) async throws {
        try await subscribe(message: Self.key(id, file, line, column)) { try await handler($0.payload) }
    }

    public func subscribeTopic(
        _ topic: String, id: String? = nil, file: String = #fileID, line: Int = #line, column: Int = #column,
        _ handler: @escaping @Sendable (String, Data) async throws -> Void
    ) async throws {
        try await subscribeTopic(topic, message: Self.key(id, file, line, column)) { try await handler($0.topic ?? topic, $0.payload) }
    }

    // MARK: Subscribing (Codable forms: JSON payloads)

    public func subscribe<Message: Decodable & Sendable>(
        _ type: Message.Type, id: String? = nil, file: String = #fileID, line: Int = #line, column: Int = #column,
        _ handler: @escaping @Sendable (Message) async throws -> Void
    ) async throws {
        try await subscribe(message: Self.key(id, file, line, column)) { try await handler($0.decode(type)) }
    }

    public func subscribeTopic<Message: Decodable & Sendable>(
        _ topic: String, as type: Message.Type, id: String? = nil, file: String = #fileID, line: Int = #line,
        column: Int = #column, _ handler: @escaping @Sendable (String, Message) async throws -> Void
    ) async throws {
        try await subscribeTopic(topic, message: Self.key(id, file, line, column)) {
            try await handler($0.topic ?? topic, $0.decode(type))
        }
    }

    // MARK: Subscribing (whole messages, with the sender)

    public func subscribe(message key: String, _ handler: @escaping PubSubHub.Handler) async throws {
        try await hub.addHandler(.queued(handler), key: key, session: sessionID, topic: nil)
    }

    public func subscribeTopic(_ topic: String, message key: String, _ handler: @escaping PubSubHub.Handler) async throws {
        try await hub.addHandler(.queued(handler), key: key, session: sessionID, topic: topic)
    }

    /// Like `subscribeTopic`, for a handler that only passes each message on to a queue of its
    /// own (a chat page's): it runs where the message is routed, at once, and must neither
    /// wait nor block. A session with no other handlers then needs no task of its own.
    public func forwardTopic(_ topic: String, message key: String, to handOff: @escaping @Sendable (PubSubMessage) -> Void) async throws {
        try await hub.addHandler(.handOff(handOff), key: key, session: sessionID, topic: topic)
    }

    // MARK: AsyncSequence forms

    /// Messages to everyone, as a sequence; ends when the session closes or unsubscribes from
    /// everyone-messages, when the hub shuts down, or when the task iterating it is cancelled.
    public func messages() async throws -> AsyncStream<PubSubMessage> {
        try await stream(topic: nil)
    }

    /// Messages on `topic` (wildcards allowed), as a sequence; ends as `messages()` does, or when
    /// the session unsubscribes from `topic`.
    public func messages(topic: String) async throws -> AsyncStream<PubSubMessage> {
        try await stream(topic: topic)
    }

    private func stream(topic: String?) async throws -> AsyncStream<PubSubMessage> {
        let (stream, continuation) = AsyncStream.makeStream(of: PubSubMessage.self)
        let key = "stream-" + UUID().uuidString
        let handler: PubSubHub.Handler = { continuation.yield($0) }
        // Without this the sequence would never end once its handler is gone (AsyncStream does
        // not finish when its continuation is released), leaving its reader waiting forever.
        try await hub.addHandler(.queued(handler), key: key, session: sessionID, topic: topic, onRemove: { continuation.finish() })
        let hub = self.hub
        let session = sessionID
        // Weak: the handler holds this continuation, so a strong hub here would keep a hub nobody
        // uses alive through its own handler table.
        continuation.onTermination = { [weak hub] _ in try? hub?.remove(.handler(key: key), session: session) }
        return stream
    }

    // MARK: Sending

    /// Sends to every session subscribed to everyone, this one included.
    public func sendAll(_ message: String) async throws { try hub.send(Data(message.utf8), topic: nil, from: sessionID, includeSender: true) }
    /// Sends on `topic` to every session subscribed to it, this one included.
    public func sendAllOnTopic(_ topic: String, _ message: String) async throws {
        try hub.send(Data(message.utf8), topic: topic, from: sessionID, includeSender: true)
    }
    /// Sends to every session subscribed to everyone except this one.
    public func sendOthers(_ message: String) async throws { try hub.send(Data(message.utf8), topic: nil, from: sessionID, includeSender: false) }
    /// Sends on `topic` to every subscribed session except this one.
    public func sendOthersOnTopic(_ topic: String, _ message: String) async throws {
        try hub.send(Data(message.utf8), topic: topic, from: sessionID, includeSender: false)
    }

    public func sendAll(_ message: Data) async throws { try hub.send(message, topic: nil, from: sessionID, includeSender: true) }
    public func sendAllOnTopic(_ topic: String, _ message: Data) async throws {
        try hub.send(message, topic: topic, from: sessionID, includeSender: true)
    }
    public func sendOthers(_ message: Data) async throws { try hub.send(message, topic: nil, from: sessionID, includeSender: false) }
    public func sendOthersOnTopic(_ topic: String, _ message: Data) async throws {
        try hub.send(message, topic: topic, from: sessionID, includeSender: false)
    }

    /// Sends on `topic` with MQTT 5 user properties for receivers that want structured fields
    /// beside a readable payload (`PubSubMessage.userProperties`); names starting with
    /// `pubsub-` are PubSub's own and are left out.
    public func sendAllOnTopic(_ topic: String, _ message: Data, userProperties: [String: String]) async throws {
        try hub.send(message, topic: topic, from: sessionID, includeSender: true, userProperties: userProperties)
    }

    public func sendAll<Message: Encodable>(_ message: Message) async throws { try await sendAll(Self.json(message)) }
    public func sendAllOnTopic<Message: Encodable>(_ topic: String, _ message: Message) async throws {
        try await sendAllOnTopic(topic, Self.json(message))
    }
    public func sendOthers<Message: Encodable>(_ message: Message) async throws { try await sendOthers(Self.json(message)) }
    public func sendOthersOnTopic<Message: Encodable>(_ topic: String, _ message: Message) async throws {
        try await sendOthersOnTopic(topic, Self.json(message))
    }

    private static func json<Message: Encodable>(_ message: Message) throws(PubSubError) -> Data {
        do {
            return try JSONEncoder().encode(message)
        } catch {
            throw PubSubError(.coding, "could not encode \(Message.self) as JSON: \(error)")
        }
    }

    // MARK: Unsubscribing

    /// Removes this session's handlers for everyone-messages.
    public func unsubscribe() async throws { try hub.remove(.global, session: sessionID) }
    /// Removes this session's handlers for `topic` (the same string it subscribed with).
    public func unsubscribeTopic(_ topic: String) async throws { try hub.remove(.topic(topic), session: sessionID) }
    /// Removes every handler of this session.
    public func unsubscribeAll() async throws { try hub.remove(.everything, session: sessionID) }

    /// Waits until this session's handlers have run for every message that reached it so far:
    /// a barrier, for code that must know a message already handed to the session is handled
    /// (a history kept by one session, read when another subscribes).
    public func settle() async { await hub.settle(session: sessionID) }

    /// Ends the session (as a closed page does): `unsubscribeAll`, then its queue stops.
    public func close() async throws { try hub.close(session: sessionID) }
}
