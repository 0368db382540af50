import Foundation
import Logging
import NIOCore
import PubSub

/// One browser tab's conversation: a Flet-style page session with its own PubSub session.
///
/// Everything that reaches the page — replies to its commands, room messages from PubSub,
/// online lists — arrives as an `Input` and is handled in order by the page's connection
/// (`ChatPageHandler`). So a joiner's history is written before any live message, and a live
/// message already in that history is not shown twice, without locks. The session's state is
/// touched by one party at a time: the connection's event loop, or the one command task it
/// started and waits for (`perform`), and after the page closed the task that ends it; hence
/// `@unchecked Sendable`.
final class ChatPageSession: @unchecked Sendable {
    enum Input: Sendable {
        case frame(String)
        case binaryFrame
        case incoming(PubSubMessage)
        /// A frame about `room` encoded once for all its pages (who is online).
        case roomFrame(room: String, frame: ByteBuffer)
    }

    /// What an input asks of the page.
    enum Step {
        /// A frame to write now.
        case write(ByteBuffer)
        /// Nothing for this page (another room's, or already shown).
        case skip
        /// A command, which waits on the broker: run it with `perform`.
        case command(String)
    }

    typealias Deliver = @Sendable (Input) -> Void

    let id = UUID().uuidString
    private let service: ChatService
    private let pubsub: PubSubClient
    /// Hands an input from another task (PubSub, presence) to the page's connection.
    private let deliver: Deliver
    private var name: String?
    private var room: String?
    /// Ids of the history last sent; the same messages arriving live are skipped.
    private var shown: Set<String> = []
    private var limiter: RateLimiter
    /// Made when something is logged: a logger with its own metadata costs a few hundred
    /// bytes, kept by every page for the rare line it writes.
    var logger: Logger {
        var logger = service.logger
        logger[metadataKey: "page"] = "\(id.prefix(8))"
        return logger
    }

    init(service: ChatService, deliver: @escaping Deliver) {
        self.service = service
        self.deliver = deliver
        pubsub = service.hub.session(id: id)
        limiter = RateLimiter(burst: service.configuration.messageBurst, perSecond: service.configuration.messagesPerSecond)
    }

    // MARK: Inputs

    /// What `input` needs; everything but a command is answered at once.
    func step(for input: Input) -> Step {
        switch input {
        case .frame(let text):
            return .command(text)
        case .binaryFrame:
            return .write(ChatEvent.error("Binary frames are not chat commands: send JSON text").frame)
        case .incoming(let message):
            guard let frame = service.frames.frame(for: message), frame.message.room == room else { return .skip }
            if !shown.isEmpty {
                if shown.contains(frame.message.id) { return .skip }
                // Messages arrive in order: once one is newer than the history, every later
                // one is too, and the ids need not be kept (a page holds them no longer).
                shown = []
            }
            return .write(frame.bytes)
        case .roomFrame(let frameRoom, let frame):
            return frameRoom == room ? .write(frame) : .skip
        }
    }

    /// Runs the command in `text`; the frames that answer it.
    func perform(_ text: String) async -> [ByteBuffer] {
        do {
            return try await perform(ChatCommand(json: text)).map(\.frame)
        } catch let error as ChatError {
            return [ChatEvent.error(error.message).frame]
        } catch {
            logger.warning("chat: \(error)")
            return [ChatEvent.error("The chat could not do that: \(error)").frame]
        }
    }

    private func perform(_ command: ChatCommand) async throws -> [ChatEvent] {
        switch command {
        case .join(let requested, let requestedRoom):
            guard name == nil else { throw ChatError(.alreadyJoined, "You have already joined as \(name!)") }
            let name = try validatedName(requested)
            let room = try ChatRoomName.validated(requestedRoom ?? service.configuration.defaultRoom)
            let events = try await enter(room, as: name)
            self.name = name
            return events
        case .send(let text):
            guard let name, let room else { throw ChatError(.notJoined, "Join the chat before sending messages") }
            let text = try validatedMessage(text)
            guard limiter.allow() else {
                throw ChatError(
                    .rateLimited,
                    "You are sending too fast: wait a moment (at most \(Int(service.configuration.messagesPerSecond)) messages per second)")
            }
            try await publish(.chat, text: text, as: name, in: room)
            return []
        case .room(let requested):
            guard let name, let current = room else { throw ChatError(.notJoined, "Join the chat before changing rooms") }
            let next = try ChatRoomName.validated(requested)
            if next != current {
                try? await publish(.leave, as: name, in: current)
                try await pubsub.unsubscribeTopic(Self.filter(for: current))
                service.leave(session: id, name: name)
            }
            return try await enter(next, as: name, announce: next != current)
        }
    }

    /// Subscribes to `room`, then takes its history: a message arriving in between is both in
    /// the history and queued behind this command, and `shown` drops the second copy.
    private func enter(_ room: String, as name: String, announce: Bool = true) async throws -> [ChatEvent] {
        self.room = room
        let deliver = self.deliver
        try await pubsub.forwardTopic(Self.filter(for: room), message: "room") { deliver(.incoming($0)) }
        let history = await service.messages(in: room)
        shown = Set(history.map(\.id))
        service.enter(session: id, name: name, room: room, deliver: deliver)
        if announce {
            do {
                try await publish(.join, as: name, in: room)
            } catch {
                logger.warning("chat: \(name) joined \(room) unannounced: \(error)")
            }
        }
        return [.joined(name: name, room: room), .history(room: room, messages: history)]
    }

    private func publish(_ kind: ChatMessage.Kind, text: String = "", as name: String, in room: String) async throws {
        let payload = ChatWireFormat.payload(kind: kind, user: name, text: text)
        let properties = ChatWireFormat.userProperties(kind: kind, user: name, time: ChatMessage.timestamp())
        do {
            try await pubsub.sendAllOnTopic(room, Data(payload.utf8), userProperties: properties)
        } catch {
            throw ChatError(.brokerUnavailable, "The message could not be sent: \(error)")
        }
    }

    /// The room and the topics below it, where devices may publish (`chat/general/sensor1`).
    private static func filter(for room: String) -> String { room + "/#" }

    /// Says goodbye in the room and closes the PubSub session: the page has gone.
    func end() async {
        if let name, let room {
            try? await publish(.leave, as: name, in: room)
            service.leave(session: id, name: name)
        }
        try? await pubsub.close()
    }

    // MARK: Validation

    private func validatedName(_ requested: String) throws(ChatError) -> String {
        let name = requested.trimmingCharacters(in: .whitespacesAndNewlines)
        let limit = service.configuration.maximumNameLength
        guard !name.isEmpty else { throw ChatError(.invalidName, "Name must not be empty") }
        guard name.count <= limit else { throw ChatError(.invalidName, "Names are at most \(limit) characters") }
        guard !name.contains(where: { $0.isNewline || $0 == ":" }) else {
            throw ChatError(.invalidName, "Names cannot contain ':' or line breaks")
        }
        return name
    }

    private func validatedMessage(_ text: String) throws(ChatError) -> String {
        let limit = service.configuration.maximumMessageLength
        guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw ChatError(.invalidMessage, "Message must not be empty")
        }
        guard text.count <= limit else { throw ChatError(.invalidMessage, "Messages are at most \(limit) characters") }
        return text
    }
}
