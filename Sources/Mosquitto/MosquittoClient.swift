import CMosquitto
import Foundation
import Synchronization

/// `mosquitto_lib_init` must run once per process before any client exists.
private let libraryReady: Bool = {
    mosquitto_lib_init()
    return true
}()

/// A small, safe MQTT client over libmosquitto.
///
/// libmosquitto runs its network loop on its own thread (`mosquitto_loop_start`) and calls back
/// on that thread while holding its own mutex. The callbacks here therefore only move data into
/// Swift concurrency (resuming a continuation, yielding into a stream) and never run user code.
/// All Swift-side state is in `state`'s mutex; `handle` is only passed to libmosquitto
/// functions, which lock internally and may be called from any thread. After the first
/// `connect`, the loop thread reconnects with back-off by itself, and subscriptions are renewed
/// whenever the broker has no session for the client.
public final class MosquittoClient: @unchecked Sendable {
    /// Connection state changes, for callers that want to show or log them.
    public enum Event: Sendable, Hashable {
        case connected(sessionPresent: Bool)
        /// Lost (non-zero code) or ended by `disconnect` (0); a lost connection is retried.
        case disconnected(code: Int32)
    }

    public let configuration: MosquittoConfiguration
    /// Every message received on any subscription, in arrival order. Unbounded: the consumer
    /// is expected to keep up (PubSubHub dispatches to per-session queues immediately).
    public let messages: AsyncStream<MosquittoMessage>
    public let events: AsyncStream<Event>

