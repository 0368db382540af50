import CMosquitto
import Foundation
import Synchronization

/// `mosquitto_lib_init` must run once per process before any client exists.
private let libraryReady: Bool = {
    mosquitto_lib_init()
    return true
}()

/// What the network thread tells the client that owns the link. Called on that thread, with
/// libmosquitto's callback mutex held (except `linkCanReceive`): move data, run no user code.
protocol MosquittoLinkDelegate: AnyObject, Sendable {
    func linkDidConnect(code: Int32, sessionPresent: Bool)
    /// A lost connection (a `MOSQ_ERR_*` code), a broker's DISCONNECT (its reason code) or the
    /// end of our own DISCONNECT (0).
    func linkDidDisconnect(code: Int32)
    func linkDidPublish(mid: Int32, reason: Int32)
    func linkDidSubscribe(mid: Int32, granted: [Int32])
    func linkDidReceive(_ message: MosquittoMessage)
    /// Whether the consumer has room for more messages; while not, the socket is not read.
    var linkCanReceive: Bool { get }
}

/// One libmosquitto client handle and the thread that drives its socket.
///
/// libmosquitto's own loop (`mosquitto_loop_start`) waits with `select()`, which cannot watch a
/// descriptor numbered 1024 or more: in a process that also serves a thousand MQTT connections
/// that loop ends without a word (eclipse/mosquitto#1299). Here the socket is watched with
/// `poll`, beside a wake-up pipe, and libmosquitto is only asked to read, write and keep alive
/// (`mosquitto_loop_read` / `loop_write` / `loop_misc`), so descriptors of any number work.
/// The thread also owns reconnection: once a link has been up, every loss is retried with
/// back-off until `disconnect` or the owner lets go, and a socket that vanished without
/// libmosquitto reporting it is reported here, so a link never hangs silently.
///
/// State: the handle is libmosquitto's and locks internally (it runs in threaded mode);
/// `requests` is shared under its mutex; everything in `LinkState` belongs to the network
/// thread alone. The thread holds the link while it runs; the link destroys the handle when
/// the last reference goes, so no thread ever has to join itself.
final class MosquittoLink: @unchecked Sendable {
    let handle: OpaquePointer
    let configuration: MosquittoConfiguration
    /// The owner, weak so that letting go of a client ends its link.
    weak var delegate: (any MosquittoLinkDelegate)?

    private let wakeUp: WakeUpPipe
    /// Set by whoever signalled the pipe and cleared by the thread before it looks at what
    /// changed, so that a burst of publishes costs one `write(2)`, not one each.
    private let wakePending = Atomic<Bool>(false)
    private let requests = Mutex(Requests())
    /// The network thread's own state; touched by no other thread.
    private var link = LinkState()

    enum Request {
        /// Connect (or move the link) to `host:port`. `done` gets the TCP connection's outcome;
        /// the CONNACK arrives through the delegate. With `keepRetrying`, the thread retries
        /// from now on; without, only after a first accepted CONNACK.
        case dial(host: String, port: Int, keepRetrying: Bool, done: @Sendable (MosquittoError?) -> Void)
        /// Send DISCONNECT, wait briefly for it to leave, close, and end the thread.
        case disconnect(done: @Sendable () -> Void)
        /// End the thread at once; the broker sees the connection drop (and sends the will).
        case shutDown
    }

    private struct Requests {
        var pending: [Request] = []
        var threadStarted = false
        var threadEnded = false
    }

    private struct LinkState {
        /// Whether libmosquitto had a socket at the last look.
        var open = false
        /// Whether libmosquitto reported the current socket's end itself.
        var disconnectReported = false
        var lastDisconnectCode: Int32 = 0
        /// Whether losses are retried: after a first accepted CONNACK, or a `dial` that asks.
        var wanted = false
        var attempt = 0
        var retryAt: ContinuousClock.Instant?
        /// Set by `disconnect`: the moment to stop waiting for the DISCONNECT to be written.
        var closingDeadline: ContinuousClock.Instant?
        var disconnectDone: [@Sendable () -> Void] = []
        var ending = false
    }

    init(configuration: MosquittoConfiguration) throws(MosquittoError) {
        _ = libraryReady
        self.configuration = configuration
        wakeUp = try WakeUpPipe()
        guard let handle = mosquitto_new(configuration.clientIdentifier, configuration.cleanSession, nil) else {
            throw MosquittoError(operation: "create a libmosquitto client", code: Int32(MOSQ_ERR_NOMEM.rawValue), message: "mosquitto_new failed")
        }
        self.handle = handle
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
        mosquitto_destroy(handle)
    }

    private var isV5: Bool { configuration.protocolVersion == .v5 }

