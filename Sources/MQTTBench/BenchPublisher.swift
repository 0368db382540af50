import MQTTCore
import NIOCore

/// How a publisher paces itself.
public enum PublishPace: Sendable, Equatable {
    /// As fast as the socket takes it (QoS 0), or keeping `window` messages unacknowledged (QoS 1/2).
    case flatOut(window: Int)
    /// `perSecond` messages per second on a fixed schedule; each message carries its scheduled
    /// send time, so a stall shows in the latencies instead of hiding as a slower rate.
    case rate(perSecond: Double, window: Int)
}

/// Publishes stamped messages on one connection.
///
/// Owned by its connection's event loop. `sent` and the acknowledged set are read after `stop`,
/// on that loop, by the run that collects results.
final class BenchPublisher: @unchecked Sendable {
    let connection: BenchConnection
    let index: UInt32
    /// Topic of message n: `topics[n % topics.count]`, encoded once.
    let topics: [[UInt8]]
    let qos: QoS
    let retain: Bool
    let payloadSize: Int
    let pace: PublishPace
    let progress: BenchProgress
    /// Stops after this many messages (nil: until `stop`).
    let limit: Int?
    /// Keeps at most `backlog.limit` messages between this publisher and its slowest subscriber.
    let backlog: BenchBacklog?
    private var heldBack = false
    private(set) var sent = 0
    private(set) var acknowledged = SequenceSet()
    private var inflight: [UInt16: UInt32] = [:]
    private var nextIdentifier: UInt16 = 1
    private var stopped = true
    private var pumpScheduled = false
    private var startedAt: UInt64 = 0
    private var nextSend: Scheduled<Void>?
    private var finished: EventLoopPromise<Void>?

    init(
        connection: BenchConnection, index: UInt32, topics: [String], qos: QoS, retain: Bool = false, payloadSize: Int,
        pace: PublishPace, progress: BenchProgress, limit: Int? = nil, backlog: BenchBacklog? = nil
    ) {
        self.backlog = backlog
        self.connection = connection
        self.index = index
        self.topics = topics.map { Array($0.utf8) }
        self.qos = qos
        self.retain = retain
        self.payloadSize = max(payloadSize, BenchStamp.size)
        self.pace = pace
        self.progress = progress
        self.limit = limit
        connection.onCompleted = { [unowned self] identifier in self.completed(identifier) }
        connection.onWritable = { [unowned self] in self.pump() }
        if let backlog {
            let loop = connection.eventLoop
            backlog.register(publisher: Int(index)) { [unowned self] in
                if loop.inEventLoop { self.pump() } else { loop.execute { self.pump() } }
            }
        }
    }

    var window: Int {
        switch pace {
        case .flatOut(let window), .rate(_, let window): window
        }
    }

    /// Starts publishing; the future completes when `limit` messages are acknowledged (or sent,
    /// at QoS 0), or at `stop`.
    func start() -> EventLoopFuture<Void> {
        let promise = connection.eventLoop.makePromise(of: Void.self)
        finished = promise
        stopped = false
        startedAt = BenchClock.now()
        if case .rate(let perSecond, _) = pace {
            sendDue(perSecond: perSecond)
        } else {
            pump()
        }
        return promise.futureResult
    }

    func stop() {
        stopped = true
        nextSend?.cancel()
        nextSend = nil
        finish()
    }

    private var isDone: Bool { limit.map { sent >= $0 } ?? false }

    /// Whether the slowest subscriber is far enough behind that this publisher must wait for it.
    private var isHeldBack: Bool {
        guard let backlog else { return false }
        heldBack = backlog.mustWait(publisher: Int(index), sent: sent)
        return heldBack
    }

    private func pump() {
        guard !stopped, connection.isOpen else { return }
        var batch = 0
        while batch < 64, !isDone, connection.isWritable, qos == .atMostOnce || inflight.count < window, !isHeldBack {
            publish(sentAt: BenchClock.now())
            batch += 1
        }
        connection.flush()
        if isDone, qos == .atMostOnce { finish() }
        // QoS 0 keeps going while the socket takes more; reads get their turn in between.
        if qos == .atMostOnce, !isDone, connection.isWritable, !heldBack, !pumpScheduled {
            pumpScheduled = true
            connection.eventLoop.execute { [unowned self] in
                self.pumpScheduled = false
                self.pump()
            }
        }
    }

    /// Sends every message whose scheduled time has come, then sleeps until the next one is
    /// due: a timer per message, so that the schedule, not a coarse tick, sets the send times.
    private func sendDue(perSecond: Double) {
        guard !stopped, connection.isOpen else { return }
        let interval = 1e9 / perSecond
        let elapsed = Double(BenchClock.now() - startedAt)
        let due = Int(elapsed / interval) + 1
        while sent < due, !isDone, qos == .atMostOnce || inflight.count < window {
            publish(sentAt: startedAt + UInt64(Double(sent) * interval))
        }
        connection.flush()
        if isDone {
            if qos == .atMostOnce { finish() }
            return
        }
        let next = NIODeadline.uptimeNanoseconds(startedAt + UInt64(Double(sent) * interval))
        nextSend = connection.eventLoop.scheduleTask(deadline: next) { [unowned self] in self.sendDue(perSecond: perSecond) }
    }

    private func publish(sentAt: UInt64) {
        let sequence = UInt32(truncatingIfNeeded: sent)
        let topicBytes = topics[sent % topics.count]
        var identifier: UInt16?
        if qos != .atMostOnce {
            let id = nextIdentifier
            nextIdentifier = id >= BenchConnection.firstControlIdentifier - 1 ? 1 : id + 1
            inflight[id] = sequence
            identifier = id
        }
        let propertiesLength = connection.version == .v5 ? 1 : 0
        let remaining = 2 + topicBytes.count + (identifier == nil ? 0 : 2) + propertiesLength + payloadSize
        let first = UInt8(0x30) | (qos.rawValue << 1) | (retain ? 1 : 0)
        let stamp = BenchStamp(sentAt: sentAt, sequence: sequence, publisher: index)
        let padding = payloadSize - BenchStamp.size
        connection.append { buffer in
            buffer.writeInteger(first)
            var length = remaining
            repeat {
                let byte = UInt8(length & 0x7F)
                length >>= 7
                buffer.writeInteger(length > 0 ? byte | 0x80 : byte)
            } while length > 0
            buffer.writeInteger(UInt16(topicBytes.count))
            buffer.writeBytes(topicBytes)
            if let identifier { buffer.writeInteger(identifier) }
            if propertiesLength == 1 { buffer.writeInteger(UInt8(0)) }
            stamp.write(into: &buffer)
            buffer.writeRepeatingByte(0, count: padding)
        }
        sent += 1
        progress.countSent(1)
    }

    private func completed(_ identifier: UInt16) {
        guard let sequence = inflight.removeValue(forKey: identifier) else { return }
        acknowledged.insert(sequence)
        progress.countAcknowledged(1)
        if isDone && inflight.isEmpty {
            finish()
        } else if case .flatOut = pace {
            pump()
        }
    }

    private func finish() {
        finished?.succeed()
        finished = nil
    }
}
