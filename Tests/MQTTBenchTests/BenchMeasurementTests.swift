import Foundation
import Logging
import MQTTBench
import MQTTBroker
import MQTTCore
import NIOPosix
import Testing

/// `parley bench` measured against an in-process Parley whose behaviour is known: what the
/// report says (counts, loss, duplicates, percentiles, connections) must match what happened.
@Suite(.serialized)
struct BenchMeasurementTests {
    /// Acknowledges every PUBLISH but lets nothing through to `bench/in/3`: a 3.1.1 publisher
    /// gets its PUBACK, so every such message is acknowledged and never delivered.
    struct DropsOneTopic: Authorizer {
        func canPublish(_ client: ClientInfo, topic: String) -> Bool { topic != "bench/in/3" }
    }

    static func withBroker(
        hooks: BrokerHooks = BrokerHooks(), _ body: (Int) async throws -> Void
    ) async throws {
        var configuration = BrokerConfiguration()
        configuration.listeners = [ListenerConfiguration(port: 0, host: "127.0.0.1")]
        configuration.sysInterval = 0
        configuration.maxQueuedMessages = 0
        let broker = Broker(configuration: configuration, hooks: hooks, logger: Logger(label: "bench-test"))
        try await broker.start()
        do {
            try await body(broker.localAddresses.first!.port!)
        } catch {
            try await broker.shutdown()
            throw error
        }
        try await broker.shutdown()
    }

    static func run(_ scenario: BenchScenario, port: Int, version: ProtocolVersion = .v3_1_1, _ adjust: (inout BenchOptions) -> Void)
        async throws -> BenchReport
    {
        var options = BenchOptions()
        options.duration = 1
        options.warmup = 0.3
        adjust(&options)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let runner = BenchRunner(target: BenchTarget(port: port, version: version), options: options, group: group)
        let report = try await runner.run(scenario)
        try await group.shutdownGracefully()
        return report
    }

    @Test(arguments: [ProtocolVersion.v3_1_1, .v5])
    func fanInAtQoS1DeliversEveryAcknowledgedMessageOnce(version: ProtocolVersion) async throws {
        try await Self.withBroker { port in
            let report = try await Self.run(.fanIn, port: port, version: version) {
                $0.qos = .atLeastOnce
                $0.publishers = 4
            }
            #expect(report[result: "lost"] == 0)
            #expect(report[result: "duplicates"] == 0)
            #expect((report[result: "received_per_s"] ?? 0) > 0)
            let p50 = try #require(report[result: "latency_p50_us"])
            let p99 = try #require(report[result: "latency_p99_us"])
            let max = try #require(report[result: "latency_max_us"])
            #expect(p50 > 0 && p50 <= p99 && p99 <= max)
        }
    }

    @Test
    func messagesAcknowledgedButNeverDeliveredCountAsLost() async throws {
        try await Self.withBroker(hooks: BrokerHooks(authorizer: DropsOneTopic())) { port in
            let report = try await Self.run(.fanIn, port: port) {
                $0.qos = .atLeastOnce
                $0.publishers = 4
                // Publisher 3 is never read back: without a backlog limit it is not held back.
                $0.backlog = 0
            }
            let lost = try #require(report[result: "lost"])
            #expect(lost > 0)
            #expect(report[result: "duplicates"] == 0)
        }
    }

    @Test
    func publishingAtAFixedRateKeepsToTheSchedule() async throws {
        try await Self.withBroker { port in
            let report = try await Self.run(.latency, port: port) {
                $0.rate = 2_000
                $0.duration = 2
            }
            // Send times come from the schedule, so the count is the schedule's whatever the load.
            let sent = try #require(report[result: "sent_per_s"])
            #expect(abs(sent - 2_000) < 200)
            #expect(report[result: "dropped"] == 0)
            #expect(report[result: "latency_p99.9_us"] != nil)
        }
    }

    @Test
    func idleConnectionsAreCountedAndTheBrokersMemoryRead() async throws {
        try await Self.withBroker { port in
            let report = try await Self.run(.idle, port: port) {
                $0.connections = 200
                $0.warmup = 0
                $0.brokerPID = getpid()
            }
            #expect(report[result: "connections"] == 200)
            #expect((report[result: "rss_after_mib"] ?? 0) > 0)
        }
    }

    @Test
    func connectCyclesCompleteWithoutFailures() async throws {
        try await Self.withBroker { port in
            let report = try await Self.run(.connect, port: port) { $0.concurrency = 4 }
            #expect((report[result: "cycles_per_s"] ?? 0) > 0)
            #expect(report[result: "failures"] == 0)
        }
    }

    @Test
    func aWildcardSubscriberGetsEveryRetainedTopic() async throws {
        try await Self.withBroker { port in
            let report = try await Self.run(.retained, port: port) {
                $0.topics = 2_000
                $0.updates = 200
            }
            #expect(report[result: "retained_received"] == 2_000)
            #expect(report[result: "complete"] == 1)
            #expect(report[result: "updates_complete"] == 1)
        }
    }

    @Test
    func theReportIsOneJSONObjectWithEveryResult() async throws {
        try await Self.withBroker { port in
            let report = try await Self.run(.fanOut, port: port) { $0.subscribers = 5 }
            let object = try #require(
                try JSONSerialization.jsonObject(with: Data(report.json.utf8)) as? [String: Any])
            #expect(object["scenario"] as? String == "fan-out")
            let results = try #require(object["results"] as? [String: Double])
            #expect(results["received_per_s"] != nil)
            #expect(report.table.contains("received_per_s"))
        }
    }
}
