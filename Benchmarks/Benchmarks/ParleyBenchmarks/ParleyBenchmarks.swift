import Benchmark
import MQTTBroker
import MQTTCore
import NIOCore

/// Parley's hot paths one by one, with allocations per operation: decoding and encoding a
/// PUBLISH, matching topics against 100,000 subscriptions, a wildcard over 100,000 retained
/// topics, and routing through the broker to 1 and to 100 subscribers.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal, .instructions],
        maxDuration: .seconds(2),
        maxIterations: 1_000_000)

    for size in [64, 1024, 64 * 1024] {
        for version in [ProtocolVersion.v3_1_1, .v5] {
            let packet = MQTTPacket.publish(PublishPacket(
                topic: "fleet/d42/s7", payload: ByteBuffer(repeating: 0x61, count: size), qos: .atLeastOnce, retain: false,
                duplicate: false, packetIdentifier: 7))
            var encoded = packet.encoded(version: version)
            let firstByte = encoded.readInteger(as: UInt8.self)!
            _ = encoded.readVariableLengthForBenchmark()
            let frame = MQTTFrame(firstByte: firstByte, body: encoded)
            Benchmark("decode PUBLISH \(size) B, MQTT \(version)") { benchmark in
                for _ in benchmark.scaledIterations {
                    blackHole(try MQTTPacket.decode(frame, version: version))
                }
            }
            Benchmark("encode PUBLISH \(size) B, MQTT \(version)") { benchmark in
                var buffer = ByteBuffer()
                for _ in benchmark.scaledIterations {
                    buffer.clear()
                    packet.encode(into: &buffer, version: version)
                    blackHole(buffer)
                }
            }
        }
    }

    // 100,000 subscriptions: 10,000 devices with ten sensors each, plus wildcards of every kind.
    var trie = SubscriptionTrie<Int, Int>()
    for device in 0..<10_000 {
        for sensor in 0..<10 { trie.insert(device * 10 + sensor, for: device * 10 + sensor, filter: "fleet/d\(device)/s\(sensor)") }
    }
    trie.insert(-1, for: -1, filter: "fleet/+/s3")
    trie.insert(-2, for: -2, filter: "fleet/#")
    trie.insert(-3, for: -3, filter: "fleet/d42/#")
    let filtersByKind = [("exact", "fleet/d4242/s7"), ("+", "fleet/d42/s3"), ("#", "fleet/d9999/s9")]
    for (kind, topic) in filtersByKind {
        Benchmark("match a topic against 100,000 subscriptions (\(kind))") { benchmark in
            for _ in benchmark.scaledIterations {
                var matches = 0
                trie.forEachMatch(topic: topic) { _, _ in matches += 1 }
                blackHole(matches)
            }
        }
    }
    Benchmark("parse a $share filter") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(SharedSubscription("$share/workers/fleet/+/s3"))
        }
    }

    var retained = TopicTree<Int>()
    for device in 0..<10_000 {
        for sensor in 0..<10 { retained.set(device * 10 + sensor, at: "fleet/d\(device)/s\(sensor)") }
    }
    for (name, filter) in [("one device, fleet/d42/+", "fleet/d42/+"), ("every device, fleet/+/s3", "fleet/+/s3"), ("all, fleet/#", "fleet/#")] {
        Benchmark("wildcard over 100,000 retained topics: \(name)") { benchmark in
            for _ in benchmark.scaledIterations {
                var matches = 0
                retained.forEachMatch(filter: filter) { _ in matches += 1 }
                blackHole(matches)
            }
        }
    }

    for subscribers in [1, 100] {
        Benchmark("route a PUBLISH to \(subscribers) subscriber(s)") { benchmark in
            let broker = Broker()
            let client = broker.client
            let subscriptions = try (0..<subscribers).map { _ in
                try client.subscribe("bench/route", options: SubscriptionOptions(qos: .atMostOnce), queueLimit: 1)
            }
            let payload = ByteBuffer(repeating: 0x61, count: 64)
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                blackHole(try client.publish("bench/route", payload: payload))
            }
            benchmark.stopMeasurement()
            for subscription in subscriptions { subscription.cancel() }
        }
    }
}

extension ByteBuffer {
    /// Skips the remaining length of a fixed header (the framing decoder's job in the broker).
    mutating func readVariableLengthForBenchmark() -> Int {
        var value = 0
        var shift = 0
        while let byte = readInteger(as: UInt8.self) {
            value |= Int(byte & 0x7F) << shift
            shift += 7
            if byte & 0x80 == 0 { break }
        }
        return value
    }
}
