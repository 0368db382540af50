import Logging
import MQTTCore
import Atomics
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOWebSocket
import ProcessMemory
import ServiceLifecycle
import Synchronization

/// An MQTT 3.1, 3.1.1 and 5.0 broker that a Swift program can embed.
///
/// ```swift
/// let broker = Broker(configuration: configuration)
/// try await broker.start()
/// try broker.client.publish("greetings", "hello")
/// ```
///
/// `Broker` owns its listeners and, unless given one, its event loop group (one loop per core).
/// It is also a `Service`, so it can run under swift-service-lifecycle and stop gracefully on
/// SIGINT/SIGTERM.
public final class Broker: Sendable {
    public let configuration: BrokerConfiguration
    let core: BrokerCore
    private let group: any EventLoopGroup
    private let ownsGroup: Bool
    private let running = Mutex<Running>(Running())
    private let metrics = BrokerMetrics()

    private struct Running: Sendable {
        var channels: [any Channel] = []
        /// The TLS context of each TLS listener, reloaded on SIGHUP.
        var tlsContexts: [TLSContextProvider] = []
        /// The bound listeners' shared state, for per-listener metrics.
        var listeners: [ListenerContext] = []
        var sysTask: RepeatedTask?
        var reclaimTask: RepeatedTask?
        var memoryLimitTask: RepeatedTask?
        var started = false
    }

    /// - Parameters:
    ///   - eventLoopGroup: the loops to serve on; by default a new group with
    ///     `configuration.threads` loops (one per core when 0), shut down with the broker.
    public init(
        configuration: BrokerConfiguration = BrokerConfiguration(),
        hooks: BrokerHooks = BrokerHooks(),
        eventLoopGroup: (any EventLoopGroup)? = nil,
        logger: Logger = Logger(label: "parley")
    ) {
        self.configuration = configuration
        var hooks = hooks
        if hooks.persistence == nil, let settings = configuration.persistence {
            hooks.persistence = FilePersistence(directory: settings.location, fileName: settings.fileName, fsync: settings.fsync)
        }
        self.core = BrokerCore(configuration: configuration, hooks: hooks, logger: logger)
        if let eventLoopGroup {
            group = eventLoopGroup
            ownsGroup = false
        } else {
            group = MultiThreadedEventLoopGroup(numberOfThreads: configuration.threads > 0 ? configuration.threads : System.coreCount)
            ownsGroup = true
        }
    }

    /// An inline client publishing as `clientIdentifier`.
    public func client(named clientIdentifier: String = "inline") -> InlineClient {
        InlineClient(core: core, clientIdentifier: clientIdentifier)
    }

    /// The default inline client.
    public var client: InlineClient { client() }

    /// Counters the broker also publishes under `$SYS`.
    public var statistics: BrokerStatistics { core.statistics }

    /// Re-reads the password and ACL files and the TLS certificates, as Mosquitto does on
    /// SIGHUP. Connections stay up; their next check uses the new rules, new connections get the
    /// new certificate. If a file cannot be read, what it held stays in force.
    public func reload() throws {
        try core.security.load()
        for tls in running.withLock({ $0.tlsContexts }) { try tls.reload() }
        core.logger.notice("reloaded password and ACL files and TLS certificates")
    }

    /// Reads every file the configuration names (password, ACL, TLS certificates and keys)
    /// without opening a listener, so a command line can report a bad file before it starts.
    public func checkFiles() throws {
        try core.security.load()
        for listener in configuration.listeners {
            if let settings = listener.tls { _ = try TLSContextProvider(settings: settings, listenerName: listener.displayName) }
        }
    }

    /// A user name and password that this broker accepts from in-process companions reaching it
    /// over MQTT (the chat's PubSub hub): they pass `allow_anonymous`, the password file and the
    /// ACL like the inline client. They exist only in this process's memory.
    public var internalCredentials: (username: String, password: String) { core.security.internalCredentials }

    /// The addresses the listeners are bound to (useful when a port was 0).
    public var localAddresses: [SocketAddress] {
        running.withLock { $0.channels.compactMap(\.localAddress) }
    }

