import CoreMetrics
import Synchronization

/// The broker's figures as swift-metrics values, for whatever backend the program bootstraps
/// (`parley` serves them to Prometheus at `/metrics`).
///
/// The hot paths keep counting into `BrokerStatistics`' atomics, as for `$SYS`; `report`
/// carries the counters' growth since the last report into swift-metrics counters and sets
/// the gauges, so metrics cost nothing per message. Call it before a scrape, or periodically
/// for a pushing backend. The metric objects are made on first use, when the program has
/// bootstrapped its backend. State: the last values reported, under `state`'s mutex.
final class BrokerMetrics: Sendable {
    private struct State: Sendable {
        var reported: [String: Int] = [:]
    }

    private let state = Mutex(State())

    func report(core: BrokerCore, listeners: [ListenerContext]) {
        let statistics = core.statistics
        var counters: [(name: String, dimensions: [(String, String)], value: Int)] = [
            ("parley_packets_received_total", [], statistics.messagesReceived.load(ordering: .relaxed)),
            ("parley_packets_sent_total", [], statistics.messagesSent.load(ordering: .relaxed)),
            ("parley_messages_received_total", [], statistics.publishReceived.load(ordering: .relaxed)),
            ("parley_messages_sent_total", [], statistics.publishSent.load(ordering: .relaxed)),
            ("parley_bytes_received_total", [], statistics.bytesReceived.load(ordering: .relaxed)),
            ("parley_bytes_sent_total", [], statistics.bytesSent.load(ordering: .relaxed)),
        ]
        for (reason, count) in statistics.dropsByReason {
            counters.append(("parley_messages_dropped_total", [("reason", reason)], count))
        }
        var queued = 0
        var inflight = 0
        for session in core.sessions.all {
            session.withState { state in
                queued += state.queuedCount
                inflight += state.inflightCount
            }
        }
        var gauges: [(name: String, dimensions: [(String, String)], value: Int)] = [
            ("parley_clients_connected", [], statistics.clientsConnected.load(ordering: .relaxed)),
            ("parley_sessions", [], core.sessions.count),
            ("parley_subscriptions", [], core.router.subscriptionCount),
            ("parley_retained_messages", [], core.retainedStore.retainedCount),
            ("parley_messages_queued", [], queued),
            ("parley_messages_inflight", [], inflight),
        ]
        for listener in listeners {
            gauges.append(("parley_connections", [("listener", listener.configuration.displayName)],
                           listener.openConnections.load(ordering: .relaxed)))
        }
        let increments = state.withLock { state in
            counters.map { counter -> Int in
                let key = counter.name + counter.dimensions.map { "|\($0.1)" }.joined()
                defer { state.reported[key] = counter.value }
                return max(0, counter.value - (state.reported[key] ?? 0))
            }
        }
        // An increment of 0 still makes the series, so a scrape shows every counter from the start.
        for (counter, increment) in zip(counters, increments) {
            Counter(label: counter.name, dimensions: counter.dimensions).increment(by: increment)
        }
        for gauge in gauges {
            Gauge(label: gauge.name, dimensions: gauge.dimensions).record(gauge.value)
        }
    }
}
