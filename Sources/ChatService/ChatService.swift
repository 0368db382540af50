import Foundation
import Hummingbird
import Logging
import NIOCore
import Metrics
import ProcessMemory
import PubSub
import Synchronization

/// A chat on MQTT: browser page sessions over WebSocket, each with its own PubSub session, so
/// pages of every instance, `mosquitto_sub` and devices on the broker share one conversation.
///
/// Owns the PubSub hub (one MQTT connection for all its pages), the presence client (a second
/// connection, with a will), the room history (filled by a recorder session that hears every
/// room) and the table of local page sessions, used to tell them who is online. Page sessions
/// run on their connection's event loop (`ChatPageHandler`); the tables here sit behind mutexes
/// and are never held while calling out.
public final class ChatService: Sendable {
    public let configuration: ChatConfiguration
    public let hub: PubSubHub
    let presence: ChatPresence
    let page: ChatPage
    /// Carries MQTT over WebSocket at `/mqtt` to the broker; nil when the broker is reached
    /// over TLS or `mqttOverWebSocket` is off.
    let mqttRelay: MQTTWebSocketRelay?
    let logger: Logger
    private let history: Mutex<ChatHistory>
    /// Pages in rooms, for telling them who is online.
    private let table = ChatPageTable()
    let online: ChatOnlineList
    /// Room messages read and encoded once for all the pages that show them.
    let frames: ChatFrameCache
    /// Every open page, joined or not, with what ends it (for shutdown).
    private let pages = Mutex<[String: @Sendable () -> Void]>([:])
    private let recorderID = "chat-recorder-" + UUID().uuidString
    /// Sees every page session as it opens. Only leak tests set it, to follow a page's objects
    /// with weak references until they are freed.
    let pageWatch = Mutex<(@Sendable (AnyObject) -> Void)?>(nil)
    /// Inputs for pages, gathered per event loop (`ChatLoopInbox`).
    private let inboxes = Mutex<[ObjectIdentifier: ChatLoopInbox]>([:])
    /// Hands memory freed by closed pages back to the system (`MemoryReclaimer`), every 5 s.
    private let reclaiming = Mutex<Task<Void, Never>?>(nil)

