import Foundation
import Hummingbird
import Logging
import ServiceLifecycle

/// The chat as a Service: connects to the broker, serves pages until graceful shutdown, then
/// leaves the broker tidy (this instance's online list cleared).
public struct ChatServer: Service {
    public var broker: String
    public var host: String
    public var port: Int
    public var configuration: ChatConfiguration
    /// How long to wait for a broker that does not answer yet (the embedded one may be starting).
    public var brokerPatience: Duration
    /// How long pages get to close at shutdown before their connections are cut.
    public var shutdownGrace: Duration = .seconds(3)
    public var logger: Logger
    /// Renders the process's metrics for `/metrics` on the chat's HTTP port; the chat's own
    /// figures are recorded just before (`ChatService.reportMetrics`). Nil: no `/metrics`.
    public var metrics: (@Sendable () async -> String)?

    public init(
        broker: String, host: String = "0.0.0.0", port: Int = 8080, configuration: ChatConfiguration = .init(),
        brokerPatience: Duration = .seconds(10), logger: Logger = Logger(label: "parley.chat")
    ) {
        self.broker = broker
        self.host = host
        self.port = port
        self.configuration = configuration
        self.brokerPatience = brokerPatience
        self.logger = logger
    }

    /// The broker URL as it may be logged: a password in it stays out of the log.
    static func withoutCredentials(_ url: String) -> String {
        guard var components = URLComponents(string: url), components.user != nil || components.password != nil else { return url }
        components.user = nil
        components.password = nil
        return components.string ?? url
    }

    public func run() async throws {
        let service = try await ChatService.connect(
            broker: broker, configuration: configuration, waitingUpTo: brokerPatience, logger: logger)
        let logger = self.logger
        let broker = Self.withoutCredentials(self.broker)
        let render = metrics.map { render in
            { @Sendable () async -> String in
                service.reportMetrics()
                return await render()
            }
        }
        let application = service.application(host: host, port: port, metrics: render) { channel in
            let address = channel.localAddress.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" } ?? "?"
            logger.notice("chat on http://\(address) (broker \(broker), topics \(service.configuration.prefix)/ROOM)")
        }
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await application.run() }
                group.addTask {
                    // Pages are told first, so they say goodbye while the broker link is up. A
                    // connection that never closes (an MQTT relay) must not hold the process.
                    guard (try? await gracefulShutdown()) != nil, !Task.isCancelled else { return }
                    service.closePages()
                    try await Task.sleep(for: shutdownGrace)
                    logger.warning("chat: connections did not close within \(shutdownGrace); closing them")
                    throw CancellationError()
                }
                defer { group.cancelAll() }
                try await group.next()
            }
        } catch is CancellationError {
        } catch {
            await service.shutdown()
            throw ChatError(
                .httpServerFailed,
                "the chat's HTTP server on \(host):\(port) failed: \(error). Choose another port with --http-port "
                    + "(or http_listener in the configuration file), or run without the chat (--no-chat).")
        }
        // Pages are served outside the HTTP server's tasks: it may have stopped before they
        // finished saying goodbye.
        service.closePages()
        if !(await service.pagesClosed(within: shutdownGrace)) {
            logger.warning("chat: pages did not close within \(shutdownGrace)")
        }
        await service.shutdown()
    }
}
