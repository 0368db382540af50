import Atomics
import Foundation
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOWebSocket
import PubSub

/// One browser tab: a Flet-style page session with its own PubSub session.
///
/// Everything that reaches the page — replies to its commands, room messages from PubSub,
/// online lists — goes through one input stream, handled in order by the task serving the
/// WebSocket. So a joiner's history is written before any live message, and a live message
/// already in that history is not shown twice, without locks. The session's state is owned by
/// the writer task alone, and after it ends by the task that started it (which only waits for
/// it meanwhile): hence `@unchecked Sendable`.
final class ChatPageSession: @unchecked Sendable {
    enum Input: Sendable {
        case frame(String)
        case binaryFrame
        case incoming(PubSubMessage)
        /// A frame about `room` encoded once for all its pages (who is online).
        case roomFrame(room: String, json: String)
    }

    let id = UUID().uuidString
    private let service: ChatService
    private let pubsub: PubSubClient
    private let inputs: ChatPageQueue<Input>
    private var name: String?
    private var room: String?
    /// Ids of the history last sent; the same messages arriving live are skipped.
    private var shown: Set<String> = []
    private var limiter: RateLimiter
    private let logger: Logger
    /// Set when the page fell `sessionBufferLimit` inputs behind: it is told and dropped.
    private let overflow: ChatPageOverflow

    init(service: ChatService) {
        self.service = service
        pubsub = service.hub.session(id: id)
        inputs = ChatPageQueue(limit: service.configuration.sessionBufferLimit)
        limiter = RateLimiter(burst: service.configuration.messageBurst, perSecond: service.configuration.messagesPerSecond)
        overflow = ChatPageOverflow()
        var logger = service.logger
        logger[metadataKey: "page"] = "\(id.prefix(8))"
        self.logger = logger
    }

    /// Serves the page: its frames are read here, in the connection's own task, and written
    /// by one writer task. Two tasks a page, not four: each costs a stack of its own, and
    /// thousands of pages share a process. `channel` closes a page that must go (too far
    /// behind, or the server stopping) even when it no longer answers.
    func run(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, channel: (any Channel)?) async {
        let inputs = self.inputs
        let readerDone = ManagedAtomic(false)
        service.opened(page: id) { inputs.finish() }
        defer { service.closed(page: id) }
        let logger = self.logger
        // The writer runs as its own task so that a page too slow to keep up can be cut off
        // even while a write to it waits for its socket.
        let writer = Task {
            do {
                while let input = await inputs.next() {
                    if overflow.happened { break }
                    for frame in await handle(input) {
                        try await outbound.write(.text(frame))
                    }
                }
            } catch {
                logger.debug("chat: could not write to the page: \(error)")
            }
            // Inputs ended while the page is still connected: the server is stopping.
            if !overflow.happened && !readerDone.load(ordering: .relaxed) {
                await Self.close(outbound, code: .goingAway, reason: "The chat server is stopping.", then: channel)
            }
        }
        let limit = service.configuration.sessionBufferLimit
        overflow.onOverflow {
            writer.cancel()
            // A task of its own, only now: the writer is cancelled, and the reader below may
            // wait for a page that never answers until its connection is closed.
            Task {
                logger.notice("chat: a page fell \(limit) events behind; closing it")
                await Self.close(
                    outbound, code: .policyViolation,
                    reason: "This page fell too far behind the conversation; reload it to continue.", then: channel)
            }
        }
        do {
            for try await message in inbound.messages(maxSize: service.configuration.maximumFrameSize) {
                switch message {
                case .text(let text): inputs.push(.frame(text))
                case .binary: inputs.push(.binaryFrame)
                }
            }
        } catch {
            logger.debug("chat: page connection ended: \(error)")
        }
        readerDone.store(true, ordering: .relaxed)
        inputs.finish()
        await writer.value
        await end()
    }

    /// Hands inputs to the page's queue from other tasks; a page that fell too far behind is
    /// dropped, so the rest of the room is not held up by it.
    private struct Inbox: Sendable {
        let inputs: ChatPageQueue<Input>
        let overflow: ChatPageOverflow

        func deliver(_ input: Input) {
            if case .full = inputs.push(input) { overflow.trigger() }
        }
    }

    private var inbox: Inbox { Inbox(inputs: inputs, overflow: overflow) }

    /// Says why in a WebSocket close frame; waits at most 5 s for a socket that does not
    /// drain, and for the page's answering close frame, then closes the connection anyway.
    private static func close(
        _ outbound: WebSocketOutboundWriter, code: WebSocketErrorCode, reason: String, then channel: (any Channel)?
    ) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await outbound.close(code, reason: reason) }
            group.addTask { try? await Task.sleep(for: .seconds(5)) }
            await group.next()
            group.cancelAll()
        }
        if let channel {
            try? await Task.sleep(for: .seconds(1))
            channel.close(promise: nil)
        }
    }

    // MARK: Inputs

    /// The frames to write for one input.
    private func handle(_ input: Input) async -> [String] {
        switch input {
        case .frame(let text):
            do {
                return try await perform(ChatCommand(json: text)).map(\.json)
            } catch let error as ChatError {
                return [ChatEvent.error(error.message).json]
            } catch {
                logger.warning("chat: \(error)")
                return [ChatEvent.error("The chat could not do that: \(error)").json]
            }
        case .binaryFrame:
            return [ChatEvent.error("Binary frames are not chat commands: send JSON text").json]
        case .incoming(let message):
            guard let frame = service.frames.frame(for: message), frame.message.room == room else { return [] }
            if !shown.isEmpty {
                if shown.contains(frame.message.id) { return [] }
                // Messages arrive in order: once one is newer than the history, every later
                // one is too, and the ids need not be kept (a page holds them no longer).
                shown = []
            }
            return [frame.json]
        case .roomFrame(let frameRoom, let json):
            return frameRoom == room ? [json] : []
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
        let inbox = self.inbox
        try await pubsub.forwardTopic(Self.filter(for: room), message: "room") { inbox.deliver(.incoming($0)) }
        let history = await service.messages(in: room)
        shown = Set(history.map(\.id))
        service.enter(session: id, name: name, room: room) { inbox.deliver($0) }
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

    private func end() async {
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