    /// Connects to `broker` (`mqtt://host:port`). While the broker does not answer, retries until
    /// `waitingUpTo` has passed (the embedded broker may still be starting), then throws.
    public static func connect(
        broker: String, configuration: ChatConfiguration = .init(), waitingUpTo patience: Duration = .zero,
        logger: Logger = Logger(label: "parley.chat")
    ) async throws -> ChatService {
        let page = try ChatPage()
        let deadline = ContinuousClock.now + patience
        var delay = Duration.milliseconds(100)
        var hub: PubSubHub?
        while hub == nil {
            do {
                hub = try await PubSubHub(broker: broker, prefix: configuration.prefix, qos: 1, logger: logger)
            } catch let error as PubSubError where error.kind == .connectionFailed && ContinuousClock.now + delay < deadline {
                logger.info("chat: waiting for the broker at \(ChatServer.withoutCredentials(broker))")
                try await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(1))
            }
        }
        let presence: ChatPresence
        do {
            presence = try ChatPresence(broker: broker, prefix: configuration.presencePrefix, logger: logger)
        } catch {
            await hub!.shutdown()
            throw error
        }
        let relay = configuration.mqttOverWebSocket ? MQTTWebSocketRelay(brokerURL: broker) : nil
        let service = ChatService(
            configuration: configuration, hub: hub!, presence: presence, page: page, mqttRelay: relay, logger: logger)
        do {
            try await service.start()
        } catch {
            await service.shutdown()
            throw error
        }
        return service
    }

    private init(
        configuration: ChatConfiguration, hub: PubSubHub, presence: ChatPresence, page: ChatPage, mqttRelay: MQTTWebSocketRelay?,
        logger: Logger
    ) {
        self.configuration = configuration
        self.hub = hub
        self.presence = presence
        self.page = page
        self.mqttRelay = mqttRelay
        self.logger = logger
        history = Mutex(ChatHistory(limit: configuration.historyLimit, roomLimit: configuration.historyRoomLimit))
        frames = ChatFrameCache(maximumNameLength: configuration.maximumNameLength)
        online = ChatOnlineList(
            users: { [presence] room in presence.users(in: room) }, pages: { [table] room in table.pages(in: room) },
            population: { [table] in table.count })
    }

    private func start() async throws {
        let limit = configuration.maximumNameLength
        try await hub.session(id: recorderID).subscribeTopic("#", message: "history") { [weak self] message in
            guard let self, let chat = ChatWireFormat.message(from: message, maximumNameLength: limit) else { return }
            history.withLock { $0.append(chat) }
        }
        try await presence.start { [weak self] rooms in self?.announceOnline(in: rooms) }
        if MemoryReclaimer.isAvailable {
            let task = Task { [weak self] in
                var reclaimer = MemoryReclaimer()
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(5))
                    guard let self else { return }
                    if reclaimer.tick(openConnections: openPages) {
                        logger.debug("chat: returned memory freed by closed pages to the system (\(openPages) open)")
                    }
                }
            }
            reclaiming.withLock { $0 = task }
        }
    }

    /// Ends the recorder, clears this instance from the online lists and disconnects. Page
    /// sessions still open lose their broker connection.
    public func shutdown() async {
        reclaiming.withLock { $0 }?.cancel()
        online.close()
        await presence.stop()
        await hub.shutdown()
    }

    // MARK: Page sessions

    /// The inbox of the pages served on `loop`.
    func inbox(for loop: any EventLoop) -> ChatLoopInbox {
        inboxes.withLock { inboxes in
            if let inbox = inboxes[ObjectIdentifier(loop)] { return inbox }
            let inbox = ChatLoopInbox(eventLoop: loop)
            inboxes[ObjectIdentifier(loop)] = inbox
            return inbox
        }
    }

    /// A page opened; `close` asks it to go (the server is stopping).
    func opened(page id: String, close: @escaping @Sendable () -> Void) {
        pages.withLock { $0[id] = close }
    }

    func closed(page id: String) {
        _ = pages.withLock { $0.removeValue(forKey: id) }
    }

    /// Pages open now, joined or not.
    var openPages: Int { pages.withLock { $0.count } }

    /// Pages that have joined a room.
    var joinedPages: Int { table.count }

    /// Records the page sessions into swift-metrics: `parley_chat_page_sessions` (open) and
    /// `parley_chat_joined_sessions` (in a room).
    public func reportMetrics() {
        Gauge(label: "parley_chat_page_sessions").record(openPages)
        Gauge(label: "parley_chat_joined_sessions").record(joinedPages)
    }

    /// Ends every page session: each says goodbye in its room and lets its WebSocket close.
    public func closePages() {
        for close in pages.withLock({ Array($0.values) }) { close() }
    }

    /// Waits until every page has closed, or `patience` has passed; whether they all did.
    /// Pages are no task of the HTTP server's, so its shutdown does not wait for them.
    public func pagesClosed(within patience: Duration) async -> Bool {
        let deadline = ContinuousClock.now + patience
        while openPages > 0 {
            guard ContinuousClock.now < deadline, (try? await Task.sleep(for: .milliseconds(20))) != nil else { return false }
        }
        return true
    }

    /// The room's history, once the recorder has handled every message that reached it. A
    /// session that has just subscribed gets, through the hub, every message the hub delivers
    /// after its subscription; every earlier one already sits in the recorder's queue. Settling
    /// the recorder first leaves no gap between the two.
    func messages(in room: String) async -> [ChatMessage] {
        await hub.session(id: recorderID).settle()
        return history.withLock { $0.messages(in: room) }
    }

    func users(in room: String) -> [String] { presence.users(in: room) }

    /// A page session is now `name` in `room`: it is told who is online there, and the room's
    /// other pages that it joined (both at the next change, see `ChatOnlineList`).
    func enter(session id: String, name: String, room: String, deliver: @escaping ChatPageTable.Deliver) {
        table.enter(id, room: room, deliver: deliver)
        presence.add(name, to: room)
        online.changed(room, newcomer: id)
    }

    func leave(session id: String, name: String) {
        guard let room = table.leave(id) else { return }
        presence.remove(name, from: room)
        online.changed(room)
    }

    private func announceOnline(in rooms: Set<String>) {
        online.changed(rooms)
    }
}
