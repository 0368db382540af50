import CMosquitto
import Foundation
import Synchronization

/// A small, safe MQTT client over libmosquitto.
///
/// libmosquitto is driven by a network thread of the client's own (`MosquittoLink`), which
/// calls back here while holding libmosquitto's mutex: the callbacks only move data into Swift
/// concurrency (resuming a continuation, yielding into a stream) and never run user code. All
/// Swift-side bookkeeping is in `state`'s mutex; libmosquitto's functions lock internally and
/// are called from any thread. After the first accepted connection, the network thread
/// reconnects with back-off by itself, and subscriptions are renewed whenever the broker has
/// no session for the client. Letting go of the client ends its thread and closes its socket.
public final class MosquittoClient: MosquittoLinkDelegate, @unchecked Sendable {
    /// Connection state changes, for callers that want to show or log them.
    public enum Event: Sendable, Hashable {
        case connected(sessionPresent: Bool)
        /// Lost (non-zero code) or ended by `disconnect` (0); a lost connection is retried.
        case disconnected(code: Int32)
    }

    public let configuration: MosquittoConfiguration
    /// Every message received on any subscription, in arrival order, bounded by
    /// `configuration.receiveBuffer`: while the consumer lags that far behind, the client stops
    /// reading from the broker.
    public let messages: MosquittoMessages
    public let events: AsyncStream<Event>

    private let link: MosquittoLink
    private let inbox: MosquittoInbox
    private let eventSink: AsyncStream<Event>.Continuation
    private let state = Mutex(State())

    private var handle: OpaquePointer { link.handle }

    private struct Subscription: Sendable {
        var qos: Int32
        var options: Int32
        var identifier: UInt32?

        /// The SUBSCRIBE properties (the Subscription Identifier), to free after sending.
        func properties() -> OpaquePointer? {
            guard let identifier else { return nil }
            var list: OpaquePointer?
            mosquitto_property_add_varint(&list, Int32(MQTT_PROP_SUBSCRIPTION_IDENTIFIER.rawValue), identifier)
            return list
        }
    }

    private struct State: Sendable {
        var connectWaiter: CheckedContinuation<Void, any Error>?
        var publishWaiters: [Int32: CheckedContinuation<Void, any Error>] = [:]
        /// Acknowledgements that arrived before their caller started waiting, with the reason code.
        var earlyPublishResults: [Int32: Int32] = [:]
        /// Publishes whose caller does not wait for the acknowledgement, with their payload size.
        var unawaitedPublishes: [Int32: Int] = [:]
        var unawaitedBytes = 0
        var subscribeWaiters: [Int32: CheckedContinuation<[Int32], any Error>] = [:]
        var earlySubscribeResults: [Int32: [Int32]] = [:]
        /// SUBSCRIBEs sent to renew subscriptions after reconnection; nobody waits for them.
        var renewals: Set<Int32> = []
        /// Filters to renew after a reconnection to a broker without our session.
        var subscriptions: [String: Subscription] = [:]
        var isConnected = false
        var closed = false
    }

    public init(configuration: MosquittoConfiguration) throws(MosquittoError) {
        self.configuration = configuration
        let link = try MosquittoLink(configuration: configuration)
        self.link = link
        inbox = MosquittoInbox(limit: configuration.receiveBuffer) { [weak link] in link?.wake() }
        messages = MosquittoMessages(inbox: inbox)
        (events, eventSink) = AsyncStream.makeStream(of: Event.self)
        link.delegate = self
    }

    deinit {
        inbox.finish()
        eventSink.finish()
        link.submit(.shutDown)
    }

    private var isV5: Bool { configuration.protocolVersion == .v5 }

    // MARK: Connecting

    /// Connects and waits for the broker's CONNACK. Throws a clear error when the broker cannot
    /// be reached or refuses; once connected, lost connections are retried in the background.
    public func connect() async throws {
        try await withCheckedThrowingContinuation { (waiter: CheckedContinuation<Void, any Error>) in
            state.withLock { $0.connectWaiter = waiter }
            link.submit(.dial(host: configuration.host, port: configuration.port, keepRetrying: false) { [weak self] error in
                if let error { self?.failConnect(error) }
            })
        }
    }

