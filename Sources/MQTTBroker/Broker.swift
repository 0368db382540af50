import Logging
import MQTTCore
import Atomics
import NIOCore
import NIOPosix
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

    private struct Running: Sendable {
        var channels: [any Channel] = []
        var sysTask: RepeatedTask?
        var reclaimTask: RepeatedTask?
        var started = false
    }

    /// - Parameters:
    ///   - eventLoopGroup: the loops to serve on; by default a new group with one loop per core,
    ///     shut down with the broker.
    public init(
        configuration: BrokerConfiguration = BrokerConfiguration(),
        hooks: BrokerHooks = BrokerHooks(),
        eventLoopGroup: (any EventLoopGroup)? = nil,
        logger: Logger = Logger(label: "parley")
    ) {
        self.configuration = configuration
        self.core = BrokerCore(configuration: configuration, hooks: hooks, logger: logger)
        if let eventLoopGroup {
            group = eventLoopGroup
            ownsGroup = false
        } else {
            group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
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

    /// The addresses the listeners are bound to (useful when a port was 0).
    public var localAddresses: [SocketAddress] {
        running.withLock { $0.channels.compactMap(\.localAddress) }
    }

    /// Restores persisted sessions, binds every listener and starts `$SYS` publishing.
    public func start() async throws {
        core.restoreSessions(on: group.next())
        var bound: [any Channel] = []
        do {
            for listener in configuration.listeners {
                let channel = try await bootstrap(for: listener).bind(host: listener.host ?? "0.0.0.0", port: listener.port).get()
                core.logger.notice("listening on \(channel.localAddress.map { "\($0)" } ?? "?") (MQTT 3.1, 3.1.1, 5.0)")
                bound.append(channel)
            }
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
        running.withLock {
            $0.channels = bound
            $0.sysTask = sysTask
            $0.reclaimTask = reclaimTask
            $0.started = true
        }
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

    private func bootstrap(for listener: ListenerConfiguration) -> ServerBootstrap {
        let core = self.core
        let maximumPacketSize = configuration.maxPacketSize.map { Int($0) } ?? MQTTLimits.maximumPacketSize
        let connectionLimit = listener.maxConnections
        let open = ManagedAtomic(0)
        return ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.writeBufferWaterMark, value: .init(low: 256 * 1024, high: 1024 * 1024))
            .childChannelInitializer { channel in
                if let connectionLimit, open.loadThenWrappingIncrement(ordering: .relaxed) >= connectionLimit {
                    open.wrappingDecrement(ordering: .relaxed)
                    core.logger.notice("refusing connection: max_connections \(connectionLimit) reached on port \(listener.port)")
                    return channel.close()
                }
                if connectionLimit != nil {
                    channel.closeFuture.whenComplete { _ in open.wrappingDecrement(ordering: .relaxed) }
                }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        ByteToMessageHandler(MQTTFrameDecoder(maximumPacketSize: maximumPacketSize)))
                    try channel.pipeline.syncOperations.addHandler(
                        ConnectionHandler(core: core, listener: listener, logger: core.logger))
                }
            }
    }

    /// Closes the listeners and every connection, and stops the event loops if the broker owns them.
    public func shutdown() async throws {
        let (channels, tasks) = running.withLock { running in
            defer {
                running.channels = []
                running.sysTask = nil
                running.reclaimTask = nil
            }
            return (running.channels, [running.sysTask, running.reclaimTask])
        }
        for task in tasks { task?.cancel() }
        for channel in channels { try? await channel.close() }
        for session in core.sessions.all {
            let connection = session.guarded.withLock { $0.connection }
            if let connection {
                connection.eventLoop.execute { connection.handler?.serverShuttingDown() }
            }
        }
        if ownsGroup { try await group.shutdownGracefully() }
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
