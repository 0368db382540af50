import Foundation
import Logging
import MQTTCore
import Mosquitto
import Synchronization

/// Flet-style publish/subscribe between page sessions, carried over MQTT.
///
/// One hub per process owns one libmosquitto connection. Sessions (`PubSubClient`) on the same
/// hub are served directly; sessions on other hubs, other processes or machines, and any MQTT
/// client take part through the broker. The hub subscribes with No Local, so its own messages do
/// not come back.
///
/// The hub holds at most one MQTT subscription, `<prefix>/#` (which also matches the global
/// channel's topic `<prefix>`), while any of its sessions has a handler, and matches incoming
/// messages against its sessions' filters itself. One subscription per filter would overlap
/// (`room/1`, `room/+`, `#`, the global channel under `#`), and brokers answer overlapping
/// subscriptions either with one copy per subscription (Mosquitto) or with one copy carrying
/// every matching Subscription Identifier (MQTT 5 §3.3.4, Parley's broker among others), which
/// libmosquitto 2.0 rejects as a duplicate property, dropping the connection and the message.
/// With a single subscription every broker sends each message exactly once.
///
/// State lives in one mutex (`state`); critical sections only edit the tables. Handlers run on
/// each session's own task, fed through its `SessionMailbox`.
public final class PubSubHub: Sendable {
    public typealias Handler = @Sendable (PubSubMessage) async throws -> Void

    public let mapping: PubSubTopicMapping
    /// QoS of every publish and subscription.
    public let qos: Int
    /// Identifies this hub in the `pubsub-origin` user property.
    public let hubIdentifier: String
    let client: MosquittoClient
    let logger: Logger
    private let state = Mutex(HubState())
    private let receiver = Mutex<Task<Void, Never>?>(nil)

    /// A handler passes messages on (`PubSubClient.forwardTopic`) at dispatch, without the
    /// session's queue: for code that only hands them to a queue of its own.
    typealias HandOff = @Sendable (PubSubMessage) -> Void

    struct HandlerEntry: Sendable {
        enum Kind: Sendable {
            /// Runs on the session's own task, in order, and may wait.
            case queued(Handler)
            /// Runs where the message is routed, must return at once.
            case handOff(HandOff)
        }

        var key: String
        var kind: Kind
        /// Runs once the entry is removed (a message stream finishes there).
        var onRemove: (@Sendable () -> Void)? = nil

        var isQueued: Bool {
            if case .queued = kind { true } else { false }
        }
    }

    struct SessionRecord: Sendable {
        /// Made with the worker: a session whose handlers only hand off has no queue either.
        var mailbox: SessionMailbox?
        /// Started with the first queued handler: a session whose handlers only hand off (a
        /// chat page) needs no task of its own.
        var worker: Task<Void, Never>?
        /// Global handlers in subscription order.
        var global: [HandlerEntry] = []
        /// Topic handlers by MQTT filter (its bytes, as the broker tells filters apart), in
        /// subscription order.
        var topics: [UTF8Key: [HandlerEntry]] = [:]
    }

    /// One MQTT filter the hub subscribes to on behalf of its sessions.
    struct FilterRecord: Sendable {
        var users: Set<String>
        var ready: Task<Void, any Error>
    }

    struct HubState: Sendable {
        var sessions: [String: SessionRecord] = [:]
        var filters: [String: FilterRecord] = [:]
        /// Which sessions subscribed to which MQTT filters (the filter as the value): a message
        /// is matched with one walk down the levels, not against every session's filters, so a
        /// hub serving thousands of page sessions routes in time that does not grow with them.
        var topicIndex = SubscriptionTrie<String, String>()
        /// Sessions with at least one handler on the global channel.
        var globalSessions: Set<String> = []
        var closed = false

