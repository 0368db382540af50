import ArgumentParser
import Foundation
import Logging
import MQTTBroker
import ServiceLifecycle

/// `parley serve`: runs the broker until SIGINT or SIGTERM, with Mosquitto's command-line habits.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the broker (the default command).",
        discussion: """
            Without -c, Parley listens on 0.0.0.0:1883 and allows anonymous clients. With -c, the \
            file is read like mosquitto.conf; -p and --host then replace its default listener.
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

    @Flag(name: [.customShort("v"), .customLong("verbose")], help: "Log everything, as Mosquitto's -v does (log_type all).")
    var verbose = false

    func validate() throws {
        if let port, !(1...65535).contains(port) { throw ValidationError("port \(port) is outside 1...65535") }
        if host != nil && port == nil { throw ValidationError("--host needs -p PORT") }
    }

    func run() async throws {
        var configuration = BrokerConfiguration()
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
        let broker = Broker(configuration: configuration, logger: logger)
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [.init(service: broker)],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        do {
            try await group.run()
        } catch let error as BrokerError {
            logger.critical("\(error)")
            throw ExitCode(1)
        }
    }
}