    /// Restores what the store kept, binds every listener and starts `$SYS` publishing.
    public func start() async throws {
        try core.security.load()
        try core.restore(on: group.next())
        var tlsContexts: [TLSContextProvider] = []
        var bound: [any Channel] = []
        var contexts: [ListenerContext] = []
        do {
            for (index, listener) in configuration.listeners.enumerated() {
                let tls = try listener.tls.map { settings throws(ListenerSetupError) in
                    try TLSContextProvider(settings: settings, listenerName: listener.displayName)
                }
                if let tls { tlsContexts.append(tls) }
                let maximumPacketSize = configuration.maxPacketSize.map { Int($0) } ?? MQTTLimits.maximumPacketSize
                let context = ListenerContext(configuration: listener, index: index, maximumPacketSize: maximumPacketSize)
                contexts.append(context)
                let bootstrap = bootstrap(for: context, tls: tls)
                let channel: any Channel
                if let path = listener.unixSocketPath {
                    channel = try await bootstrap.bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true).get()
                } else {
                    channel = try await bootstrap.bind(host: listener.host ?? "0.0.0.0", port: listener.port).get()
                }
                let kind = [listener.protocolName == .websockets ? "WebSocket" : nil, tls == nil ? nil : "TLS"]
                    .compactMap { $0 }.joined(separator: ", ")
                let address = listener.unixSocketPath ?? channel.localAddress.map { "\($0)" } ?? "?"
                core.logger.notice("listening on \(address)\(kind.isEmpty ? "" : " (\(kind))") (MQTT 3.1, 3.1.1, 5.0)")
                bound.append(channel)
            }
        } catch let error as ListenerSetupError {
            for channel in bound { try? await channel.close() }
            throw error
        } catch {
            for channel in bound { try? await channel.close() }
            throw BrokerError.bindFailed(underlying: error)
        }
        let interval = configuration.sysInterval
        let sysTask: RepeatedTask? = interval > 0
            ? group.next().scheduleRepeatedTask(initialDelay: .zero, delay: .seconds(Int64(interval))) { [core] _ in
                SysTopicPublisher(core: core).publishAll()
            }
            : nil
        let reclaimTask = startReclaimingMemory()
        let memoryLimitTask = startWatchingMemoryLimit()
        running.withLock {
            $0.memoryLimitTask = memoryLimitTask
            $0.channels = bound
            $0.tlsContexts = tlsContexts
            $0.listeners = contexts
            $0.sysTask = sysTask
            $0.reclaimTask = reclaimTask
            $0.started = true
        }
    }

    /// Records the broker's current figures into swift-metrics (connections per listener,
    /// messages and bytes in and out, drops by reason, queued and in-flight messages, sessions,
    /// subscriptions, retained messages): call it before a scrape, or every few seconds.
    public func reportMetrics() {
        metrics.report(core: core, listeners: running.withLock { $0.listeners })
    }

    /// Every few seconds, gives memory freed by departed connections back to the system
    /// (`MemoryReclaimer`), so the broker's resident size follows its connections down.
    private func startReclaimingMemory() -> RepeatedTask? {
        guard MemoryReclaimer.isAvailable else { return nil }
        let loop = group.next()
        let reclaimer = NIOLoopBoundBox.makeBoxSendingValue(MemoryReclaimer(), eventLoop: loop)
        let statistics = core.statistics
        let logger = core.logger
        return loop.scheduleRepeatedTask(initialDelay: Self.reclaimInterval, delay: Self.reclaimInterval) { _ in
            let open = statistics.connectionsOpen.load(ordering: .relaxed)
            if reclaimer.value.tick(openConnections: open) {
                logger.debug("returned memory freed by closed connections to the system (\(open) open)")
            }
        }
    }

    static let reclaimInterval = TimeAmount.seconds(5)

    /// Every 250 ms, compares the resident memory with `memory_limit` and tells connections
    /// whether to refuse PUBLISHes. Over the limit, free pages are first handed back (at most
    /// every 10 s), so memory glibc merely kept does not count.
    private func startWatchingMemoryLimit() -> RepeatedTask? {
        guard let limit = configuration.memoryLimit, ResidentMemory.bytes() != nil else { return nil }
        let core = self.core
        let loop = group.next()
        let lastTrim = NIOLoopBoundBox.makeBoxSendingValue(NIODeadline.uptimeNanoseconds(0), eventLoop: loop)
        return loop.scheduleRepeatedTask(initialDelay: .zero, delay: .milliseconds(250)) { _ in
            guard var resident = ResidentMemory.bytes() else { return }
            if resident > limit, NIODeadline.now() - lastTrim.value > .seconds(10), MemoryReclaimer.trimNow() {
                lastTrim.value = .now()
                resident = ResidentMemory.bytes() ?? resident
            }
            let over = resident > limit
            guard core.memoryExceeded.exchange(over, ordering: .relaxed) != over else { return }
            if over {
                core.logger.warning("resident memory \(resident / 1_048_576) MiB is over memory_limit \(limit / 1_048_576) MiB: refusing new PUBLISHes")
            } else {
                core.logger.notice("resident memory \(resident / 1_048_576) MiB is back under memory_limit: accepting PUBLISHes")
            }
        }
    }

    private func bootstrap(for context: ListenerContext, tls: TLSContextProvider?) -> ServerBootstrap {
        let core = self.core
        let listener = context.configuration
        let connectionLimit = listener.maxConnections
        let open = ManagedAtomic(0)
        var bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.writeBufferWaterMark, value: .init(low: 256 * 1024, high: 1024 * 1024))
            .childChannelOption(.maxMessagesPerRead, value: 1)
            // Each connection keeps its receive buffer between reads: start small (a CONNECT and
            // a ping fit), so an idle connection holds 256 bytes, and grow with the traffic.
            .childChannelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 256, maximum: 65536))
        if listener.unixSocketPath == nil {
            bootstrap = bootstrap.childChannelOption(.socketOption(.tcp_nodelay), value: 1)
        }
        return bootstrap.childChannelInitializer { channel in
                if let connectionLimit, open.loadThenWrappingIncrement(ordering: .relaxed) >= connectionLimit {
                    open.wrappingDecrement(ordering: .relaxed)
                    core.logger.notice("refusing connection: max_connections \(connectionLimit) reached on \(listener.displayName)")
                    return channel.close()
                }
                if connectionLimit != nil {
                    channel.closeFuture.whenComplete { _ in open.wrappingDecrement(ordering: .relaxed) }
                }
                return channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    if let tls { try pipeline.addHandler(tls.makeHandler()) }
                    let addMQTT: @Sendable (any Channel) throws -> Void = { channel in
                        try channel.pipeline.syncOperations.addHandler(ConnectionHandler(core: core, listener: context))
                    }
                    if listener.protocolName == .websockets {
                        try Self.addWebSocketUpgrade(to: channel, maximumPacketSize: context.maximumPacketSize, then: addMQTT)
                    } else {
                        try addMQTT(channel)
                    }
                }
            }
    }

    /// HTTP until the client upgrades to a WebSocket with the `mqtt` subprotocol (or none, or
    /// 3.1's `mqttv3.1`); then MQTT over its binary frames. Any request path is accepted, as
    /// with Mosquitto.
    private static func addWebSocketUpgrade(
        to channel: any Channel, maximumPacketSize: Int, then addMQTT: @escaping @Sendable (any Channel) throws -> Void
    ) throws {
        let upgrader = NIOWebSocketServerUpgrader(
            // A frame may carry a whole packet plus the start of the next.
            maxFrameSize: min(maximumPacketSize + 4096, Int(UInt32.max)),
            automaticErrorHandling: true,
            shouldUpgrade: { channel, head in
                let offered = head.headers[canonicalForm: "Sec-WebSocket-Protocol"].map { String($0) }
                var headers = HTTPHeaders()
                if let chosen = offered.first(where: { $0 == "mqtt" || $0 == "mqttv3.1" }) {
                    headers.add(name: "Sec-WebSocket-Protocol", value: chosen)
                } else if !offered.isEmpty {
                    return channel.eventLoop.makeSucceededFuture(nil)
                }
                return channel.eventLoop.makeSucceededFuture(headers)
            },
            upgradePipelineHandler: { channel, _ in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(WebSocketMQTTHandler())
                    try addMQTT(channel)
                }
            })
        let rejecterName = "parley.http-upgrade-required"
        try channel.pipeline.syncOperations.configureHTTPServerPipeline(
            withServerUpgrade: (upgraders: [upgrader], completionHandler: { context in
                context.pipeline.removeHandler(name: rejecterName, promise: nil)
            }))
        try channel.pipeline.syncOperations.addHandler(HTTPUpgradeRequiredHandler(), name: rejecterName)
    }

    /// Closes the listeners and every connection, and stops the event loops if the broker owns them.
    public func shutdown() async throws {
        let (channels, tasks) = running.withLock { running in
            defer {
                running.channels = []
                running.sysTask = nil
                running.reclaimTask = nil
                running.memoryLimitTask = nil
            }
            return (running.channels, [running.sysTask, running.reclaimTask, running.memoryLimitTask])
        }
        for task in tasks { task?.cancel() }
        for channel in channels { try? await channel.close() }
        for path in configuration.listeners.compactMap(\.unixSocketPath) { unlink(path) }
        for session in core.sessions.all {
            let connection = session.guarded.withLock { $0.connection }
            if let connection {
                connection.eventLoop.execute { connection.handler?.serverShuttingDown() }
            }
        }
        if ownsGroup { try await group.shutdownGracefully() }
        core.persistence?.close()
    }
}

extension Broker: Service {
    /// Starts the broker, serves until graceful shutdown is requested, then stops.
    public func run() async throws {
        try await start()
        try? await gracefulShutdown()
        core.logger.notice("shutting down")
        try await shutdown()
    }
}