        /// Brings the index in line with `session`'s record after its handlers changed.
        mutating func reindex(session: String, from before: SessionRecord?, to after: SessionRecord?) {
            let oldFilters = Set(before.map { Array($0.topics.keys) } ?? [])
            let newFilters = Set(after.map { Array($0.topics.keys) } ?? [])
            for filter in oldFilters.subtracting(newFilters) { _ = topicIndex.remove(key: session, filter: filter.string) }
            for filter in newFilters.subtracting(oldFilters) { _ = topicIndex.insert(filter.string, for: session, filter: filter.string) }
            if after?.global.isEmpty == false {
                globalSessions.insert(session)
            } else {
                globalSessions.remove(session)
            }
        }
    }

    /// The hub's only MQTT subscription: every topic under the prefix, and the prefix itself.
    var brokerFilter: String { mapping.globalTopic + "/#" }

    /// Connects to `broker` (`mqtt://host:port`, `mqtts://` for TLS, user and password allowed
    /// in the URL). Throws `PubSubError` with the reason if the broker cannot be reached.
    public init(
        broker: String = "mqtt://127.0.0.1:1883", prefix: String = "parley", qos: Int = 1,
        clientIdentifier: String? = nil, logger: Logger = Logger(label: "parley.pubsub")
    ) async throws {
        mapping = try PubSubTopicMapping(prefix: prefix)
        guard (0...2).contains(qos) else { throw PubSubError(.transport, "QoS \(qos) is not 0, 1 or 2") }
        self.qos = qos
        self.logger = logger
        hubIdentifier = UUID().uuidString
        var configuration = try Self.configuration(for: broker)
        configuration.clientIdentifier = clientIdentifier ?? "pubsub-" + hubIdentifier.prefix(8)
        client = try MosquittoClient(configuration: configuration)
        do {
            try await client.connect()
        } catch {
            throw PubSubError(.connectionFailed, "PubSub could not reach the broker at \(broker): \(error)")
        }
        // The tasks hold the hub weakly: a hub its program let go of without `shutdown` is freed,
        // and its connection with it (the message stream then ends, and the task).
        let messages = client.messages
        let task = Task { [weak self] in
            for await incoming in messages {
                guard let self else { return }
                route(incoming)
            }
        }
        receiver.withLock { $0 = task }
    }

    /// A hub let go of without `shutdown`: its sessions' queues and message streams end, as at
    /// shutdown; the connection closes as its `MosquittoClient` is freed.
    deinit {
        receiver.withLock { $0 }?.cancel()
        for record in state.withLock({ Array($0.sessions.values) }) {
            record.mailbox?.close()
            for (_, entry) in Self.entries(of: record) { entry.onRemove?() }
        }
    }

    /// The libmosquitto settings a broker URL stands for; other MQTT connections of a program
    /// (a chat's presence client, say) reach the same broker with them.
    public static func configuration(for broker: String) throws(PubSubError) -> MosquittoConfiguration {
        guard let url = URL(string: broker), let scheme = url.scheme?.lowercased(), let host = url.host, !host.isEmpty else {
            throw PubSubError(.invalidBrokerURL, "'\(broker)' is not a broker URL like mqtt://127.0.0.1:1883")
        }
        var configuration = MosquittoConfiguration(host: host)
        switch scheme {
        case "mqtt", "tcp":
            configuration.port = url.port ?? 1883
        case "mqtts", "ssl":
            configuration.port = url.port ?? 8883
            configuration.tls = .init(caPath: "/etc/ssl/certs")
        default:
            throw PubSubError(.invalidBrokerURL, "'\(broker)': scheme '\(scheme)' is not mqtt:// or mqtts://")
        }
        configuration.username = url.user
        configuration.password = url.password
        return configuration
    }

    /// The handle of session `id` (created on first use). Handles for one id share the session.
    public func session(id: String) -> PubSubClient {
        state.withLock { state in
            if state.sessions[id] == nil && !state.closed {
                state.sessions[id] = SessionRecord()
            }
        }
        return PubSubClient(hub: self, sessionID: id)
    }

