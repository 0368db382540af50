import Atomics
import Synchronization

/// Running totals of a benchmark, added to by every connection's loop and read by the progress
/// line and the measurement window; per-read batching keeps the atomics off the hot path.
final class BenchProgress: Sendable {
    private let sent = Atomic<Int>(0)
    private let received = Atomic<Int>(0)
    private let acknowledged = Atomic<Int>(0)
    private let cycles = Atomic<Int>(0)
    private let failures = Atomic<Int>(0)

    func countSent(_ n: Int) { sent.add(n, ordering: .relaxed) }
    func countReceived(_ n: Int) { received.add(n, ordering: .relaxed) }
    func countAcknowledged(_ n: Int) { acknowledged.add(n, ordering: .relaxed) }
    func countCycle() { cycles.add(1, ordering: .relaxed) }
    func countFailure() { failures.add(1, ordering: .relaxed) }

    struct Snapshot {
        var at: UInt64
        var sent: Int
        var received: Int
        var acknowledged: Int
        var cycles: Int
        var failures: Int
    }

    func snapshot() -> Snapshot {
        Snapshot(
            at: BenchClock.now(), sent: sent.load(ordering: .relaxed), received: received.load(ordering: .relaxed),
            acknowledged: acknowledged.load(ordering: .relaxed), cycles: cycles.load(ordering: .relaxed),
            failures: failures.load(ordering: .relaxed))
    }
}

/// The measured part of a run (after warm-up, before the end): only messages sent inside it
/// count towards the latency percentiles.
final class BenchWindow: Sendable {
    private let start = Atomic<UInt64>(UInt64.max)
    private let end = Atomic<UInt64>(UInt64.max)

    func open(at time: UInt64) { start.store(time, ordering: .relaxed) }
    func close(at time: UInt64) { end.store(time, ordering: .relaxed) }

    func contains(_ time: UInt64) -> Bool {
        time >= start.load(ordering: .relaxed) && time < end.load(ordering: .relaxed)
    }
}

/// How far each subscriber has got in each publisher's sequence (the highest number seen, plus
/// one), so that a publisher can keep at most `limit` messages between itself and its slowest
/// subscriber. A closed loop like this measures what a broker sustains instead of how much it
/// can buffer, and a message the broker drops does not stall anyone (later numbers move the
/// mark past it).
///
/// A publisher held back registers a wake-up; the receiver that moves a mark runs it (directly
/// when both share a loop, through `execute` otherwise), so nobody polls.
final class BenchBacklog: Sendable {
    let limit: Int
    private let subscribers: Int
    private let marks: [ManagedAtomic<Int>]
    private let waiting: [ManagedAtomic<Bool>]
    private let wakeUps: Mutex<[Int: @Sendable () -> Void]>

    init(publishers: Int, subscribers: Int, limit: Int) {
        self.limit = limit
        self.subscribers = subscribers
        self.marks = (0..<(publishers * subscribers)).map { _ in ManagedAtomic(0) }
        self.waiting = (0..<publishers).map { _ in ManagedAtomic(false) }
        self.wakeUps = Mutex([:])
    }

    func register(publisher: Int, wakeUp: @escaping @Sendable () -> Void) {
        wakeUps.withLock { $0[publisher] = wakeUp }
    }

    func advance(publisher: Int, subscriber: Int, to mark: Int) {
        let index = publisher * subscribers + subscriber
        guard index < marks.count else { return }
        marks[index].store(mark, ordering: .releasing)
        if waiting[publisher].exchange(false, ordering: .acquiringAndReleasing) {
            wakeUps.withLock { $0[publisher] }?()
        }
    }

    /// Whether `publisher`, having sent `sent`, must wait; if so it is woken by the next
    /// subscriber that moves on.
    func mustWait(publisher: Int, sent: Int) -> Bool {
        guard subscribers > 0, outstanding(publisher: publisher, sent: sent) >= limit else { return false }
        waiting[publisher].store(true, ordering: .sequentiallyConsistent)
        // A subscriber may have moved between the look and the flag: look again.
        if outstanding(publisher: publisher, sent: sent) < limit {
            waiting[publisher].store(false, ordering: .relaxed)
            return false
        }
        return true
    }

    private func outstanding(publisher: Int, sent: Int) -> Int {
        var slowest = Int.max
        for subscriber in 0..<subscribers {
            slowest = min(slowest, marks[publisher * subscribers + subscriber].load(ordering: .acquiring))
        }
        return sent - slowest
    }
}
