import Histogram
import NIOCore

/// Counts what one subscriber connection receives: messages, latency from the stamps, and per
/// publisher which sequence numbers arrived, for loss and duplicates.
///
/// Owned by its connection's event loop; results are read on that loop after the run.
final class BenchReceiver: @unchecked Sendable {
    let connection: BenchConnection
    let progress: BenchProgress
    let window: BenchWindow
    let backlog: BenchBacklog?
    /// This receiver's number among the subscribers, for `backlog`.
    let index: Int
    /// Per publisher, one past the highest sequence number seen (published to `backlog` once per read).
    private var marks: [Int] = []
    private(set) var received = 0
    private(set) var retainedReceived = 0
    private(set) var duplicates = 0
    private(set) var latency = Histogram<UInt64>(highestTrackableValue: 120_000_000_000, numberOfSignificantValueDigits: .three)
    private(set) var seen: [UInt32: SequenceSet] = [:]
    private var uncounted = 0
    /// Set when the last awaited message arrives.
    var onCount: (Int, EventLoopPromise<Void>)?

    init(connection: BenchConnection, progress: BenchProgress, window: BenchWindow, backlog: BenchBacklog? = nil, index: Int = 0) {
        self.connection = connection
        self.progress = progress
        self.window = window
        self.backlog = backlog
        self.index = index
        connection.onMessage = { [unowned self] payload, retain in self.receive(payload, retain: retain) }
        connection.onReadComplete = { [unowned self] in self.publishCount() }
    }

    private func receive(_ payload: ByteBuffer, retain: Bool) {
        received += 1
        uncounted += 1
        if retain { retainedReceived += 1 }
        if let stamp = BenchStamp(payload: payload) {
            let now = BenchClock.now()
            if stamp.sentAt <= now, now - stamp.sentAt < 120_000_000_000 {
                if window.contains(stamp.sentAt) { latency.record(now - stamp.sentAt) }
                if !seen[stamp.publisher, default: SequenceSet()].insert(stamp.sequence) { duplicates += 1 }
                if backlog != nil { advanceMark(publisher: Int(stamp.publisher), to: Int(stamp.sequence) + 1) }
            }
        }
        if let (target, promise) = onCount, received >= target {
            onCount = nil
            promise.succeed()
        }
    }

    private func advanceMark(publisher: Int, to mark: Int) {
        if publisher >= marks.count { marks.append(contentsOf: repeatElement(0, count: publisher + 1 - marks.count)) }
        if mark > marks[publisher] { marks[publisher] = mark }
    }

    /// Adds this read's messages to the shared progress once per read, not once per message.
    private func publishCount() {
        guard uncounted > 0 else { return }
        progress.countReceived(uncounted)
        uncounted = 0
        if let backlog {
            for (publisher, mark) in marks.enumerated() { backlog.advance(publisher: publisher, subscriber: index, to: mark) }
        }
    }

    /// Completes when `count` messages in all have arrived.
    func waitFor(count: Int) -> EventLoopFuture<Void> {
        if received >= count { return connection.eventLoop.makeSucceededVoidFuture() }
        let promise = connection.eventLoop.makePromise(of: Void.self)
        onCount = (count, promise)
        return promise.futureResult
    }
}
