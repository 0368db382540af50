import Foundation
import Logging
import Metrics
import MQTTBroker
import MQTTCore
import Mosquitto
import NIOCore
import ServiceLifecycle
import Synchronization

/// A link from an embedded Parley broker to another MQTT broker, configured in Mosquitto's
/// vocabulary (`BridgeConfiguration`).
///
/// The local side is the broker's inline client, so `MQTTBroker` never links libmosquitto; the
/// remote side is a `MosquittoClient`. Outgoing QoS 1/2 messages are handed to libmosquitto,
/// which keeps them, in order, while the remote is unreachable and sends them when the link
/// returns, resending those in flight (with `cleansession false` the remote keeps the QoS 2
/// state, so none is delivered twice). The queue is bounded by the broker's
/// `max_queued_messages` / `max_queued_bytes`: past them the newest message is dropped and
/// counted, as Mosquitto does for a slow client. QoS 0 messages are not stored.
///
/// Loops are cut on both sides: the local subscriptions use No Local (the bridge's own inline
/// publishes do not go out again), and the remote ones too under MQTT 5; under 3.1.1 the
/// `BridgeEchoFilter` drops what the remote sends straight back.
///
/// State: `status` and the echo filter sit behind mutexes; the pumps run on their own tasks.
public final class Bridge: Sendable {
    public let configuration: BridgeConfiguration
    let local: InlineClient
    let remote: MosquittoClient
    let logger: Logger
    /// Outgoing queue bounds (messages, payload bytes); nil = unbounded.
    let queueLimit: (messages: Int?, bytes: Int?)
    private let statusBox = Mutex(BridgeStatus())
    private let echoes = Mutex(BridgeEchoFilter())
    private let tasks = Mutex<[Task<Void, Never>]>([])
    private let subscriptions = Mutex<[InlineSubscription]>([])
    private let stopping = Mutex(false)
    /// Index into `configuration.addresses` of the current link, and the failover task if one runs.
    private let link = Mutex<(address: Int, failover: Task<Void, Never>?)>((0, nil))

    /// libmosquitto numbers messages with 16 bits; more unacknowledged ones than that would
    /// collide, so an unlimited queue is capped here.
    static let libraryQueueCap = 60_000

    public init(configuration: BridgeConfiguration, broker: Broker, logger: Logger = Logger(label: "parley.bridge")) throws {
        self.configuration = configuration
        var logger = logger
        logger[metadataKey: "bridge"] = "\(configuration.name)"
        self.logger = logger
        local = broker.client(named: "parley-bridge-local-\(configuration.name)")
        let limits = broker.configuration
        queueLimit = (
            min(limits.maxQueuedMessages == 0 ? Self.libraryQueueCap : limits.maxQueuedMessages, Self.libraryQueueCap),
            limits.maxQueuedBytes
        )
        remote = try MosquittoClient(configuration: Self.remoteConfiguration(for: configuration))
    }

    /// What may wait between the remote and the local broker: acknowledged at the remote, not
    /// yet published here (see `forwardIn`).
    static let receiveBuffer = MosquittoConfiguration.ReceiveBuffer(messages: 64, bytes: 1 << 20)

    static func remoteConfiguration(for bridge: BridgeConfiguration) -> MosquittoConfiguration {
        let address = bridge.addresses.first ?? .init(host: "127.0.0.1")
        // One address: libmosquitto reconnects, doubling from BASE to CAP. Several: the
        // bridge's own jittered `failOver` moves along them, libmosquitto's retry of the
        // current one only backs it up, at the slowest rate.
        let base = bridge.restartTimeout.base
        let cap = bridge.restartTimeout.cap ?? base
        var configuration = MosquittoConfiguration(
            host: address.host, port: address.port,
            clientIdentifier: bridge.remoteClientIdentifier ?? "parley-bridge-\(bridge.name)",
            keepAlive: bridge.keepAlive, cleanSession: bridge.cleanSession,
            // A kept session must outlive the link's outages; a day, like a long maintenance window.
            sessionExpiryInterval: bridge.cleanSession ? nil : 86_400,
            protocolVersion: bridge.protocolVersion == .mqtt5 ? .v5 : .v3_1_1,
            username: bridge.remoteUsername, password: bridge.remotePassword,
            reconnectDelay: bridge.addresses.count > 1 ? cap...cap : base...cap,
            receiveBuffer: receiveBuffer)
        if bridge.notifications {
            configuration.will = MosquittoMessage(topic: bridge.stateTopic, payload: Data("0".utf8), qos: 1, retain: true)
        }
        if let tls = bridge.tls {
            configuration.tls = MosquittoConfiguration.TLS(
                caFile: tls.caFile, caPath: tls.caPath, certificateFile: tls.certificateFile, keyFile: tls.keyFile,
                insecure: tls.insecure)
        }
        return configuration
    }

