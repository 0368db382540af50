import Foundation
import Logging
import MQTTBroker
import MQTTCore
@testable import Mosquitto
import NIOCore
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A `MosquittoClient` shares its process with whatever else that process serves: a thousand
/// broker connections, files, pipes. Its socket then gets a number past select()'s 1,023, and
/// its consumer may fall behind the broker.
@Suite("MosquittoClient at scale", .serialized)
struct MosquittoClientScaleTests {
    static func broker(_ adjust: (inout BrokerConfiguration) -> Void = { _ in }) async throws -> (Broker, Int) {
        var configuration = BrokerConfiguration()
        configuration.listeners = [ListenerConfiguration(port: 0, host: "127.0.0.1")]
        configuration.sysInterval = 0
        adjust(&configuration)
        var logger = Logger(label: "mosquitto-scale-test")
        logger.logLevel = .critical
        let broker = Broker(configuration: configuration, logger: logger)
        try await broker.start()
        return (broker, broker.localAddresses.first!.port!)
    }

    /// Opens descriptors until the next one is numbered past 1,100; closes them when done.
    final class DescriptorBallast {
        private(set) var descriptors: [Int32] = []

        init(above floor: Int32 = 1100) throws {
            var limit = rlimit()
            getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
            if limit.rlim_cur < 4096 {
                limit.rlim_cur = min(limit.rlim_max, 4096)
                setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
            }
            while true {
                let descriptor = open("/dev/null", O_RDONLY | O_CLOEXEC)
                guard descriptor >= 0 else { throw POSIXError(.EMFILE) }
                descriptors.append(descriptor)
                if descriptor >= floor { break }
            }
        }

        deinit {
            for descriptor in descriptors { close(descriptor) }
        }
    }

    /// What a scenario run in its own process found wrong (reported on its standard error).
    struct ScenarioFailure: Error, CustomStringConvertible {
        var description: String
    }

    static func require(_ condition: Bool, _ description: @autoclosure () -> String) throws {
        if !condition { throw ScenarioFailure(description: description()) }
    }

    /// Runs `scenario` in a process of its own: descriptor numbers depend on what else the
    /// process opens and closes, and suites running in parallel would free low numbers.
    static func runAlone(_ result: ExitTest.Result?) {
        guard let result, result.exitStatus != .exitCode(0) else { return }
        Issue.record("the scenario failed: \(String(decoding: result.standardErrorContent, as: UTF8.self).suffix(2000))")
    }

    static func connectPublishAndReceivePastSelectsLimit(version: MosquittoConfiguration.ProtocolVersion) async throws {
        let (broker, port) = try await Self.broker()
        let ballast = try DescriptorBallast()
        let client = try MosquittoClient(configuration: MosquittoConfiguration(
            port: port, clientIdentifier: "high-descriptor", protocolVersion: version, reconnectDelay: 1...1))
        try await client.connect()
        try require(client.socketDescriptor >= 1024, "the client's socket is \(client.socketDescriptor)")
        try await client.subscribe("high/#", qos: 1)
        var messages = client.messages.makeAsyncIterator()
        try await client.publish("high/one", payload: Data("one".utf8), qos: 1)
        let first = await messages.next()
        try require(first?.topic == "high/one" && first?.payload == Data("one".utf8), "received \(String(describing: first))")
        _ = try broker.client.publish("high/two", "two", qos: .atLeastOnce)
        let second = await messages.next()
        try require(second?.payload == Data("two".utf8), "received \(String(describing: second))")
        await client.disconnect()
        withExtendedLifetime(ballast) {}
        try await broker.shutdown()
    }

