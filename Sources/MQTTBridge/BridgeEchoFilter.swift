import Foundation

/// Recognises messages a 3.1.1 bridge sent that the remote broker sends straight back.
///
/// MQTT 3.1.1 has no No Local, and libmosquitto cannot set Mosquitto's private bridge flag, so
/// a topic bridged both ways would loop: out to the remote, back in through the bridge's own
/// subscription, out again. Each message sent out is remembered (topic and payload hash) for a
/// while; the first identical message coming back is taken to be the echo and dropped. The cost:
/// an identical message another client publishes remotely within that window is dropped too.
/// A value type, owned by its `Bridge` behind a mutex.
struct BridgeEchoFilter: Sendable {
    private struct Fingerprint: Hashable {
        var topic: String
        var payloadHash: Int
        var length: Int
    }

    let lifetime: Duration
    let capacity: Int
    private var pending: [Fingerprint: Int] = [:]
    /// Insertion order with times, to forget old fingerprints.
    private var order: [(Fingerprint, ContinuousClock.Instant)] = []
    private var head = 0

    init(lifetime: Duration = .seconds(300), capacity: Int = 100_000) {
        self.lifetime = lifetime
        self.capacity = capacity
    }

    mutating func sent(topic: String, payload: Data, at now: ContinuousClock.Instant = .now) {
        expire(now)
        let print = Self.fingerprint(topic, payload)
        pending[print, default: 0] += 1
        order.append((print, now))
    }

    /// Whether `topic`/`payload` is the echo of something sent; consumes it if so.
    mutating func isEcho(topic: String, payload: Data, at now: ContinuousClock.Instant = .now) -> Bool {
        expire(now)
        let print = Self.fingerprint(topic, payload)
        guard let count = pending[print] else { return false }
        pending[print] = count > 1 ? count - 1 : nil
        return true
    }

    private mutating func expire(_ now: ContinuousClock.Instant) {
        while head < order.count, order.count - head > capacity || now - order[head].1 > lifetime {
            let print = order[head].0
            if let count = pending[print] { pending[print] = count > 1 ? count - 1 : nil }
            head += 1
        }
        if head > 1024 && head * 2 > order.count {
            order.removeFirst(head)
            head = 0
        }
    }

    private static func fingerprint(_ topic: String, _ payload: Data) -> Fingerprint {
        var hasher = Hasher()
        hasher.combine(payload)
        return Fingerprint(topic: topic, payloadHash: hasher.finalize(), length: payload.count)
    }
}