    public var status: BridgeStatus {
        var status = statusBox.withLock { $0 }
        status.inboundQueued = remote.receiveBacklog.messages
        return status
    }

    private var isV5: Bool { configuration.protocolVersion == .mqtt5 }

    /// Counter values last carried into swift-metrics (see `reportMetrics`).
    private let reported = Mutex<[String: Int]>([:])

    /// Records the link into swift-metrics: `parley_bridge_connected`, the queue depth each way
    /// (`direction="out"`: sent and not yet acknowledged by the remote; `"in"`: received and not
    /// yet published here), and the forwarded and dropped message counters.
    public func reportMetrics() {
        let status = self.status
        let name = ("bridge", configuration.name)
        Gauge(label: "parley_bridge_connected", dimensions: [name]).record(status.isConnected ? 1 : 0)
        Gauge(label: "parley_bridge_queue_depth", dimensions: [name, ("direction", "out")]).record(remote.unacknowledgedSends.messages)
        Gauge(label: "parley_bridge_queue_depth", dimensions: [name, ("direction", "in")]).record(status.inboundQueued)
        let counters: [(key: String, label: String, dimensions: [(String, String)], value: Int)] = [
            ("out", "parley_bridge_messages_forwarded_total", [name, ("direction", "out")], status.forwardedOut),
            ("in", "parley_bridge_messages_forwarded_total", [name, ("direction", "in")], status.forwardedIn),
            ("dropped", "parley_bridge_messages_dropped_total", [name], status.dropped),
        ]
        let increments = reported.withLock { reported in
            counters.map { counter -> Int in
                defer { reported[counter.key] = counter.value }
                return max(0, counter.value - (reported[counter.key] ?? 0))
            }
        }
        for (counter, increment) in zip(counters, increments) {
            Counter(label: counter.label, dimensions: counter.dimensions).increment(by: increment)
        }
    }

    // MARK: Running

    /// Subscribes on both sides and starts connecting; returns at once. While the remote does
    /// not answer, the bridge keeps trying (`restart_timeout`) and queues what it should send.
    public func start() async throws {
        setLocalState(connected: false)
        var pumps: [Task<Void, Never>] = []
        for topic in configuration.topics where topic.direction.forwardsOut {
            let options = SubscriptionOptions(qos: topic.qos, noLocal: true, retainAsPublished: true)
            let subscription = try local.subscribe(topic.localFilter, options: options, queueLimit: 100_000)
            subscriptions.withLock { $0.append(subscription) }
            pumps.append(Task { [self] in
                for await message in subscription { forwardOut(message, along: topic) }
            })
        }
        for topic in configuration.topics where topic.direction.forwardsIn {
            // Recorded now, sent at every connection that finds no session at the remote.
            let options = SubscribeOptions(noLocal: true, retainAsPublished: true)
            try await remote.subscribe(topic.remoteFilter, qos: Int(topic.qos.rawValue), options: options)
        }
        pumps.append(Task { [self] in await forwardIn() })
        pumps.append(Task { [self] in await watchLink() })
        pumps.append(Task { [self] in await connectUntilUp() })
        tasks.withLock { $0 += pumps }
    }

    /// Waits briefly for queued messages to be acknowledged, then closes the link.
    public func stop() async {
        stopping.withLock { $0 = true }
        for subscription in subscriptions.withLock({ $0 }) { subscription.cancel() }
        if configuration.notifications, remote.isConnected {
            try? remote.send(configuration.stateTopic, payload: Data("0".utf8), qos: 1, retain: true)
        }
        await remote.disconnect()
        setLocalState(connected: false)
        let running = tasks.withLock { $0 } + [link.withLock { $0.failover }].compactMap { $0 }
        for task in running { task.cancel() }
        for task in running { await task.value }
    }