    @Test func aClientWhoseSocketIsNumberedPastSelectsLimitConnectsPublishesAndReceives() async {
        Self.runAlone(await #expect(processExitsWith: .success, observing: [\.standardErrorContent]) {
            try await MosquittoClientScaleTests.connectPublishAndReceivePastSelectsLimit(version: .v3_1_1)
            try await MosquittoClientScaleTests.connectPublishAndReceivePastSelectsLimit(version: .v5)
        })
    }

    static func reconnectPastSelectsLimit() async throws {
        let (broker, port) = try await Self.broker {
            $0.listeners = [ListenerConfiguration(port: restartablePort(), host: "127.0.0.1")]
        }
        let client = try MosquittoClient(configuration: MosquittoConfiguration(
            port: port, clientIdentifier: "high-restart", reconnectDelay: 1...1))
        try await client.connect()
        try await client.subscribe("restart/#", qos: 1)
        try await broker.shutdown()
        try require(await eventually { !client.isConnected }, "the client did not notice the broker leave")
        // Taken now, so that every lower number the old connection freed is in use.
        let ballast = try DescriptorBallast()
        let (again, _) = try await Self.broker {
            $0.listeners = [ListenerConfiguration(port: port, host: "127.0.0.1")]
        }
        try require(await eventually { client.isConnected }, "the client did not reconnect")
        try require(client.socketDescriptor >= 1024, "the client's socket is \(client.socketDescriptor)")
        var messages = client.messages.makeAsyncIterator()
        try require(
            await eventually { (try? again.client.publish("restart/x", "back", qos: .atLeastOnce)) ?? 0 > 0 },
            "the subscription was not renewed")
        let message = await messages.next()
        try require(message?.payload == Data("back".utf8), "received \(String(describing: message))")
        await client.disconnect()
        withExtendedLifetime(ballast) {}
        try await again.shutdown()
    }

    /// The broker goes away and comes back on the same port while the client's socket numbers
    /// are past 1,023: the client notices, reconnects by itself and gets its subscription back.
    @Test func aClientPastSelectsLimitReconnectsAfterTheBrokerRestarts() async {
        Self.runAlone(await #expect(processExitsWith: .success, observing: [\.standardErrorContent]) {
            try await MosquittoClientScaleTests.reconnectPastSelectsLimit()
        })
    }

    /// A consumer that stops taking messages: the client stops reading once its receive buffer
    /// is full, the rest waits at the broker and in TCP, and nothing is lost once it reads again.
    @Test func aConsumerThatFallsBehindHoldsTheBrokerBackAndLosesNothing() async throws {
        let (broker, port) = try await Self.broker {
            $0.maxQueuedMessages = 0
            $0.maxQueuedBytes = nil
        }
        let limit = MosquittoConfiguration.ReceiveBuffer(messages: 50, bytes: 1 << 20)
        let client = try MosquittoClient(configuration: MosquittoConfiguration(
            port: port, clientIdentifier: "slow-consumer", reconnectDelay: 1...1, receiveBuffer: limit))
        try await client.connect()
        try await client.subscribe("flow/#", qos: 1)
        // 24 MiB: more than loopback's socket buffers hold, so the broker has to queue.
        let count = 6000
        let filler = ByteBuffer(repeating: UInt8(ascii: "x"), count: 4096)
        for index in 0..<count {
            var payload = ByteBuffer(string: "\(index):")
            payload.writeImmutableBuffer(filler)
            try broker.client.publish("flow/data", payload: payload, qos: .atLeastOnce)
        }
        #expect(await eventually { client.receiveBacklog.messages >= limit.messages })
        var largest = 0
        let watchUntil = ContinuousClock.now + .milliseconds(500)
        while ContinuousClock.now < watchUntil {
            largest = max(largest, client.receiveBacklog.messages)
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(largest <= limit.messages + 1, "the receive buffer grew to \(largest)")
        var expected = 0
        for await message in client.messages {
            let index = String(decoding: message.payload.prefix(while: { $0 != UInt8(ascii: ":") }), as: UTF8.self)
            #expect(Int(index) == expected)
            guard Int(index) == expected else { break }
            expected += 1
            if expected == count { break }
        }
        #expect(expected == count)
        await client.disconnect()
        try await broker.shutdown()
    }
}
