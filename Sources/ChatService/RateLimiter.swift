import Foundation

/// A token bucket: `burst` messages at once, then `perSecond` sustained. A value owned by one
/// page session's task.
struct RateLimiter: Sendable {
    let burst: Double
    let perSecond: Double
    private var tokens: Double
    private var updated: ContinuousClock.Instant

    init(burst: Int, perSecond: Double, now: ContinuousClock.Instant = .now) {
        self.burst = Double(max(burst, 1))
        self.perSecond = perSecond
        tokens = self.burst
        updated = now
    }

    /// Takes one token if there is one.
    mutating func allow(at now: ContinuousClock.Instant = .now) -> Bool {
        let elapsed = now - updated
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        tokens = min(burst, tokens + seconds * perSecond)
        updated = now
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }
}
