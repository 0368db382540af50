import ArgumentParser
import ChatService
import Foundation
import Logging
import MQTTBridge
import MQTTBroker
import MosquittoConfig
import ProcessMemory
import ServiceLifecycle

/// `parley serve`: runs the broker, and the chat beside it, until SIGINT or SIGTERM, with
/// Mosquitto's command-line habits.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the broker and the chat (the default command).",
        discussion: """
            Without -c, Parley listens on 0.0.0.0:1883 and allows anonymous clients. With -c, the \
            file is read like mosquitto.conf; -p and --host then replace its default listener. The \
            chat page is served on port 8080 (or the file's http_listener) and talks to this \
            broker over MQTT, topics chat/ROOM.
            """
    )

    @Option(name: [.customShort("c"), .customLong("config-file")], help: ArgumentHelp(
        "Read the configuration from FILE (Mosquitto syntax).", valueName: "FILE"))
    var configFile: String?

    @Option(name: [.customShort("p"), .customLong("port")], help: ArgumentHelp(
        "Listen on PORT instead of the default listener's port (1883).", valueName: "PORT"))
    var port: Int?

    @Option(name: .customLong("host"), help: ArgumentHelp(
        "Bind the -p listener to ADDR instead of all interfaces.", valueName: "ADDR"))
    var host: String?

    @Option(name: .customLong("http-port"), help: ArgumentHelp(
        "Serve the chat page on PORT (default 8080, or the file's http_listener).", valueName: "PORT"))
    var httpPort: Int?

    @Option(name: .customLong("http-host"), help: ArgumentHelp(
        "Bind the chat's HTTP server to ADDR instead of all interfaces.", valueName: "ADDR"))
    var httpHost: String?

    @Flag(name: .customLong("no-chat"), help: "Run only the broker.")
    var noChat = false

    @Flag(name: [.customShort("v"), .customLong("verbose")], help: "Log everything, as Mosquitto's -v does (log_type all).")
    var verbose = false

    func validate() throws {
        if let port, !(1...65535).contains(port) { throw ValidationError("port \(port) is outside 1...65535") }
        if let httpPort, !(1...65535).contains(httpPort) { throw ValidationError("HTTP port \(httpPort) is outside 1...65535") }
        if host != nil && port == nil { throw ValidationError("--host needs -p PORT") }
        if noChat && (httpPort != nil || httpHost != nil) { throw ValidationError("--no-chat cannot be used with --http-port or --http-host") }
    }

    func run() async throws {
        AllocatorTuning.fixMmapThreshold()
        var configuration = ParleyConfiguration()
        var warnings: [ConfigurationWarning] = []
        if let configFile {
            do {
                (configuration, warnings) = try MosquittoConfigParser().parse(fileAt: configFile)
            } catch {
                FileHandle.standardError.write(Data("parley: \(error)\n".utf8))
                throw ExitCode(3)
            }
        }
        if let port { configuration.overridePort(port, host: host) }
        if verbose { configuration.logTypes = Set(LogType.allCases) }
        let logger = ParleyLogging.bootstrap(configuration)
        for warning in warnings { logger.warning("\(warning)") }
        let broker = Broker(configuration: configuration.broker, logger: logger)
        do {
            try broker.checkFiles()
        } catch {
            FileHandle.standardError.write(Data("parley: \(error)\n".utf8))
            throw ExitCode(3)
        }
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: broker)]
        let bridges = try configuration.bridges.map { try Bridge(configuration: $0, broker: broker, logger: logger) }
        services += bridges.map { .init(service: $0) }
        if !noChat {
            // Listed after the broker, so it stops first and its pages say goodbye over MQTT.
            let http = configuration.httpListener
            // The chat passes the broker's rules (anonymous clients, passwords, ACL) with
            // credentials that exist only in this process.
            let credentials = broker.internalCredentials
            var chat = ChatServer(
                broker: Self.brokerURL(for: configuration.broker, username: credentials.username, password: credentials.password), host: httpHost ?? http.host ?? "0.0.0.0",
                port: httpPort ?? http.port, logger: logger)
            chat.metrics = PrometheusExport.renderer {
                broker.reportMetrics()
                for bridge in bridges { bridge.reportMetrics() }
            }
            services.append(.init(service: chat))
        }
        if let pidFile = configuration.pidFile {
            // As Mosquitto writes it: the digits alone; removed when the process stops.
            let folder = (pidFile as NSString).deletingLastPathComponent
            if !folder.isEmpty { try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) }
            guard FileManager.default.createFile(atPath: pidFile, contents: Data("\(getpid())".utf8)) else {
                logger.critical("cannot write pid_file \(pidFile)")
                throw ExitCode(1)
            }
        }
        defer { if let pidFile = configuration.pidFile { unlink(pidFile) } }
        let reloader = Self.reloadOnHangUp(broker, logger: logger)
        defer { reloader.cancel() }
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: services,
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        do {
            try await group.run()
        } catch let error as BrokerError {
            logger.critical("\(error)")
            throw ExitCode(1)
        } catch let error as ChatError {
            logger.critical("\(error)")
            throw ExitCode(1)
        } catch let error as ListenerSetupError {
            logger.critical("\(error)")
            throw ExitCode(1)
        }
    }

    /// SIGHUP re-reads the password and ACL files, as it does for Mosquitto; a file that cannot
    /// be read is logged and the rules in force stay.
    static func reloadOnHangUp(_ broker: Broker, logger: Logger) -> any DispatchSourceSignal {
        signal(SIGHUP, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
        source.setEventHandler {
            logger.notice("SIGHUP: reloading")
            do {
                try broker.reload()
            } catch {
                logger.error("reload failed, the previous rules stay in force: \(error)")
            }
        }
        source.resume()
        return source
    }

    /// How the chat reaches the broker in the same process: over MQTT on its first listener,
    /// like any client (PubSub never links the broker).
    static func brokerURL(for configuration: BrokerConfiguration, username: String? = nil, password: String? = nil) -> String {
        let listener = configuration.listeners.first ?? ListenerConfiguration(port: BrokerConfiguration.defaultPort, host: nil)
        let host: String
        switch listener.host {
        case nil, "0.0.0.0", "": host = "127.0.0.1"
        case "::": host = "[::1]"
        case let address? where address.contains(":"): host = "[\(address)]"
        case let address?: host = address
        }
        let userinfo = username.map { user in "\(user):\(password ?? "")@" } ?? ""
        return "mqtt://\(userinfo)\(host):\(listener.port)"
    }
}