    /// The first connection; after a lost link libmosquitto reconnects, or `failOver` with
    /// several addresses.
    private func connectUntilUp() async {
        var attempt = 0
        while !Task.isCancelled && !stopping.withLock({ $0 }) {
            let index = attempt % configuration.addresses.count
            let address = configuration.addresses[index]
            do {
                if attempt == 0 {
                    try await remote.connect()
                } else {
                    try await remote.reconnect(to: address.host, port: address.port)
                }
                link.withLock { $0.address = index }
                return
            } catch {
                if attempt < configuration.addresses.count {
                    logger.warning("bridge \(configuration.name): cannot reach \(address): \(error); retrying")
                }
                attempt += 1
                if attempt % configuration.addresses.count == 0 || configuration.addresses.count == 1 {
                    try? await Task.sleep(for: delay(attempt: attempt / configuration.addresses.count))
                }
            }
        }
    }

    /// After a lost link, with several addresses: waits `restart_timeout` (jittered), and while
    /// the link is still down moves it along the addresses — the first one again after each
    /// loss unless `round_robin` (Mosquitto's primary/backup and round-robin modes).
    private func failOver() async {
        let count = configuration.addresses.count
        var next = configuration.roundRobin ? (link.withLock { $0.address } + 1) % count : 0
        var attempt = 0
        while !Task.isCancelled && !stopping.withLock({ $0 }) {
            attempt += 1
            try? await Task.sleep(for: delay(attempt: attempt))
            guard !Task.isCancelled, !remote.isConnected else { break }
            let address = configuration.addresses[next]
            logger.notice("bridge \(configuration.name): trying \(address)")
            if (try? await remote.reconnect(to: address.host, port: address.port)) != nil {
                link.withLock { $0.address = next }
            }
            next = (next + 1) % count
        }
        link.withLock { $0.failover = nil }
    }

    func delay(attempt: Int) -> Duration {
        Self.reconnectDelay(attempt: attempt, base: configuration.restartTimeout.base, cap: configuration.restartTimeout.cap)
    }

    /// `restart_timeout BASE CAP`: doubling from BASE up to CAP, each wait a random part of
    /// it ("full jitter"), so bridges that lost the same broker do not return all at once.
    /// Without a cap, BASE every time.
    public static func reconnectDelay(attempt: Int, base: Int, cap: Int?) -> Duration {
        guard let cap else { return .seconds(base) }
        let ceiling = min(Double(cap), Double(base) * pow(2, Double(min(max(attempt, 0), 20))))
        return .milliseconds(Int(Double.random(in: Double(base)...max(Double(base), ceiling)) * 1000))
    }

    private func watchLink() async {
        for await event in remote.events {
            let address = configuration.addresses[link.withLock { $0.address }].description
            switch event {
            case .connected:
                statusBox.withLock {
                    $0.isConnected = true
                    $0.address = address
                }
                logger.notice("bridge \(configuration.name): connected to \(address)")
                setLocalState(connected: true)
                if configuration.notifications {
                    try? remote.send(configuration.stateTopic, payload: Data("1".utf8), qos: 1, retain: true)
                }
            case .disconnected(let code):
                statusBox.withLock { $0.isConnected = false }
                if code != 0 { logger.warning("bridge \(configuration.name): lost the link to \(address) (\(code)); queueing") }
                setLocalState(connected: false)
                if configuration.addresses.count > 1 && !stopping.withLock({ $0 }) {
                    link.withLock { link in
                        if link.failover == nil { link.failover = Task { [self] in await failOver() } }
                    }
                }
            }
        }
    }

    private func setLocalState(connected: Bool) {
        guard configuration.notifications else { return }
        _ = try? local.publishStatus(configuration.stateTopic, connected ? "1" : "0")
    }

    // MARK: Forwarding