    /// The task that runs a session's queued handlers, in order.
    private func makeWorker(for session: String, draining mailbox: SessionMailbox) -> Task<Void, Never> {
        Task { [weak self] in
            for await item in mailbox.items {
                guard let self else { return }
                await handle(item, session: session)
            }
        }
    }

    /// The sessions the hub holds (their ids): what a closed page must no longer be among.
    var openSessions: Set<String> { state.withLock { Set($0.sessions.keys) } }

    /// Waits until `session`'s handlers have run for every message delivered to it so far.
    func settle(session: String) async {
        let mailbox = state.withLock { state in state.sessions[session]?.mailbox }
        await mailbox?.settle()
    }

    /// Closes every session, disconnects and stops delivering.
    public func shutdown() async {
        let sessions = state.withLock { state -> [SessionRecord] in
            state.closed = true
            defer { state.sessions = [:] }
            return Array(state.sessions.values)
        }
        let task = receiver.withLock { $0 }
        for session in sessions {
            session.mailbox?.close()
            for (_, entry) in Self.entries(of: session) { entry.onRemove?() }
        }
        await client.disconnect()
        await task?.value
        for session in sessions { await session.worker?.value }
    }

    // MARK: Subscriptions

    func addHandler(
        _ kind: HandlerEntry.Kind, key: String, session: String, topic: String?, onRemove: (@Sendable () -> Void)? = nil
    ) async throws {
        let filter = try topic.map { topic throws(PubSubError) in try mapping.mqttFilter(for: topic) } ?? mapping.globalTopic
        let ready = try state.withLock { state throws(PubSubError) -> Task<Void, any Error> in
            guard !state.closed, var record = state.sessions[session] else {
                throw PubSubError(.hubClosed, "the PubSub hub or session '\(session)' is closed")
            }
            let before = record
            let entry = HandlerEntry(key: key, kind: kind, onRemove: onRemove)
            if entry.isQueued && record.worker == nil {
                let mailbox = SessionMailbox()
                record.mailbox = mailbox
                record.worker = makeWorker(for: session, draining: mailbox)
            }
            if topic == nil {
                Self.upsert(entry, into: &record.global)
            } else {
                Self.upsert(entry, into: &record.topics[UTF8Key(filter), default: []])
            }
            state.sessions[session] = record
            state.reindex(session: session, from: before, to: record)
            return acquire(brokerFilter, for: session, in: &state)
        }
        do {
            try await ready.value
        } catch {
            throw PubSubError(.transport, "\(error) (needed for '\(filter)')")
        }
    }

    /// Subscribing the same handler (same key) again replaces it: no extra delivery.
    private static func upsert(_ entry: HandlerEntry, into entries: inout [HandlerEntry]) {
        if let index = entries.firstIndex(where: { $0.key == entry.key }) {
            entries[index] = entry
        } else {
            entries.append(entry)
        }
    }

    /// Registers `session` as a user of `filter`, subscribing at the broker for the first user.
    private func acquire(_ filter: String, for session: String, in state: inout HubState) -> Task<Void, any Error> {
        if var record = state.filters[filter] {
            record.users.insert(session)
            state.filters[filter] = record
            return record.ready
        }
        let client = self.client
        let qos = self.qos
        let ready = Task {
            try await client.subscribe(filter, qos: qos, options: SubscribeOptions(noLocal: true))
            return
        }
        state.filters[filter] = FilterRecord(users: [session], ready: ready)
        return ready
    }

    /// What to remove from a session.
    enum Removal {
        case global
        case topic(String)
        case handler(key: String)
        case everything
    }

