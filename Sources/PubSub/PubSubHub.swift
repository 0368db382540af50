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
/// not come back, and counts local users per MQTT filter, so it subscribes when the first
/// session needs a channel and unsubscribes after the last one leaves.
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

    struct HandlerEntry: Sendable {
        var key: String
        var handler: Handler
    }

    struct SessionRecord: Sendable {
        let mailbox: SessionMailbox
        let worker: Task<Void, Never>
        /// Global handlers in subscription order.
        var global: [HandlerEntry] = []
        /// Topic handlers by MQTT filter, in subscription order.
        var topics: [String: [HandlerEntry]] = [:]
    }

    /// One MQTT filter the hub subscribes to on behalf of its sessions.
    struct FilterRecord: Sendable {
        var subscriptionIdentifier: UInt32
        var users: Set<String>
        var ready: Task<Void, any Error>
    }

    struct HubState: Sendable {
        var sessions: [String: SessionRecord] = [:]
        var filters: [String: FilterRecord] = [:]
        var filterBySubscriptionIdentifier: [UInt32: String] = [:]
        var nextSubscriptionIdentifier: UInt32 = 1
        var closed = false
    }

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
        let task = Task { [self] in await receive() }
        receiver.withLock { $0 = task }
    }

    static func configuration(for broker: String) throws(PubSubError) -> MosquittoConfiguration {
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
                let mailbox = SessionMailbox()
                let worker = Task { [self] in await drain(mailbox, session: id) }
                state.sessions[id] = SessionRecord(mailbox: mailbox, worker: worker)
            }
        }
        return PubSubClient(hub: self, sessionID: id)
    }

    /// Closes every session, disconnects and stops delivering.
    public func shutdown() async {
        let sessions = state.withLock { state -> [SessionRecord] in
            state.closed = true
            defer { state.sessions = [:] }
            return Array(state.sessions.values)
        }
        let task = receiver.withLock { $0 }
        for session in sessions { session.mailbox.close() }
        await client.disconnect()
        await task?.value
        for session in sessions { await session.worker.value }
    }

    // MARK: Subscriptions

    func addHandler(_ handler: @escaping Handler, key: String, session: String, topic: String?) async throws {
        let filter = try topic.map { topic throws(PubSubError) in try mapping.mqttFilter(for: topic) } ?? mapping.globalTopic
        let ready = try state.withLock { state throws(PubSubError) -> Task<Void, any Error> in
            guard !state.closed, var record = state.sessions[session] else {
                throw PubSubError(.hubClosed, "the PubSub hub or session '\(session)' is closed")
            }
            let entry = HandlerEntry(key: key, handler: handler)
            if topic == nil {
                Self.upsert(entry, into: &record.global)
            } else {
                Self.upsert(entry, into: &record.topics[filter, default: []])
            }
            state.sessions[session] = record
            return acquire(filter, for: session, in: &state)
        }
        do {
            try await ready.value
        } catch {
            throw PubSubError(.transport, "could not subscribe to '\(filter)': \(error)")
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
        let identifier = state.nextSubscriptionIdentifier
        state.nextSubscriptionIdentifier += 1
        let client = self.client
        let qos = self.qos
        let ready = Task {
            try await client.subscribe(filter, qos: qos, options: SubscribeOptions(noLocal: true), subscriptionIdentifier: identifier)
            return
        }
        state.filters[filter] = FilterRecord(subscriptionIdentifier: identifier, users: [session], ready: ready)
        state.filterBySubscriptionIdentifier[identifier] = filter
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
        let unused = state.withLock { state -> [String] in
            guard var record = state.sessions[session] else { return [] }
            switch removal {
            case .global:
                record.global = []
            case .topic:
                record.topics[topicFilter!] = nil
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
            var needed = Set(record.topics.keys)
            if !record.global.isEmpty { needed.insert(mapping.globalTopic) }
            var unused: [String] = []
            for (filter, var filterRecord) in state.filters where filterRecord.users.contains(session) && !needed.contains(filter) {
                filterRecord.users.remove(session)
                if filterRecord.users.isEmpty {
                    state.filters[filter] = nil
                    state.filterBySubscriptionIdentifier[filterRecord.subscriptionIdentifier] = nil
                    unused.append(filter)
                } else {
                    state.filters[filter] = filterRecord
                }
            }
            return unused
        }
        for filter in unused { try client.unsubscribe(filter) }
    }

    /// Ends a session: its subscriptions go, its queue finishes after what is already in it.
    func close(session: String) throws {
        try remove(.everything, session: session)
        let record = state.withLock { $0.sessions.removeValue(forKey: session) }
        record?.mailbox.close()
    }

    // MARK: Sending

    /// Delivers to this hub's sessions, then hands the message to libmosquitto once.
    func send(_ payload: Data, topic: String?, from session: String, includeSender: Bool) throws {
        let mqttTopic = try topic.map { topic throws(PubSubError) in try mapping.mqttTopic(for: topic) } ?? mapping.globalTopic
        let message = PubSubMessage(topic: topic, payload: payload, sender: session)
        let targets = try state.withLock { state throws(PubSubError) -> [(SessionMailbox, SessionMailbox.Channel)] in
            guard !state.closed else { throw PubSubError(.hubClosed, "the PubSub hub is closed") }
            return Self.localTargets(
                in: state, mqttTopic: mqttTopic, isGlobal: topic == nil, excluding: includeSender ? nil : session)
        }
        for (mailbox, channel) in targets { mailbox.enqueue(.init(channel: channel, message: message)) }
        let properties = PubSubWireFormat.properties(origin: hubIdentifier, sender: session, messageIdentifier: UUID().uuidString)
        do {
            try client.send(mqttTopic, payload: payload, qos: qos, properties: properties)
        } catch {
            throw PubSubError(.transport, "could not publish to '\(mqttTopic)': \(error)")
        }
    }

    /// Sessions (and which of their subscriptions) a message on `mqttTopic` reaches locally.
    /// The global channel and topics never cross, even for a `#` topic subscription.
    private static func localTargets(
        in state: HubState, mqttTopic: String, isGlobal: Bool, excluding: String?
    ) -> [(SessionMailbox, SessionMailbox.Channel)] {
        var targets: [(SessionMailbox, SessionMailbox.Channel)] = []
        for (id, record) in state.sessions where id != excluding {
            if isGlobal {
                if !record.global.isEmpty { targets.append((record.mailbox, .global)) }
            } else {
                for filter in record.topics.keys where TopicMatcher.matches(filter: filter, topic: mqttTopic) {
                    targets.append((record.mailbox, .topic(filter: filter)))
                }
            }
        }
        return targets
    }

    // MARK: Receiving

    /// Routes messages from the broker to the sessions whose subscriptions they matched.
    private func receive() async {
        for await incoming in client.messages {
            let properties = incoming.properties
            // No Local keeps our own messages away; this is the backstop for brokers without it.
            if properties.userProperty(PubSubWireFormat.origin) == hubIdentifier { continue }
            let isGlobal = incoming.topic == mapping.globalTopic
            let topic = isGlobal ? nil : mapping.topic(forMQTTTopic: incoming.topic)
            guard isGlobal || topic != nil else { continue }
            let message = PubSubMessage(topic: topic, payload: incoming.payload, sender: properties.userProperty(PubSubWireFormat.sender))
            let targets = state.withLock { state -> [(SessionMailbox, SessionMailbox.Channel)] in
                // Subscription identifiers say exactly which filters matched, so a broker that
                // sends one copy per overlapping subscription does not cause double delivery.
                let filters = properties.subscriptionIdentifiers.compactMap { state.filterBySubscriptionIdentifier[$0] }
                guard !filters.isEmpty else {
                    return Self.localTargets(in: state, mqttTopic: incoming.topic, isGlobal: isGlobal, excluding: nil)
                }
                var targets: [(SessionMailbox, SessionMailbox.Channel)] = []
                for filter in filters {
                    let isGlobalFilter = filter == mapping.globalTopic
                    guard isGlobalFilter == isGlobal, let users = state.filters[filter]?.users else { continue }
                    for user in users {
                        guard let record = state.sessions[user] else { continue }
                        if isGlobal {
                            if !record.global.isEmpty { targets.append((record.mailbox, .global)) }
                        } else if record.topics[filter] != nil {
                            targets.append((record.mailbox, .topic(filter: filter)))
                        }
                    }
                }
                return targets
            }
            for (mailbox, channel) in targets { mailbox.enqueue(.init(channel: channel, message: message)) }
        }
    }

    /// Runs one session's handlers for each delivery, in order. Handlers are looked up when the
    /// delivery runs, so a handler removed meanwhile is not called.
    private func drain(_ mailbox: SessionMailbox, session: String) async {
        for await delivery in mailbox.deliveries {
            let handlers = state.withLock { state -> [HandlerEntry] in
                guard let record = state.sessions[session] else { return [] }
                switch delivery.channel {
                case .global: return record.global
                case .topic(let filter): return record.topics[filter] ?? []
                }
            }
            for entry in handlers {
                do {
                    try await entry.handler(delivery.message)
                } catch {
                    logger.warning("PubSub handler of session \(session) failed: \(error)")
                }
            }
        }
    }
}