    private func failConnect(_ error: MosquittoError) {
        let waiter = state.withLock { state in
            defer { state.connectWaiter = nil }
            return state.connectWaiter
        }
        waiter?.resume(throwing: error)
    }

    public var isConnected: Bool { state.withLock { $0.isConnected } }

    /// Moves the link to another broker (a bridge failing over): closes the current connection,
    /// connects to `host:port`, and retries there after losses. Unacknowledged QoS 1/2 messages
    /// stay queued and go to the new broker; subscriptions are renewed there. Throws if
    /// `host:port` cannot be reached; the client is then idle until the next call.
    public func reconnect(to host: String, port: Int) async throws {
        guard !state.withLock({ $0.closed }) else { throw MosquittoError.notConnected }
        try await withCheckedThrowingContinuation { (done: CheckedContinuation<Void, any Error>) in
            link.submit(.dial(host: host, port: port, keepRetrying: true) { error in
                if let error { done.resume(throwing: error) } else { done.resume() }
            })
        }
    }

    /// Waits (up to `drainTimeout`) for publishes still awaiting their acknowledgement, sends
    /// DISCONNECT, ends the network thread and fails whatever still waits. Without the wait, a
    /// message handed over just before would be lost when the socket closes under it.
    public func disconnect(drainTimeout: Duration = .seconds(3)) async {
        let wasOpen = state.withLock { state -> Bool in
            defer { state.closed = true }
            return !state.closed
        }
        guard wasOpen else { return }
        let deadline = ContinuousClock.now + drainTimeout
        while ContinuousClock.now < deadline,
            state.withLock({ $0.isConnected && !($0.publishWaiters.isEmpty && $0.unawaitedPublishes.isEmpty) })
        {
            try? await Task.sleep(for: .milliseconds(10))
        }
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            link.submit(.disconnect { done.resume() })
        }
        let (publishes, subscribes, connect) = state.withLock { state in
            defer {
                state.publishWaiters = [:]
                state.subscribeWaiters = [:]
                state.connectWaiter = nil
                state.isConnected = false
            }
            return (Array(state.publishWaiters.values), Array(state.subscribeWaiters.values), state.connectWaiter)
        }
        for waiter in publishes { waiter.resume(throwing: MosquittoError.notConnected) }
        for waiter in subscribes { waiter.resume(throwing: MosquittoError.notConnected) }
        connect?.resume(throwing: MosquittoError.notConnected)
        inbox.finish()
        eventSink.finish()
    }

    /// Messages received and not yet taken from `messages`, and their payload bytes.
    public var receiveBacklog: (messages: Int, bytes: Int) { inbox.depth }

    /// The socket's descriptor number, or -1 while there is none.
    var socketDescriptor: Int32 { mosquitto_socket(handle) }

    // MARK: Publishing

    /// Publishes and returns once libmosquitto reports it done: written for QoS 0, PUBACK for
    /// QoS 1, PUBCOMP for QoS 2. While the broker is unreachable a QoS 1/2 message waits in
    /// libmosquitto's queue and is sent after reconnection.
    public func publish(
        _ topic: String, payload: Data, qos: Int = 1, retain: Bool = false, properties: MosquittoProperties = .init()
    ) async throws {
        try await withCheckedThrowingContinuation { (waiter: CheckedContinuation<Void, any Error>) in
            do {
                let mid = try hand(topic, payload: payload, qos: qos, retain: retain, properties: properties)
                let early = state.withLock { state -> Int32? in
                    if let code = state.earlyPublishResults.removeValue(forKey: mid) { return code }
                    state.publishWaiters[mid] = waiter
                    return nil
                }
                if let early { Self.finish(waiter, code: early, topic: topic) }
            } catch {
                waiter.resume(throwing: error)
            }
        }
    }

    /// Hands a message to libmosquitto without waiting for its acknowledgement.
    public func send(
        _ topic: String, payload: Data, qos: Int = 1, retain: Bool = false, properties: MosquittoProperties = .init()
    ) throws(MosquittoError) {
        let mid = try hand(topic, payload: payload, qos: qos, retain: retain, properties: properties)
        state.withLock { state in
            if state.earlyPublishResults.removeValue(forKey: mid) == nil {
                state.unawaitedPublishes[mid] = payload.count
                state.unawaitedBytes += payload.count
            }
        }
    }

    /// Messages handed over with `send` that the broker has not acknowledged yet (QoS 1/2
    /// waiting in libmosquitto while the broker is unreachable count here), and their payload
    /// bytes: what a caller bounds its store-and-forward queue by.
    public var unacknowledgedSends: (messages: Int, bytes: Int) {
        state.withLock { ($0.unawaitedPublishes.count, $0.unawaitedBytes) }
    }

    /// Codes with which libmosquitto reports a send that failed on the connection only.
    private static let connectionErrors = Set([MOSQ_ERR_NO_CONN, MOSQ_ERR_CONN_LOST, MOSQ_ERR_ERRNO].map { Int32($0.rawValue) })

    private func hand(_ topic: String, payload: Data, qos: Int, retain: Bool, properties: MosquittoProperties) throws(MosquittoError) -> Int32 {
        var list = isV5 ? try properties.makeList() : nil
        defer { mosquitto_property_free_all(&list) }
        var mid: Int32 = 0
        let code = payload.withUnsafeBytes { bytes in
            mosquitto_publish_v5(handle, &mid, topic, Int32(bytes.count), bytes.baseAddress, Int32(qos), retain, list)
        }
        link.wake()
        // A QoS 1/2 message is queued in libmosquitto before it tries to send it: if that try
        // fails on the connection (none yet, or one just lost), the message waits there and goes
        // out after reconnection. Only QoS 0 is really lost.
        if code == Int32(MOSQ_ERR_SUCCESS.rawValue) || (qos > 0 && Self.connectionErrors.contains(code)) {
            return mid
        }
        throw .library(code, "publish to '\(topic)'")
    }

    private static func finish(_ waiter: CheckedContinuation<Void, any Error>, code: Int32, topic: String) {
        if code >= 0x80 {
            waiter.resume(throwing: MosquittoError.reason(code, "publish to '\(topic)'"))
        } else {
            waiter.resume()
        }
    }

    // MARK: Subscribing

    /// Subscribes and waits for SUBACK; returns the granted QoS. The subscription is renewed
    /// after reconnections; while disconnected it is only recorded. With MQTT 5 a
    /// `subscriptionIdentifier` comes back on every message the subscription matches.
    @discardableResult
    public func subscribe(
        _ filter: String, qos: Int = 1, options: SubscribeOptions = .init(), subscriptionIdentifier: UInt32? = nil
    ) async throws -> Int32 {
        let subscription = Subscription(
            qos: Int32(qos), options: isV5 ? options.flags : 0, identifier: isV5 ? subscriptionIdentifier : nil)
        state.withLock { $0.subscriptions[filter] = subscription }
        let granted = try await withCheckedThrowingContinuation { (waiter: CheckedContinuation<[Int32], any Error>) in
            var mid: Int32 = 0
            var properties = subscription.properties()
            let code = mosquitto_subscribe_v5(handle, &mid, filter, subscription.qos, subscription.options, properties)
            mosquitto_property_free_all(&properties)
            link.wake()
            if code == Int32(MOSQ_ERR_NO_CONN.rawValue) {
                waiter.resume(returning: [subscription.qos])
                return
            }
            guard code == Int32(MOSQ_ERR_SUCCESS.rawValue) else {
                waiter.resume(throwing: MosquittoError.library(code, "subscribe to '\(filter)'"))
                return
            }
            let early = state.withLock { state -> [Int32]? in
                if let result = state.earlySubscribeResults.removeValue(forKey: mid) { return result }
                state.subscribeWaiters[mid] = waiter
                return nil
            }
            if let early { waiter.resume(returning: early) }
        }
        let code = granted.first ?? 0x80
        if code >= 0x80 {
            _ = state.withLock { $0.subscriptions.removeValue(forKey: filter) }
            throw MosquittoError.reason(code, "subscribe to '\(filter)'")
        }
        return code
    }

    /// Forgets a subscription and sends UNSUBSCRIBE (without waiting for UNSUBACK: once sent, no
    /// later message for the filter is wanted and the hub filters locally anyway).
    public func unsubscribe(_ filter: String) throws(MosquittoError) {
        _ = state.withLock { $0.subscriptions.removeValue(forKey: filter) }
        let code = mosquitto_unsubscribe_v5(handle, nil, filter, nil)
        link.wake()
        guard code == Int32(MOSQ_ERR_SUCCESS.rawValue) || code == Int32(MOSQ_ERR_NO_CONN.rawValue) else {
            throw .library(code, "unsubscribe from '\(filter)'")
        }
    }

    // MARK: The network thread (libmosquitto's callback mutex held: hand over data only)

    var linkCanReceive: Bool { inbox.hasRoom }

    func linkDidReceive(_ message: MosquittoMessage) { inbox.push(message) }

    func linkDidConnect(code: Int32, sessionPresent: Bool) {
        let (waiter, renew) = state.withLock { state -> (CheckedContinuation<Void, any Error>?, [String: Subscription]) in
            defer { state.connectWaiter = nil }
            if code == 0 { state.isConnected = true }
            // A session the broker kept may still lack subscriptions whose renewal the last
            // connection did not see acknowledged (it was cut right after connecting).
            let renew = code == 0 && (!sessionPresent || !state.renewals.isEmpty)
            if code == 0 { state.renewals = [] }
            return (state.connectWaiter, renew ? state.subscriptions : [:])
        }
        // Renewing subscriptions from on_connect is libmosquitto's own idiom; it only queues packets.
        var renewals: Set<Int32> = []
        for (filter, subscription) in renew {
            var mid: Int32 = 0
            var properties = subscription.properties()
            if mosquitto_subscribe_v5(handle, &mid, filter, subscription.qos, subscription.options, properties) == 0 {
                renewals.insert(mid)
            }
            mosquitto_property_free_all(&properties)
        }
        if !renewals.isEmpty { state.withLock { $0.renewals.formUnion(renewals) } }
        if code == 0 {
            eventSink.yield(.connected(sessionPresent: sessionPresent))
            waiter?.resume()
        } else {
            let target = "connect to \(configuration.host):\(configuration.port)"
            waiter?.resume(throwing: MosquittoError.reason(code, target))
        }
    }

    func linkDidDisconnect(code: Int32) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, any Error>? in
            defer {
                state.connectWaiter = nil
                state.isConnected = false
            }
            return state.connectWaiter
        }
        waiter?.resume(throwing: MosquittoError.library(code, "connect to \(configuration.host):\(configuration.port)"))
        eventSink.yield(.disconnected(code: code))
    }

    func linkDidPublish(mid: Int32, reason: Int32) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, any Error>? in
            if let size = state.unawaitedPublishes.removeValue(forKey: mid) {
                state.unawaitedBytes -= size
                return nil
            }
            if let waiter = state.publishWaiters.removeValue(forKey: mid) { return waiter }
            state.earlyPublishResults[mid] = reason
            return nil
        }
        if let waiter { Self.finish(waiter, code: reason, topic: "") }
    }

    func linkDidSubscribe(mid: Int32, granted: [Int32]) {
        let waiter = state.withLock { state -> CheckedContinuation<[Int32], any Error>? in
            if state.renewals.remove(mid) != nil { return nil }
            if let waiter = state.subscribeWaiters.removeValue(forKey: mid) { return waiter }
            state.earlySubscribeResults[mid] = granted
            return nil
        }
        waiter?.resume(returning: granted)
    }
}