    func remove(_ removal: Removal, session: String) throws {
        let topicFilter: String?
        if case .topic(let topic) = removal { topicFilter = try mapping.mqttFilter(for: topic) } else { topicFilter = nil }
        let (removed, failure) = state.withLock { state -> ([HandlerEntry], MosquittoError?) in
            guard var record = state.sessions[session] else { return ([], nil) }
            let previous = record
            let before = Self.entries(of: record)
            switch removal {
            case .global:
                record.global = []
            case .topic:
                record.topics[UTF8Key(topicFilter!)] = nil
            case .handler(let key):
                record.global.removeAll { $0.key == key }
                for filter in record.topics.keys {
                    record.topics[filter]?.removeAll { $0.key == key }
                    if record.topics[filter]?.isEmpty == true { record.topics[filter] = nil }
                }
            case .everything:
                record.global = []
                record.topics = [:]
            }
            state.sessions[session] = record
            state.reindex(session: session, from: previous, to: record)
            let after = Set(Self.entries(of: record).map { "\($0.channel ?? "")\u{0}\($0.entry.key)" })
            let removed = before.filter { !after.contains("\($0.channel ?? "")\u{0}\($0.entry.key)") }.map(\.entry)
            let stillSubscribed = !record.global.isEmpty || !record.topics.isEmpty
            guard !stillSubscribed, var filterRecord = state.filters[brokerFilter], filterRecord.users.contains(session) else {
                return (removed, nil)
            }
            filterRecord.users.remove(session)
            guard filterRecord.users.isEmpty else {
                state.filters[brokerFilter] = filterRecord
                return (removed, nil)
            }
            state.filters[brokerFilter] = nil
            // Unsubscribing under the lock keeps the UNSUBSCRIBE ahead of the SUBSCRIBE of a
            // session that subscribes right after; libmosquitto only queues the packet.
            do throws(MosquittoError) {
                try client.unsubscribe(brokerFilter)
                return (removed, nil)
            } catch {
                return (removed, error)
            }
        }
        for entry in removed { entry.onRemove?() }
        if let failure { throw PubSubError(.transport, "could not unsubscribe from '\(brokerFilter)': \(failure)") }
    }

    /// Every handler of a session with its channel (nil for global, else the MQTT filter).
    private static func entries(of record: SessionRecord) -> [(channel: String?, entry: HandlerEntry)] {
        record.global.map { (nil, $0) } + record.topics.flatMap { filter, entries in entries.map { (filter.string, $0) } }
    }

    /// Ends a session: its subscriptions go, its queue finishes after what is already in it.
    func close(session: String) throws {
        try remove(.everything, session: session)
        let record = state.withLock { $0.sessions.removeValue(forKey: session) }
        record?.mailbox?.close()
    }

    // MARK: Sending

    /// Delivers to this hub's sessions, then hands the message to libmosquitto once.
    func send(
        _ payload: Data, topic: String?, from session: String, includeSender: Bool, userProperties: [String: String] = [:]
    ) throws {
        let mqttTopic = try topic.map { topic throws(PubSubError) in try mapping.mqttTopic(for: topic) } ?? mapping.globalTopic
        let application = userProperties.filter { !PubSubWireFormat.isOwn($0.key) }
        let message = PubSubMessage(topic: topic, payload: payload, sender: session, userProperties: application)
        let targets = try state.withLock { state throws(PubSubError) -> Targets in
            guard !state.closed else { throw PubSubError(.hubClosed, "the PubSub hub is closed") }
            return Self.localTargets(
                in: state, mqttTopic: mqttTopic, isGlobal: topic == nil, excluding: includeSender ? nil : session)
        }
        Self.deliver(message, to: targets)
        let properties = PubSubWireFormat.properties(
            origin: hubIdentifier, sender: session, messageIdentifier: message.id, extra: application)
        do {
            try client.send(mqttTopic, payload: payload, qos: qos, properties: properties)
        } catch {
            throw PubSubError(.transport, "could not publish to '\(mqttTopic)': \(error)")
        }
    }

