import Histogram
import MQTTCore
import NIOCore

/// Publishers and subscribers exchanging stamped messages: fan-in, fan-out, latency, and the
/// `pub` and `sub` modes are all this flow with different shapes.
struct FlowPlan: Sendable {
    var scenario: String
    var publishers: Int
    var subscribers: Int
    /// Publisher n's topic.
    var topic: @Sendable (Int) -> String
    var filter: String
    var pace: PublishPace
}

extension BenchRunner {
    func runFlow(_ plan: FlowPlan) async throws -> BenchReport {
        let progress = BenchProgress()
        let window = BenchWindow()
        let backlog = options.backlog > 0
            ? BenchBacklog(publishers: plan.publishers, subscribers: plan.subscribers, limit: options.backlog) : nil
        let qos = options.qos
        let prefix = options.clientPrefix
        let persistent = options.persistentSubscribers
        let subscriberName: @Sendable (Int) -> String = { "\(prefix)-sub-\($0)" }
        if persistent { try await clearSessions(plan.subscribers, role: .receiving, name: subscriberName) }
        let subscriberConnections = try await connectMany(
            plan.subscribers, role: .receiving, name: subscriberName, cleanStart: !persistent)
        var receivers: [BenchReceiver] = []
        for (index, connection) in subscriberConnections.enumerated() {
            let receiver = try await connection.eventLoop.submit {
                BenchReceiver(connection: connection, progress: progress, window: window, backlog: backlog, index: index)
            }.get()
            try await connection.eventLoop.flatSubmit { connection.subscribe(plan.filter, qos: qos) }.get()
            receivers.append(receiver)
        }
        let publisherConnections = try await connectMany(plan.publishers, name: { "\(prefix)-pub-\($0)" })
        var publishers: [BenchPublisher] = []
        for (index, connection) in publisherConnections.enumerated() {
            let options = self.options
            publishers.append(try await connection.eventLoop.submit {
                BenchPublisher(
                    connection: connection, index: UInt32(index), topics: [plan.topic(index)], qos: qos,
                    payloadSize: options.payloadSize, pace: plan.pace, progress: progress,
                    backlog: plan.subscribers > 0 ? backlog : nil)
            }.get())
        }

        let ticker = reportProgress(progress, label: plan.scenario)
        for publisher in publishers { _ = publisher.connection.eventLoop.submit { _ = publisher.start() } }
        try await Task.sleep(for: .seconds(options.warmup))
        window.open(at: BenchClock.now())
        let opened = progress.snapshot()
        try await Task.sleep(for: .seconds(options.duration))
        let closed = progress.snapshot()
        window.close(at: closed.at)
        for publisher in publishers { try await publisher.connection.eventLoop.submit { publisher.stop() }.get() }
        try await drain(progress, subscribers: plan.subscribers)
        ticker.cancel()

        let seconds = Self.seconds(opened.at, closed.at)
        var report = BenchReport(scenario: plan.scenario)
        report.parameter("qos", qos.rawValue)
        report.parameter("size", options.payloadSize)
        report.parameter("publishers", plan.publishers)
        report.parameter("subscribers", plan.subscribers)
        report.parameter("version", target.version == .v5 ? "5" : "3.1.1")
        if case .rate(let perSecond, _) = plan.pace { report.parameter("rate", Int(perSecond * Double(plan.publishers))) }
        if qos != .atMostOnce { report.parameter("window", options.window) }
        if backlog != nil, plan.subscribers > 0, plan.publishers > 0 { report.parameter("backlog", options.backlog) }
        if persistent { report.parameter("persistent_subscribers", "yes") }
        report.parameter("duration", options.duration)
        if plan.publishers > 0 { report.result("sent_per_s", Double(closed.sent - opened.sent) / seconds, "msg/s") }
        if plan.subscribers > 0 {
            report.result("received_per_s", Double(closed.received - opened.received) / seconds, "msg/s")
        }

        var latency = Histogram<UInt64>(highestTrackableValue: 120_000_000_000, numberOfSignificantValueDigits: .three)
        var seen: [[UInt32: SequenceSet]] = []
        var duplicates = 0
        var received = 0
        for receiver in receivers {
            let (histogram, sets, dups, count) = try await receiver.connection.eventLoop.submit {
                (receiver.latency, receiver.seen, receiver.duplicates, receiver.received)
            }.get()
            latency.add(histogram)
            seen.append(sets)
            duplicates += dups
            received += count
        }
        var acknowledged: [UInt32: SequenceSet] = [:]
        var sent = 0
        for (index, publisher) in publishers.enumerated() {
            let (set, count) = try await publisher.connection.eventLoop.submit { (publisher.acknowledged, publisher.sent) }.get()
            acknowledged[UInt32(index)] = set
            sent += count
        }
        if latency.totalCount > 0 {
            for (name, percentile) in [("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("p99.9", 99.9)] {
                report.result("latency_\(name)_us", Double(latency.valueAtPercentile(percentile)) / 1000, "µs")
            }
            report.result("latency_max_us", Double(latency.max) / 1000, "µs")
        }
        if plan.subscribers > 0 && plan.publishers > 0 {
            if qos == .atMostOnce {
                report.result("dropped", Double(max(0, sent * plan.subscribers - received)), "msg")
            } else {
                var lost = 0
                for sets in seen {
                    for (publisher, acked) in acknowledged { lost += acked.countMissing(from: sets[publisher] ?? SequenceSet()) }
                }
                report.result("lost", Double(lost), "msg")
            }
            report.result("duplicates", Double(duplicates), "msg")
        }
        await disconnectAll(publisherConnections + subscriberConnections)
        if persistent { try await clearSessions(plan.subscribers, role: .receiving, name: subscriberName) }
        return report
    }

    /// Waits for messages still on their way: until every acknowledged message could have
    /// arrived and nothing has come for half a second, or nothing has come for three seconds
    /// (some were lost), at most 15 s.
    private func drain(_ progress: BenchProgress, subscribers: Int) async throws {
        var last = progress.snapshot()
        let deadline = last.at + 15_000_000_000
        var quietSince = last.at
        while BenchClock.now() < deadline {
            try await Task.sleep(for: .milliseconds(100))
            let now = progress.snapshot()
            if now.received != last.received { quietSince = now.at }
            last = now
            let complete = subscribers == 0 || now.received >= now.acknowledged * subscribers
            let quiet = now.at - quietSince
            if complete && quiet >= 500_000_000 || quiet >= 3_000_000_000 { return }
        }
    }
}
