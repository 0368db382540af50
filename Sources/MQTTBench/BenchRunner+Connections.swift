import NIOCore
import Synchronization

extension BenchRunner {
    /// Opens `connections` clients and holds them; with the broker's pid, reports its resident
    /// memory before and after, per connection.
    func runIdle(readMemory: Bool) async throws -> BenchReport {
        let count = options.connections
        let pid = readMemory ? options.brokerPID : nil
        let before = pid.flatMap { ProcessStatus.residentBytes(pid: $0) }
        let progress = BenchProgress()
        let ticker = reportProgress(progress, label: "connections")
        let start = BenchClock.now()
        let prefix = options.clientPrefix
        let connections = try await connectMany(count, name: {
            progress.countCycle()
            return "\(prefix)-idle-\($0)"
        })
        let connected = BenchClock.now()
        // Let the broker finish whatever each CONNECT started (session setup, logging).
        try await Task.sleep(for: .seconds(max(2, options.warmup)))
        let after = pid.flatMap { ProcessStatus.residentBytes(pid: $0) }
        ticker.cancel()
        var report = BenchReport(scenario: readMemory ? "idle" : "conn")
        report.parameter("connections", count)
        report.parameter("version", target.version == .v5 ? "5" : "3.1.1")
        report.result("connections", Double(connections.count))
        report.result("connects_per_s", Double(count) / Self.seconds(start, connected), "conn/s")
        if let before, let after {
            report.result("rss_before_mib", Double(before) / 1_048_576, "MiB")
            report.result("rss_after_mib", Double(after) / 1_048_576, "MiB")
            report.result("rss_per_connection_kib", Double(after - before) / 1024 / Double(max(1, count)), "KiB")
        }
        if options.duration > 0 && !readMemory { try await Task.sleep(for: .seconds(options.duration)) }
        await disconnectAll(connections)
        return report
    }

    /// Connect → CONNACK → DISCONNECT → close, by `concurrency` workers, as fast as the broker
    /// allows. Each cycle is chained on its loop with futures: no task switch per cycle.
    func runConnectRate() async throws -> BenchReport {
        let progress = BenchProgress()
        let running = Atomic<Bool>(true)
        let workers = max(1, min(options.concurrency, 64))
        let target = self.target
        let prefix = options.clientPrefix
        let ticker = reportProgress(progress, label: "connect")
        let counter = Atomic<Int>(0)
        @Sendable func cycle(worker: Int, on loop: any EventLoop) {
            guard running.load(ordering: .relaxed) else { return }
            let number = counter.add(1, ordering: .relaxed).newValue
            BenchConnection.connect(to: target, clientIdentifier: "\(prefix)-c\(worker)-\(number)", on: loop)
                .flatMap { $0.disconnect() }
                .whenComplete { result in
                    if case .success = result { progress.countCycle() } else { progress.countFailure() }
                    cycle(worker: worker, on: loop)
                }
        }
        for worker in 0..<workers {
            let loop = group.next()
            loop.execute { cycle(worker: worker, on: loop) }
        }
        try await Task.sleep(for: .seconds(options.warmup))
        let opened = progress.snapshot()
        try await Task.sleep(for: .seconds(options.duration))
        let closed = progress.snapshot()
        running.store(false, ordering: .relaxed)
        try await Task.sleep(for: .milliseconds(500))
        ticker.cancel()
        var report = BenchReport(scenario: "connect")
        report.parameter("concurrency", workers)
        report.parameter("version", target.version == .v5 ? "5" : "3.1.1")
        report.parameter("duration", options.duration)
        report.result("cycles_per_s", Double(closed.cycles - opened.cycles) / Self.seconds(opened.at, closed.at), "cycles/s")
        report.result("failures", Double(closed.failures), "cycles")
        return report
    }
}
