import MQTTCore
import NIOCore
import Synchronization

extension BenchRunner {
    /// `topics` retained messages under `fleet/dN/sM`; then a `fleet/#` subscriber timed to its
    /// last retained message; then `updates` retained updates while other clients keep
    /// subscribing and unsubscribing narrow wildcards (what a dashboard fleet does).
    func runRetained() async throws -> BenchReport {
        let count = options.topics
        let progress = BenchProgress()
        let window = BenchWindow()
        let ticker = reportProgress(progress, label: "retained")
        let topics = (0..<count).map { "fleet/d\($0 / 10)/s\($0 % 10)" }
        let prefix = options.clientPrefix
        let loop = loops(for: .publishing)[0]
        let publisherConnection = try await BenchConnection.connect(to: target, clientIdentifier: "\(prefix)-retain", on: loop).get()
        let payloadSize = options.payloadSize
        let window64 = options.window
        let publisher = try await loop.submit {
            BenchPublisher(
                connection: publisherConnection, index: 0, topics: topics, qos: .atLeastOnce, retain: true,
                payloadSize: payloadSize, pace: .flatOut(window: window64), progress: progress, limit: count)
        }.get()
        let storeStart = BenchClock.now()
        try await loop.flatSubmit { publisher.start() }.get()
        let stored = BenchClock.now()
        let rss = options.brokerPID.flatMap { ProcessStatus.residentBytes(pid: $0) }

        let subscriberConnection = try await BenchConnection.connect(
            to: target, clientIdentifier: "\(prefix)-dashboard", on: loops(for: .receiving)[0]
        ).get()
        let receiver = try await subscriberConnection.eventLoop.submit {
            BenchReceiver(connection: subscriberConnection, progress: progress, window: window)
        }.get()
        let qos = options.qos
        let subscribeStart = BenchClock.now()
        let all = subscriberConnection.eventLoop.flatSubmit {
            subscriberConnection.subscribe("fleet/#", qos: qos).flatMap { receiver.waitFor(count: count) }
        }
        let gotAll = try await Self.completes(all, within: .seconds(60), on: subscriberConnection.eventLoop)
        let subscribeEnd = BenchClock.now()
        let retainedReceived = try await subscriberConnection.eventLoop.submit { receiver.received }.get()

        // Updates while wildcard subscribers come and go.
        let churning = Atomic<Bool>(true)
        let churns = Atomic<Int>(0)
        let churnConnections = try await connectMany(4, name: { "\(prefix)-churn-\($0)" })
        let devices = max(1, count / 10)
        for (index, connection) in churnConnections.enumerated() {
            @Sendable func churn(_ step: Int) {
                guard churning.load(ordering: .relaxed) else { return }
                let filter = "fleet/d\((step * 7919 + index * 104_729) % devices)/+"
                connection.subscribe(filter, qos: .atMostOnce).flatMap { connection.unsubscribe(filter) }.whenComplete { _ in
                    churns.add(1, ordering: .relaxed)
                    churn(step + 1)
                }
            }
            connection.eventLoop.execute { churn(0) }
        }
        let updates = options.updates
        let updater = try await loop.submit {
            BenchPublisher(
                connection: publisherConnection, index: 1, topics: topics, qos: .atLeastOnce, retain: true,
                payloadSize: payloadSize, pace: .flatOut(window: window64), progress: progress, limit: updates)
        }.get()
        let updateStart = BenchClock.now()
        let updated = try await Self.completes(loop.flatSubmit { updater.start() }, within: .seconds(120), on: loop)
        let updateEnd = BenchClock.now()
        if !updated { try await loop.submit { updater.stop() }.get() }
        churning.store(false, ordering: .relaxed)
        ticker.cancel()

        var report = BenchReport(scenario: "retained")
        report.parameter("topics", count)
        report.parameter("updates", updates)
        report.parameter("qos", qos.rawValue)
        report.parameter("size", payloadSize)
        report.result("store_per_s", Double(count) / Self.seconds(storeStart, stored), "msg/s")
        report.result("wildcard_subscribe_s", Self.seconds(subscribeStart, subscribeEnd), "s")
        report.result("retained_received", Double(retainedReceived), "msg")
        report.result("complete", gotAll ? 1 : 0)
        report.result("updates_under_churn_s", Self.seconds(updateStart, updateEnd), "s")
        report.result("updates_complete", updated ? 1 : 0)
        report.result("churn_subscribes", Double(churns.load(ordering: .relaxed)))
        if let rss { report.result("rss_mib", Double(rss) / 1_048_576, "MiB") }
        await disconnectAll([publisherConnection, subscriberConnection] + churnConnections)
        return report
    }
}

extension BenchRunner {
    /// Whether `future` succeeds within `limit`: a broker that never finishes shows as
    /// incomplete in the report instead of hanging the run.
    static func completes(_ future: EventLoopFuture<Void>, within limit: TimeAmount, on loop: any EventLoop) async throws -> Bool {
        let promise = loop.makePromise(of: Bool.self)
        future.whenComplete { result in
            if case .failure(let error) = result { promise.fail(error) } else { promise.succeed(true) }
        }
        let timer = loop.scheduleTask(in: limit) { promise.succeed(false) }
        defer { timer.cancel() }
        return try await promise.futureResult.get()
    }
}