    private let handle: OpaquePointer
    private let messageSink: AsyncStream<MosquittoMessage>.Continuation
    private let eventSink: AsyncStream<Event>.Continuation
    private let state = Mutex(State())
    /// Stops and starts the loop thread, one thing at a time (`disconnect` and `restartLoop`).
    private let lifecycle = DispatchQueue(label: "parley.mosquitto.lifecycle")
    /// The thread that last ran a callback (libmosquitto's loop thread), so that `deinit` knows
    /// when it runs there.
    private let loopThread = Atomic<UInt>(0)

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
        var loopStarted = false
        /// Set from a broker's DISCONNECT until the loop thread has been started again.
        var restarting = false
        var closed = false
    }

    public init(configuration: MosquittoConfiguration) throws(MosquittoError) {
        _ = libraryReady
        self.configuration = configuration
        guard let handle = mosquitto_new(configuration.clientIdentifier, configuration.cleanSession, nil) else {
            throw MosquittoError(operation: "create a libmosquitto client", code: Int32(MOSQ_ERR_NOMEM.rawValue), message: "mosquitto_new failed")
        }
        self.handle = handle
        (messages, messageSink) = AsyncStream.makeStream(of: MosquittoMessage.self)
        (events, eventSink) = AsyncStream.makeStream(of: Event.self)
        do {
            try configure()
        } catch {
            mosquitto_destroy(handle)
            throw error
        }
        mosquitto_user_data_set(handle, Unmanaged.passUnretained(self).toOpaque())
        installCallbacks()
    }

    deinit {
        messageSink.finish()
        eventSink.finish()
        let handle = LibraryHandle(pointer: handle)
        if pthread_equal(pthread_self(), pthread_t(loopThread.load(ordering: .acquiring))) != 0 {
            // The loop thread let go of the last reference, in a callback: it cannot stop and
            // join itself. Later callbacks on it find no client, and another thread stops it.
            mosquitto_user_data_set(handle.pointer, nil)
            DispatchQueue.global().async { handle.destroy() }
        } else {
            // Stops and joins the loop thread before the callbacks' user data goes away.
            handle.destroy()
        }
    }

    /// The libmosquitto client, carried to the thread that destroys it.
    private struct LibraryHandle: @unchecked Sendable {
        let pointer: OpaquePointer

        func destroy() {
            mosquitto_loop_stop(pointer, true)
            mosquitto_destroy(pointer)
        }
    }

    private var isV5: Bool { configuration.protocolVersion == .v5 }

    private func configure() throws(MosquittoError) {
        func check(_ code: Int32, _ operation: String) throws(MosquittoError) {
            guard code == Int32(MOSQ_ERR_SUCCESS.rawValue) else { throw .library(code, operation) }
        }
        let version = isV5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311
        try check(mosquitto_int_option(handle, MOSQ_OPT_PROTOCOL_VERSION, version), "select the MQTT version")
        try check(
            mosquitto_reconnect_delay_set(
                handle, UInt32(configuration.reconnectDelay.lowerBound), UInt32(configuration.reconnectDelay.upperBound), true),
            "set the reconnect delay")
        if configuration.username != nil || configuration.password != nil {
            try check(mosquitto_username_pw_set(handle, configuration.username, configuration.password), "set the user name and password")
        }
        if let tls = configuration.tls {
            try check(mosquitto_tls_set(handle, tls.caFile, tls.caPath, tls.certificateFile, tls.keyFile, nil), "configure TLS")
            if tls.insecure { try check(mosquitto_tls_insecure_set(handle, true), "disable TLS host name checks") }
        }
        if let will = configuration.will {
            var properties = isV5 ? try will.properties.makeList() : nil
            let code = will.payload.withUnsafeBytes { bytes in
                mosquitto_will_set_v5(handle, will.topic, Int32(bytes.count), bytes.baseAddress, Int32(will.qos), will.retain, properties)
            }
            if code != Int32(MOSQ_ERR_SUCCESS.rawValue) { mosquitto_property_free_all(&properties) }
            try check(code, "set the will")
        }
    }

    // MARK: Connecting

    /// Connects and waits for the broker's CONNACK. Throws a clear error when the broker cannot
    /// be reached or refuses; once connected, lost connections are retried in the background.
    public func connect() async throws {
        try await withCheckedThrowingContinuation { (waiter: CheckedContinuation<Void, any Error>) in
            state.withLock { $0.connectWaiter = waiter }
            // mosquitto_connect resolves and dials synchronously: keep it off the cooperative pool.
            DispatchQueue.global().async { [self] in
                do throws(MosquittoError) {
                    try dial(configuration.host, configuration.port)
                } catch {
                    failConnect(error)
                    return
                }
                let startLoop = state.withLock { state -> Bool in
                    defer { state.loopStarted = true }
                    return !state.loopStarted
                }
                if startLoop {
                    let loop = mosquitto_loop_start(handle)
                    if loop != Int32(MOSQ_ERR_SUCCESS.rawValue) { failConnect(.library(loop, "start the network loop")) }
                }
            }
        }
    }

    /// Opens the TCP connection and queues CONNECT (with the session expiry under MQTT 5);
    /// blocking, so callers run it on a dispatch queue.
    private func dial(_ host: String, _ port: Int) throws(MosquittoError) {
        var properties: OpaquePointer?
        if isV5, let expiry = configuration.sessionExpiryInterval {
            mosquitto_property_add_int32(&properties, Int32(MQTT_PROP_SESSION_EXPIRY_INTERVAL.rawValue), expiry)
        }
        let code = mosquitto_connect_bind_v5(handle, host, Int32(port), Int32(configuration.keepAlive), nil, properties)
        let systemError = errno
        mosquitto_property_free_all(&properties)
        guard code == Int32(MOSQ_ERR_SUCCESS.rawValue) else {
            throw .library(code, "connect to \(host):\(port)", errno: systemError)
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

    /// Moves the link to another broker (a bridge failing over): stops the network loop,
    /// connects to `host:port` and starts the loop again. Unacknowledged QoS 1/2 messages stay
    /// queued and go to the new broker; subscriptions are renewed there. Throws if `host:port`
    /// cannot be reached; the client is then idle until the next call.
    public func reconnect(to host: String, port: Int) async throws {
        try await withCheckedThrowingContinuation { (done: CheckedContinuation<Void, any Error>) in
            lifecycle.async { [self] in
                guard !state.withLock({ $0.closed }) else {
                    done.resume(throwing: MosquittoError.notConnected)
                    return
                }
                mosquitto_loop_stop(handle, true)
                state.withLock {
                    $0.loopStarted = false
                    $0.restarting = false
                }
                do throws(MosquittoError) {
                    try dial(host, port)
                } catch {
                    done.resume(throwing: error)
                    return
                }
                state.withLock { $0.loopStarted = true }
                let loop = mosquitto_loop_start(handle)
                if loop != Int32(MOSQ_ERR_SUCCESS.rawValue) {
                    done.resume(throwing: MosquittoError.library(loop, "start the network loop"))
                } else {
                    done.resume()
                }
            }
        }
    }

    /// Waits (up to `drainTimeout`) for publishes still awaiting their acknowledgement, sends
    /// DISCONNECT, stops the network loop and fails whatever still waits. Without the wait, a
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
        if isV5 {
            mosquitto_disconnect_v5(handle, 0, nil)
        } else {
            mosquitto_disconnect(handle)
        }
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            lifecycle.async { [self] in
                mosquitto_loop_stop(handle, false)
                done.resume()
            }
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
        messageSink.finish()
        eventSink.finish()
    }

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
        guard code == Int32(MOSQ_ERR_SUCCESS.rawValue) || code == Int32(MOSQ_ERR_NO_CONN.rawValue) else {
            throw .library(code, "unsubscribe from '\(filter)'")
        }
    }

    // MARK: Callbacks (libmosquitto's thread, its mutex held: hand over data only)

    private func installCallbacks() {
        mosquitto_connect_v5_callback_set(handle) { _, context, code, flags, _ in
            MosquittoClient.from(context)?.didConnect(code: code, flags: flags)
        }
        mosquitto_disconnect_v5_callback_set(handle) { _, context, code, _ in
            MosquittoClient.from(context)?.didDisconnect(code: code)
        }
        mosquitto_publish_v5_callback_set(handle) { _, context, mid, reason, _ in
            MosquittoClient.from(context)?.didPublish(mid: mid, reason: reason)
        }
        mosquitto_subscribe_v5_callback_set(handle) { _, context, mid, count, granted, _ in
            let codes = (0..<Int(count)).map { granted?[$0] ?? 0x80 }
            MosquittoClient.from(context)?.didSubscribe(mid: mid, granted: codes)
        }
        mosquitto_message_v5_callback_set(handle) { _, context, message, properties in
            guard let client = MosquittoClient.from(context), let message = message?.pointee, let topic = message.topic else {
                return
            }
            let payload = message.payloadlen > 0 && message.payload != nil
                ? Data(bytes: message.payload, count: Int(message.payloadlen)) : Data()
            client.messageSink.yield(MosquittoMessage(
                topic: String(cString: topic), payload: payload, qos: Int(message.qos), retain: message.retain,
                properties: MosquittoProperties(reading: properties)))
        }
    }

    /// The client a callback is for, or nil once it is being destroyed; notes the loop thread.
    private static func from(_ context: UnsafeMutableRawPointer?) -> MosquittoClient? {
        guard let context else { return nil }
        let client = Unmanaged<MosquittoClient>.fromOpaque(context).takeUnretainedValue()
        client.loopThread.store(UInt(pthread_self()), ordering: .releasing)
        return client
    }

    private func didConnect(code: Int32, flags: Int32) {
        let sessionPresent = flags & 1 != 0
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

    private func didDisconnect(code: Int32) {
        let (waiter, restart) = state.withLock { state -> (CheckedContinuation<Void, any Error>?, Bool) in
            defer {
                state.connectWaiter = nil
                state.isConnected = false
            }
            // A lost connection comes with a MOSQ_ERR_* code (below 0x80) and libmosquitto
            // retries it. A DISCONNECT from the broker (reason 0 or >= 0x80; our own DISCONNECT
            // also gives 0, but then `closed` is set) makes libmosquitto 2.0 mark the client
            // disconnected, and its loop thread ends without ever reconnecting. Restart it,
            // except when another client took the session over (0x8E): reconnecting would
            // take it back, and so on.
            let fromBroker = (code == 0 || code >= 0x80) && code != 0x8E
            let restart = fromBroker && !state.closed && state.loopStarted && state.connectWaiter == nil && !state.restarting
            if restart { state.restarting = true }
            return (state.connectWaiter, restart)
        }
        waiter?.resume(throwing: MosquittoError.library(code, "connect to \(configuration.host):\(configuration.port)"))
        eventSink.yield(.disconnected(code: code))
        if restart { lifecycle.async { [weak self] in self?.restartLoop() } }
    }

    /// After a broker's DISCONNECT: joins the loop thread libmosquitto ended, reconnects and
    /// starts a new one. While the broker refuses, retries here with the configured back-off
    /// (libmosquitto's formula): a loop thread started after a refused attempt never retries by
    /// itself (with 2.0.11 it stays in its wait for a first connect). Messages queued meanwhile
    /// (QoS 1 and 2) are sent once connected, and subscriptions are renewed in `didConnect`.
    private func restartLoop(attempt: Int = 0) {
        if attempt == 0 { mosquitto_loop_stop(handle, false) }
        // `reconnect(to:port:)` may have brought the link back meanwhile.
        guard !state.withLock({ $0.closed || (attempt > 0 && !$0.restarting) }) else { return }
        if mosquitto_reconnect_async(handle) == Int32(MOSQ_ERR_SUCCESS.rawValue) {
            state.withLock { $0.restarting = false }
            mosquitto_loop_start(handle)
            return
        }
        let delays = configuration.reconnectDelay
        let delay = min(delays.upperBound, delays.lowerBound * (attempt + 1) * (attempt + 1))
        // Weak: a client its owner let go of stops retrying and is freed.
        lifecycle.asyncAfter(deadline: .now() + .seconds(max(delay, 1))) { [weak self] in
            self?.restartLoop(attempt: attempt + 1)
        }
    }

    private func didPublish(mid: Int32, reason: Int32) {
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

    private func didSubscribe(mid: Int32, granted: [Int32]) {
        let waiter = state.withLock { state -> CheckedContinuation<[Int32], any Error>? in
            if state.renewals.remove(mid) != nil { return nil }
            if let waiter = state.subscribeWaiters.removeValue(forKey: mid) { return waiter }
            state.earlySubscribeResults[mid] = granted
            return nil
        }
        waiter?.resume(returning: granted)
    }
}
