import MQTTCore
import NIOCore
import NIOPosix

/// Runs benchmark scenarios against one broker on a group of event loops (one by default, so
/// that a generator pinned to one core is measured as such).
public struct BenchRunner: Sendable {
    public let target: BenchTarget
    public let options: BenchOptions
    let group: any EventLoopGroup
    /// Where the live progress line goes (standard error in `parley bench`).
    let progressLine: @Sendable (String) -> Void

    public init(
        target: BenchTarget, options: BenchOptions, group: any EventLoopGroup,
        progressLine: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.target = target
        self.options = options
        self.group = group
        self.progressLine = progressLine
    }

    /// The loops receiving clients run on and the loops publishing clients run on: with two
    /// loops or more they differ, so a subscriber answers the broker as soon as its bytes
    /// arrive instead of waiting behind publishers that fill the same loop (as the separate
    /// processes of `mosquitto_sub` and `mosquitto_pub` would).
    func loops(for role: BenchRole) -> [any EventLoop] {
        let all = Array(group.makeIterator())
        guard all.count > 1 else { return all }
        let half = all.count / 2
        return role == .receiving ? Array(all[..<half]) : Array(all[half...])
    }

    /// Connects `count` clients, at most `concurrency` dialling at once, spread over the loops
    /// of their role.
    func connectMany(
        _ count: Int, role: BenchRole = .publishing, name: @escaping @Sendable (Int) -> String, concurrency: Int? = nil,
        cleanStart: Bool = true
    ) async throws -> [BenchConnection] {
        let loops = self.loops(for: role)
        let limit = max(1, concurrency ?? options.concurrency)
        var connections = [BenchConnection?](repeating: nil, count: count)
        try await withThrowingTaskGroup(of: (Int, BenchConnection).self) { tasks in
            var next = 0
            func launch() {
                let index = next
                next += 1
                let loop = loops[index % loops.count]
                tasks.addTask {
                    (index, try await BenchConnection.connect(to: target, clientIdentifier: name(index), cleanStart: cleanStart, on: loop).get())
                }
            }
            while next < min(count, limit) { launch() }
            while let (index, connection) = try await tasks.next() {
                connections[index] = connection
                if next < count { launch() }
            }
        }
        return connections.map { $0! }
    }

    /// Connects and disconnects each client with a clean start, so that no session of an
    /// earlier (or this) run is left in the broker.
    func clearSessions(_ count: Int, role: BenchRole, name: @escaping @Sendable (Int) -> String) async throws {
        await disconnectAll(try await connectMany(count, role: role, name: name))
    }

    func disconnectAll(_ connections: [BenchConnection]) async {
        for chunk in stride(from: 0, to: connections.count, by: 500) {
            let futures = connections[chunk..<min(chunk + 500, connections.count)].map { connection in
                connection.eventLoop.flatSubmit { connection.disconnect() }
            }
            for future in futures { _ = try? await future.get() }
        }
    }

    /// Prints a progress line every second until cancelled.
    func reportProgress(_ progress: BenchProgress, label: String) -> Task<Void, Never> {
        let line = progressLine
        return Task {
            var last = progress.snapshot()
            let start = last.at
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                let now = progress.snapshot()
                let seconds = Double(now.at - last.at) / 1e9
                let elapsed = Int((Double(now.at - start) / 1e9).rounded())
                line(
                    "\(label) \(elapsed)s: sent \(now.sent) (\(Self.rate(now.sent - last.sent, seconds))/s), "
                        + "received \(now.received) (\(Self.rate(now.received - last.received, seconds))/s)"
                        + (now.cycles > 0 ? ", cycles \(now.cycles) (\(Self.rate(now.cycles - last.cycles, seconds))/s)" : ""))
                last = now
            }
        }
    }

    static func rate(_ count: Int, _ seconds: Double) -> String {
        let perSecond = seconds > 0 ? Double(count) / seconds : 0
        return perSecond >= 1000 ? "\(BenchReport.format((perSecond / 100).rounded() / 10))k" : BenchReport.format(perSecond.rounded())
    }

    static func seconds(_ from: UInt64, _ to: UInt64) -> Double { Double(to &- from) / 1e9 }
}

/// Which side of a benchmark a client is on, to place it on its loops.
enum BenchRole {
    case publishing
    case receiving
}
