import ArgumentParser
import Foundation
import MQTTBench
import MQTTCore
import NIOPosix

/// `parley bench`: a load generator and measuring client for any MQTT broker, Parley's
/// counterpart of `emqtt_bench` and `mqtt-stresser`.
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure an MQTT broker: throughput, latency, memory per connection, connect rate, retained messages.",
        discussion: """
            Scenarios: fan-in (P publishers -> 1 wildcard subscriber), fan-out (1 -> N), latency \
            (fixed rate, percentiles against the schedule), idle (N connections, broker memory per \
            connection with --pid), connect (connect/disconnect cycles), retained (N retained \
            topics, a wildcard subscribe, updates under subscribe churn), and the modes pub, sub, conn. \
            Prints a progress line on standard error, then a table (or JSON with --json).
            """
    )

    @Argument(help: ArgumentHelp("fan-in, fan-out, latency, idle, connect, retained, pub, sub or conn."))
    var scenario: String

    @Option(name: [.customShort("h"), .customLong("host")], help: "Broker host.")
    var host = "127.0.0.1"
    @Option(name: [.customShort("p"), .customLong("port")], help: "Broker port.")
    var port = 1883
    @Option(name: [.customShort("V"), .customLong("protocol-version")], help: "mqttv311 (or 311) or mqttv5 (or 5).")
    var protocolVersion = "mqttv311"
    @Option(name: [.customShort("u"), .customLong("username")], help: "User name.")
    var username: String?
    @Option(name: [.customShort("P"), .customLong("pw")], help: "Password.")
    var password: String?
    @Option(name: [.customShort("q"), .customLong("qos")], help: "QoS of publications and subscriptions (0, 1, 2).")
    var qos = 0
    @Option(name: [.customShort("s"), .customLong("size")], help: "Payload bytes (at least 16: send time, sequence, publisher).")
    var size = 64
    @Option(name: [.customShort("d"), .customLong("duration")], help: "Seconds measured.")
    var duration = 10.0
    @Option(name: .customLong("warmup"), help: "Seconds run before measuring.")
    var warmup = 2.0
    @Option(name: .customLong("publishers"), help: "Publishing clients (fan-in default 8, pub default 1).")
    var publishers: Int?
    @Option(name: .customLong("subscribers"), help: "Subscribing clients (fan-out default 100, sub default 1).")
    var subscribers: Int?
    @Option(name: .customLong("window"), help: "QoS 1/2 messages in flight per publisher (default 64; 20 at QoS 2, the unreleased messages Mosquitto and Parley allow by default).")
    var window: Int?
    @Option(name: .customLong("backlog"), help: "Messages a publisher may be ahead of its slowest subscriber (0: unlimited).")
    var backlog = 100
    @Option(name: .customLong("rate"), help: "Messages per second over all publishers (latency default 20000; otherwise flat out).")
    var rate: Double?
    @Option(name: [.customShort("n"), .customLong("connections")], help: "Connections for idle and conn.")
    var connections = 10_000
    @Option(name: .customLong("concurrency"), help: "Connections dialled at once (idle, conn) or connect workers.")
    var concurrency: Int?
    @Option(name: .customLong("topics"), help: "Retained topics (retained).")
    var topics = 50_000
    @Option(name: .customLong("updates"), help: "Retained updates under subscribe churn (retained).")
    var updates = 5_000
    @Option(name: [.customShort("t"), .customLong("topic")], help: "Topic for pub; %i is the publisher's number.")
    var topic = "bench/%i"
    @Option(name: .customLong("filter"), help: "Topic filter for sub.")
    var filter = "bench/#"
    @Option(name: .customLong("pid"), help: "The broker's process id, to report its memory (idle, retained).")
    var pid: Int32?
    @Option(name: .customLong("threads"), help: "Event loops of the generator: subscribers on one half, publishers on the other.")
    var threads = 1
    @Flag(name: .customLong("persistent-subscribers"), help: "Subscribers keep persistent sessions (what a broker with persistence stores).")
    var persistentSubscribers = false
    @Flag(name: .customLong("json"), help: "Print the result as one JSON object.")
    var json = false
    @Flag(name: .customLong("quiet"), help: "No progress line.")
    var quiet = false

    func validate() throws {
        guard BenchScenario(rawValue: scenario) != nil else {
            throw ValidationError("unknown scenario \(scenario): use \(BenchScenario.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard (0...2).contains(qos) else { throw ValidationError("QoS must be 0, 1 or 2") }
        guard size >= 16 else { throw ValidationError("--size must be at least 16 bytes") }
        guard ["mqttv311", "311", "mqttv5", "5"].contains(protocolVersion) else {
            throw ValidationError("--protocol-version must be mqttv311 or mqttv5")
        }
        guard threads >= 1, (window ?? 1) >= 1, duration > 0 else { throw ValidationError("--threads, --window and --duration must be positive") }
    }

    func run() async throws {
        let scenario = BenchScenario(rawValue: scenario)!
        var options = BenchOptions()
        options.qos = QoS(rawValue: UInt8(qos))!
        options.payloadSize = size
        options.duration = duration
        options.warmup = warmup
        options.publishers = publishers ?? (scenario == .fanIn ? 8 : 1)
        options.subscribers = subscribers ?? (scenario == .fanOut ? 100 : 1)
        // Past `max_inflight_messages` (20) unreleased QoS 2 messages a broker disconnects the
        // publisher (Receive Maximum exceeded), so QoS 2 stays within it unless told otherwise.
        options.window = window ?? (qos == 2 ? 20 : 64)
        options.rate = rate
        options.backlog = backlog
        options.connections = connections
        options.concurrency = concurrency ?? (scenario == .connect ? 8 : 100)
        options.topics = topics
        options.updates = updates
        options.topic = topic
        options.filter = filter
        options.brokerPID = pid
        options.persistentSubscribers = persistentSubscribers
        let target = BenchTarget(
            host: host, port: port, version: protocolVersion.hasSuffix("5") ? .v5 : .v3_1_1, username: username,
            password: password)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        let quiet = self.quiet
        let runner = BenchRunner(target: target, options: options, group: group) { line in
            guard !quiet else { return }
            FileHandle.standardError.write(Data((line + "\n").utf8))
        }
        do {
            let report = try await runner.run(scenario)
            print(json ? report.json : report.table)
            try? await group.shutdownGracefully()
        } catch {
            try? await group.shutdownGracefully()
            FileHandle.standardError.write(Data("parley bench: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}
