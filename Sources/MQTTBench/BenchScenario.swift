/// What `parley bench` can measure.
public enum BenchScenario: String, CaseIterable, Sendable {
    /// P publishers → 1 subscriber on a wildcard.
    case fanIn = "fan-in"
    /// 1 publisher → N subscribers of one topic.
    case fanOut = "fan-out"
    /// One publisher at a fixed rate → one subscriber; percentiles against the schedule.
    case latency
    /// N idle connections; the broker's memory per connection.
    case idle
    /// Connect, CONNACK, DISCONNECT, close, as fast as possible.
    case connect
    /// N retained topics: store, a wildcard subscribe to the last message, updates under churn.
    case retained
    /// Only publish (`--topic`, `--publishers`, `--rate`).
    case pub
    /// Only subscribe and count (`--filter`, `--subscribers`).
    case sub
    /// Open `--connections` and hold them (same as idle, without the memory reading).
    case conn
}

extension BenchRunner {
    public func run(_ scenario: BenchScenario) async throws -> BenchReport {
        ProcessStatus.raiseDescriptorLimit()
        let pace: PublishPace = options.rate.map { .rate(perSecond: $0 / Double(max(1, options.publishers)), window: 65_000) }
            ?? .flatOut(window: options.window)
        switch scenario {
        case .fanIn:
            return try await runFlow(FlowPlan(
                scenario: scenario.rawValue, publishers: options.publishers, subscribers: 1,
                topic: { "bench/in/\($0)" }, filter: "bench/in/#", pace: pace))
        case .fanOut:
            return try await runFlow(FlowPlan(
                scenario: scenario.rawValue, publishers: 1, subscribers: options.subscribers,
                topic: { _ in "bench/out" }, filter: "bench/out", pace: pace))
        case .latency:
            let rate = options.rate ?? 20_000
            return try await runFlow(FlowPlan(
                scenario: scenario.rawValue, publishers: 1, subscribers: 1,
                topic: { _ in "bench/latency" }, filter: "bench/latency", pace: .rate(perSecond: rate, window: 65_000)))
        case .pub:
            let topic = options.topic
            return try await runFlow(FlowPlan(
                scenario: scenario.rawValue, publishers: options.publishers, subscribers: 0,
                topic: { topic.replacingOccurrences(of: "%i", with: String($0)) }, filter: options.filter, pace: pace))
        case .sub:
            return try await runFlow(FlowPlan(
                scenario: scenario.rawValue, publishers: 0, subscribers: options.subscribers,
                topic: { _ in "" }, filter: options.filter, pace: pace))
        case .idle, .conn:
            return try await runIdle(readMemory: scenario == .idle)
        case .connect:
            return try await runConnectRate()
        case .retained:
            return try await runRetained()
        }
    }
}