    private func configure() throws(MosquittoError) {
        func check(_ code: Int32, _ operation: String) throws(MosquittoError) {
            guard code == Int32(MOSQ_ERR_SUCCESS.rawValue) else { throw .library(code, operation) }
        }
        // Calls from other threads only queue packets; this thread writes them.
        try check(mosquitto_threaded_set(handle, true), "put libmosquitto in threaded mode")
        let version = isV5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311
        try check(mosquitto_int_option(handle, MOSQ_OPT_PROTOCOL_VERSION, version), "select the MQTT version")
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

    // MARK: Other threads

    /// Hands a request to the network thread, starting it on first use. After the thread has
    /// ended, requests complete at once (a dial fails with `notConnected`).
    func submit(_ request: Request) {
        let accepted = requests.withLock { requests -> (accepted: Bool, start: Bool) in
            if case .shutDown = request, !requests.threadStarted { requests.threadEnded = true }
            guard !requests.threadEnded else { return (false, false) }
            requests.pending.append(request)
            defer { requests.threadStarted = true }
            return (true, !requests.threadStarted)
        }
        guard accepted.accepted else {
            Self.complete(request)
            return
        }
        if accepted.start {
            let thread = Thread { [self] in run() }
            thread.name = "parley.mosquitto"
            thread.stackSize = 512 << 10
            thread.start()
        } else {
            wake()
        }
    }

    /// Tells the thread to look again: a packet was queued, or the consumer made room.
    func wake() {
        if !wakePending.exchange(true, ordering: .acquiringAndReleasing) { wakeUp.signal() }
    }

    private static func complete(_ request: Request) {
        switch request {
        case .dial(_, _, _, let done): done(.notConnected)
        case .disconnect(let done): done()
        case .shutDown: break
        }
    }

    // MARK: The network thread

    private func run() {
        while !link.ending {
            let taken = requests.withLock { requests in
                defer { requests.pending = [] }
                return requests.pending
            }
            for request in taken { handle(request) }
            if link.ending { break }
            let socket = mosquitto_socket(handle)
            if socket < 0 {
                noteClosed()
                if link.closingDeadline != nil { break }
                if let retryAt = link.retryAt, retryAt <= .now {
                    retry()
                } else {
                    waitForWakeUp(watching: nil, timeout: link.retryAt)
                }
                continue
            }
            serve(socket)
        }
        let leftovers = requests.withLock { requests in
            requests.threadEnded = true
            defer { requests.pending = [] }
            return requests.pending
        }
        for request in leftovers { Self.complete(request) }
        for done in link.disconnectDone { done() }
        link.disconnectDone = []
    }

    private func handle(_ request: Request) {
        switch request {
        case .dial(let host, let port, let keepRetrying, let done):
            guard link.closingDeadline == nil else {
                done(.notConnected)
                return
            }
            // libmosquitto drops an open socket without a callback: report it here.
            noteClosed()
            if link.open {
                link.open = false
                delegate?.linkDidDisconnect(code: Int32(MOSQ_ERR_CONN_LOST.rawValue))
            }
            link.retryAt = nil
            let error = dial(host, port)
            if error == nil {
                link.open = true
                link.disconnectReported = false
                if keepRetrying { link.wanted = true }
            } else if keepRetrying {
                link.wanted = false
            }
            done(error)
        case .disconnect(let done):
            link.disconnectDone.append(done)
            link.wanted = false
            link.retryAt = nil
            if link.closingDeadline == nil {
                link.closingDeadline = .now + .seconds(2)
                if isV5 {
                    mosquitto_disconnect_v5(handle, 0, nil)
                } else {
                    mosquitto_disconnect(handle)
                }
            }
        case .shutDown:
            link.ending = true
        }
    }

    /// One round on an open socket: wait for it (or a wake-up) for at most a second, read,
    /// write, and let libmosquitto keep the connection alive.
    private func serve(_ socket: Int32) {
        if !link.open {
            link.open = true
            link.disconnectReported = false
        }
        var events: Int16 = 0
        let canReceive = delegate?.linkCanReceive ?? true
        if canReceive { events |= Int16(POLLIN) }
        if mosquitto_want_write(handle) { events |= Int16(POLLOUT) }
        var deadline = ContinuousClock.now + .seconds(1)
        if let closing = link.closingDeadline {
            if closing <= .now {
                // The DISCONNECT could not be written in time; the handle closes the socket.
                link.ending = true
                return
            }
            deadline = min(deadline, closing)
        }
        let ready = waitForWakeUp(watching: (socket, events), timeout: deadline)
        if ready & Int16(POLLIN | POLLHUP | POLLERR) != 0 { readAvailable() }
        if mosquitto_socket(handle) >= 0 && (ready & Int16(POLLOUT) != 0 || mosquitto_want_write(handle)) {
            mosquitto_loop_write(handle, 1)
        }
        if mosquitto_socket(handle) >= 0 { mosquitto_loop_misc(handle) }
    }

    /// Reads what the socket holds, packet by packet, until it would block or the consumer is full.
    private func readAvailable() {
        for _ in 0..<256 {
            errno = 0
            let code = mosquitto_loop_read(handle, 1)
            if code != Int32(MOSQ_ERR_SUCCESS.rawValue) || errno == EAGAIN || errno == EWOULDBLOCK { return }
            if mosquitto_socket(handle) < 0 || !(delegate?.linkCanReceive ?? true) { return }
        }
    }

    /// Waits on the wake-up pipe and, if given, the socket; returns the socket's ready events.
    @discardableResult
    private func waitForWakeUp(watching socket: (descriptor: Int32, events: Int16)?, timeout: ContinuousClock.Instant?) -> Int16 {
        var descriptors = [pollfd(fd: wakeUp.readEnd, events: Int16(POLLIN), revents: 0)]
        if let socket { descriptors.append(pollfd(fd: socket.descriptor, events: socket.events, revents: 0)) }
        var milliseconds: Int32 = -1
        if let timeout {
            let (seconds, attoseconds) = (timeout - .now).components
            milliseconds = Int32(clamping: max(0, seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000))
        }
        let count = poll(&descriptors, nfds_t(descriptors.count), milliseconds)
        if count > 0 && descriptors[0].revents != 0 { wakeUp.drain() }
        wakePending.store(false, ordering: .releasing)
        return count > 0 && socket != nil ? descriptors[1].revents : 0
    }

    /// Notices a socket that went away: reports it if libmosquitto did not, and plans the retry.
    private func noteClosed() {
        guard link.open, mosquitto_socket(handle) < 0 else { return }
        link.open = false
        if !link.disconnectReported {
            link.lastDisconnectCode = Int32(MOSQ_ERR_CONN_LOST.rawValue)
            delegate?.linkDidDisconnect(code: link.lastDisconnectCode)
        }
        link.disconnectReported = false
        // Another client took the session over (0x8E): coming back would take it back, and so on.
        if link.lastDisconnectCode == 0x8E { link.wanted = false }
        if link.wanted && link.closingDeadline == nil { scheduleRetry() }
    }

    /// libmosquitto's exponential back-off: BASE × (attempt + 1)², at most CAP seconds.
    private func scheduleRetry() {
        let delays = configuration.reconnectDelay
        let delay = min(delays.upperBound, delays.lowerBound * (link.attempt + 1) * (link.attempt + 1))
        link.attempt += 1
        link.retryAt = .now + .seconds(max(delay, 1))
    }

    private func retry() {
        link.retryAt = nil
        if mosquitto_reconnect(handle) == Int32(MOSQ_ERR_SUCCESS.rawValue) {
            link.open = true
            link.disconnectReported = false
        } else {
            scheduleRetry()
        }
    }

    /// Opens the TCP connection and queues CONNECT (with the session expiry under MQTT 5). Blocks
    /// while the name resolves and the connection is made; only this thread waits.
    private func dial(_ host: String, _ port: Int) -> MosquittoError? {
        var properties: OpaquePointer?
        if isV5, let expiry = configuration.sessionExpiryInterval {
            mosquitto_property_add_int32(&properties, Int32(MQTT_PROP_SESSION_EXPIRY_INTERVAL.rawValue), expiry)
        }
        let code = mosquitto_connect_bind_v5(handle, host, Int32(port), Int32(configuration.keepAlive), nil, properties)
        let systemError = errno
        mosquitto_property_free_all(&properties)
        guard code == Int32(MOSQ_ERR_SUCCESS.rawValue) else {
            return .library(code, "connect to \(host):\(port)", errno: systemError)
        }
        return nil
    }

    // MARK: Callbacks (the network thread, libmosquitto's callback mutex held)

    private func installCallbacks() {
        mosquitto_connect_v5_callback_set(handle) { _, context, code, flags, _ in
            guard let link = MosquittoLink.from(context) else { return }
            if code == 0 {
                link.link.wanted = true
                link.link.attempt = 0
            }
            link.delegate?.linkDidConnect(code: code, sessionPresent: flags & 1 != 0)
        }
        mosquitto_disconnect_v5_callback_set(handle) { _, context, code, _ in
            guard let link = MosquittoLink.from(context) else { return }
            link.link.disconnectReported = true
            link.link.lastDisconnectCode = code
            link.delegate?.linkDidDisconnect(code: code)
        }
        mosquitto_publish_v5_callback_set(handle) { _, context, mid, reason, _ in
            MosquittoLink.from(context)?.delegate?.linkDidPublish(mid: mid, reason: reason)
        }
        mosquitto_subscribe_v5_callback_set(handle) { _, context, mid, count, granted, _ in
            let codes = (0..<Int(count)).map { granted?[$0] ?? 0x80 }
            MosquittoLink.from(context)?.delegate?.linkDidSubscribe(mid: mid, granted: codes)
        }
        mosquitto_message_v5_callback_set(handle) { _, context, message, properties in
            guard let delegate = MosquittoLink.from(context)?.delegate, let message = message?.pointee, let topic = message.topic else {
                return
            }
            let payload = message.payloadlen > 0 && message.payload != nil
                ? Data(bytes: message.payload, count: Int(message.payloadlen)) : Data()
            delegate.linkDidReceive(MosquittoMessage(
                topic: String(cString: topic), payload: payload, qos: Int(message.qos), retain: message.retain,
                properties: MosquittoProperties(reading: properties)))
        }
    }

    private static func from(_ context: UnsafeMutableRawPointer?) -> MosquittoLink? {
        guard let context else { return nil }
        return Unmanaged<MosquittoLink>.fromOpaque(context).takeUnretainedValue()
    }
}
