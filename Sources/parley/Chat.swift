import ArgumentParser
import ChatService
import Foundation
import Logging
import MQTTBroker
import MosquittoConfig
import ProcessMemory
import ServiceLifecycle

/// `parley chat`: only the chat, against a broker elsewhere — the way to run several chat
/// processes, on several machines, in one conversation.
struct Chat: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve only the chat, against an external MQTT broker.",
        discussion: """
            The broker needs MQTT 5 (user properties, No Local): Mosquitto 2, EMQX, HiveMQ, \
            VerneMQ or Parley. Every chat process on the same broker and prefix shares the \
            conversation and the online lists.
            """
    )

    @Option(name: .customLong("broker"), help: ArgumentHelp(
        "The broker to use: mqtt://HOST:PORT (mqtts:// for TLS; user:password@ allowed).", valueName: "URL"))
    var broker = "mqtt://127.0.0.1:1883"

    @Option(name: .customLong("http-port"), help: ArgumentHelp("Serve the chat page on PORT.", valueName: "PORT"))
    var httpPort = HTTPListenerConfiguration.defaultPort

    @Option(name: .customLong("http-host"), help: ArgumentHelp(
        "Bind the HTTP server to ADDR instead of all interfaces.", valueName: "ADDR"))
    var httpHost = "0.0.0.0"

    @Option(name: .customLong("prefix"), help: ArgumentHelp(
        "Topic prefix: room ROOM is the topic PREFIX/ROOM.", valueName: "PREFIX"))
    var prefix = "chat"

    @Flag(name: [.customShort("v"), .customLong("verbose")], help: "Log everything.")
    var verbose = false

    func validate() throws {
        if !(1...65535).contains(httpPort) { throw ValidationError("HTTP port \(httpPort) is outside 1...65535") }
    }

    func run() async throws {
        AllocatorTuning.fixMmapThreshold()
        var logging = ParleyConfiguration()
        if verbose { logging.logTypes = Set(LogType.allCases) }
        let logger = ParleyLogging.bootstrap(logging)
        var chat = ChatServer(
            broker: broker, host: httpHost, port: httpPort, configuration: ChatConfiguration(prefix: prefix),
            brokerPatience: .zero, logger: logger)
        chat.metrics = PrometheusExport.renderer {}
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [.init(service: chat)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await group.run()
        } catch {
            logger.critical("chat: \(error)")
            throw ExitCode(1)
        }
    }
}