    /// Where a message goes locally: hand-offs, run at once, and the queues of sessions with
    /// queued handlers. Flat lists, so a message reaching thousands of sessions makes two
    /// arrays, not one per session.
    struct Targets {
        var handOffs: [HandOff] = []
        var queues: [(mailbox: SessionMailbox, channel: SessionMailbox.Channel)] = []
    }

    /// Sessions (and which of their subscriptions) a message on `mqttTopic` reaches locally.
    /// The global channel and topics never cross, even for a `#` topic subscription.
    private static func localTargets(in state: HubState, mqttTopic: String, isGlobal: Bool, excluding: String?) -> Targets {
        var targets = Targets()
        func add(_ record: SessionRecord, _ channel: SessionMailbox.Channel, _ entries: [HandlerEntry]) {
            var queued = false
            for entry in entries {
                switch entry.kind {
                case .queued: queued = true
                case .handOff(let handOff): targets.handOffs.append(handOff)
                }
            }
            if queued, let mailbox = record.mailbox { targets.queues.append((mailbox, channel)) }
        }
        if isGlobal {
            for id in state.globalSessions where id != excluding {
                if let record = state.sessions[id] { add(record, .global, record.global) }
            }
        } else {
            state.topicIndex.forEachMatch(topic: mqttTopic) { id, filter in
                guard id != excluding, let record = state.sessions[id] else { return }
                add(record, .topic(filter: filter), record.topics[UTF8Key(filter)] ?? [])
            }
        }
        return targets
    }

    /// Runs the hand-offs and queues the message for queued handlers; outside the lock.
    private static func deliver(_ message: PubSubMessage, to targets: Targets) {
        for handOff in targets.handOffs { handOff(message) }
        for (mailbox, channel) in targets.queues { mailbox.enqueue(.init(channel: channel, message: message)) }
    }

    // MARK: Receiving

    /// Routes a message from the broker to the sessions whose subscriptions it matches.
    private func route(_ incoming: MosquittoMessage) {
        let properties = incoming.properties
        // No Local keeps our own messages away; this is the backstop for brokers without it.
        if properties.userProperty(PubSubWireFormat.origin) == hubIdentifier { return }
        let isGlobal = incoming.topic == mapping.globalTopic
        let topic = isGlobal ? nil : mapping.topic(forMQTTTopic: incoming.topic)
        guard isGlobal || topic != nil else { return }
        let message = PubSubMessage(
            topic: topic, payload: incoming.payload, sender: properties.userProperty(PubSubWireFormat.sender),
            id: properties.userProperty(PubSubWireFormat.messageIdentifier) ?? UUID().uuidString,
            userProperties: PubSubWireFormat.applicationProperties(of: properties))
        // The hub's one subscription brings each message once, whichever broker; the
        // sessions' filters are matched here, one delivery per matching subscription.
        let targets = state.withLock { state in
            Self.localTargets(in: state, mqttTopic: incoming.topic, isGlobal: isGlobal, excluding: nil)
        }
        Self.deliver(message, to: targets)
    }

    /// Runs one session's handlers for one delivery, on the session's own task, in order.
    /// Handlers are looked up when the delivery runs, so a handler removed meanwhile is not called.
    private func handle(_ item: SessionMailbox.Item, session: String) async {
        let delivery: SessionMailbox.Delivery
        switch item {
        case .delivery(let next): delivery = next
        case .barrier(let waiter):
            waiter.resume()
            return
        }
        let handlers = state.withLock { state -> [HandlerEntry] in
            guard let record = state.sessions[session] else { return [] }
            switch delivery.channel {
            case .global: return record.global
            case .topic(let filter): return record.topics[UTF8Key(filter)] ?? []
            }
        }
        for entry in handlers {
            guard case .queued(let handler) = entry.kind else { continue }
            do {
                try await handler(delivery.message)
            } catch {
                logger.warning("PubSub handler of session \(session) failed: \(error)")
            }
        }
    }
}