    private func forwardOut(_ message: InlineMessage, along topic: BridgeConfiguration.Topic) {
        let remoteTopic = topic.remoteTopic(forLocal: message.topic)
        let payload = Data(message.payload.readableBytesView)
        let qos = Int(message.qos.rawValue)
        if qos == 0 && !remote.isConnected {
            countDrop("the link is down and QoS 0 messages are not stored")
            return
        }
        if qos > 0 {
            let (messages, bytes) = remote.unacknowledgedSends
            if let limit = queueLimit.messages, messages >= limit {
                countDrop("\(messages) messages are waiting for the remote broker (max_queued_messages)")
                return
            }
            if let limit = queueLimit.bytes, bytes + payload.count > limit {
                countDrop("\(bytes) bytes are waiting for the remote broker (max_queued_bytes)")
                return
            }
        }
        if !isV5 && comesBack(remoteTopic) {
            echoes.withLock { $0.sent(topic: remoteTopic, payload: payload) }
        }
        do {
            try remote.send(
                remoteTopic, payload: payload, qos: qos, retain: message.retain,
                properties: MosquittoProperties(bridging: message.properties))
            statusBox.withLock { $0.forwardedOut += 1 }
        } catch {
            countDrop("\(error)")
        }
    }

    /// Whether our own subscriptions at the remote match `remoteTopic` (so it will echo).
    private func comesBack(_ remoteTopic: String) -> Bool {
        configuration.topics.contains { $0.direction.forwardsIn && TopicMatcher.matches(filter: $0.remoteFilter, topic: remoteTopic) }
    }

    /// Remote messages go to the local broker one at a time, in order. While the local broker
    /// refuses them (over `memory_limit`), QoS 1/2 messages are retried and no new one is taken:
    /// the remote client's small receive buffer fills, it stops reading its socket, and the
    /// remote broker keeps the rest (TCP backpressure). QoS 0 messages are dropped then.
    ///
    /// The window this leaves: libmosquitto 2.0 sends PUBACK (or PUBREC) for an incoming message
    /// before handing it over, so up to `receiveBuffer` messages (plus the one being retried)
    /// are acknowledged at the remote but not yet published here, and are lost if this process
    /// dies. The buffer is kept small for that reason.
    private func forwardIn() async {
        for await message in remote.messages {
            guard
                let topic = configuration.topics.first(where: {
                    $0.direction.forwardsIn && TopicMatcher.matches(filter: $0.remoteFilter, topic: message.topic)
                })
            else { continue }
            if !isV5, echoes.withLock({ $0.isEcho(topic: message.topic, payload: message.payload) }) {
                statusBox.withLock { $0.echoesSuppressed += 1 }
                continue
            }
            let localTopic = topic.localTopic(forRemote: message.topic)
            let qos = QoS(rawValue: UInt8(min(message.qos, Int(topic.qos.rawValue)))) ?? .atMostOnce
            let payload = ByteBuffer(bytes: message.payload)
            let properties = MQTTProperties(bridging: message.properties)
            var delay = Duration.milliseconds(10)
            var refusals = 0
            while true {
                do {
                    try local.publish(localTopic, payload: payload, qos: qos, retain: message.retain, properties: properties)
                    statusBox.withLock { $0.forwardedIn += 1 }
                } catch let error where error.reasonCode == .quotaExceeded && qos != .atMostOnce && !Task.isCancelled {
                    refusals += 1
                    if refusals == 1 {
                        logger.warning("bridge \(configuration.name): the local broker refuses '\(localTopic)' (\(error)); holding the remote back")
                    }
                    statusBox.withLock { $0.inboundStalled = true }
                    try? await Task.sleep(for: delay)
                    delay = min(delay * 2, .milliseconds(500))
                    continue
                } catch {
                    logger.warning("bridge \(configuration.name): cannot publish '\(localTopic)' here: \(error)")
                }
                break
            }
            if refusals > 0 { statusBox.withLock { $0.inboundStalled = false } }
        }
    }

    private func countDrop(_ reason: String) {
        let dropped = statusBox.withLock { status in
            status.dropped += 1
            return status.dropped
        }
        if dropped == 1 || dropped % 1000 == 0 {
            logger.warning("bridge \(configuration.name): outgoing messages are being dropped (\(dropped) so far): \(reason)")
        }
    }
}

extension Bridge: Service {
    /// Starts, serves until graceful shutdown, then stops.
    public func run() async throws {
        try await start()
        try? await gracefulShutdown()
        await stop()
    }
}
