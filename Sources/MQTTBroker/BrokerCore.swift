import Foundation
import Logging
import MQTTCore
import NIOCore
import Synchronization

/// The shared heart of a broker: routing, sessions, retained messages, hooks and counters.
///
/// Created by `Broker` and referenced by every connection handler and the inline client. It holds
/// no lock of its own; each part it owns (router, registry, retained store, sessions) guards
/// itself, and this type sequences them so that no lock is held while another is taken or
/// while anything is written or called out.
final class BrokerCore: Sendable {
    let configuration: BrokerConfiguration
    let hooks: BrokerHooks
    let router: Router
    let sessions = SessionRegistry()
    let statistics = BrokerStatistics()
    let logger: Logger
    let startedAt = NIODeadline.now()
    let security: SecurityPolicy
    /// The embedder's authorizer, or nil for the default that allows everything (so the hot
    /// path of a broker without rules makes no call).
    let authorizer: (any Authorizer)?
    /// Sees every connection handler as it joins its pipeline. Only leak tests set it, to follow
    /// a connection's objects with weak references until they are freed.
    let connectionWatch = Mutex<(@Sendable (ConnectionHandler) -> Void)?>(nil)
    /// Where changes to retained messages and persistent sessions go; nil keeps them in memory.
    let persistence: (any BrokerPersistence)?
    /// Numbers sessions for the store; continues above the restored ones.
    private let sessionNumbers = Atomic<UInt64>(1)
    /// Set while the process is above `memory_limit`; new PUBLISHes are refused meanwhile.
    let memoryExceeded = Atomic<Bool>(false)
    /// PUBLISHes refused over `memory_limit`, to rate-limit the log.
    let refusedOverMemoryLimit = Atomic<Int>(0)
    /// Store failures logged so far, to rate-limit the log.
    private let persistenceFailures = Atomic<Int>(0)

    init(configuration: BrokerConfiguration, hooks: BrokerHooks, logger: Logger) {
        router = Router(copyPerSubscription: configuration.copyPerSubscription)
        self.configuration = configuration
        self.hooks = hooks
        self.logger = logger
        self.security = SecurityPolicy(configuration: configuration)
        self.authorizer = hooks.authorizer is AllowAllAuthorizer ? nil : hooks.authorizer
        self.persistence = hooks.persistence
    }

    /// Per event loop, the connections whose acknowledgements wait for this tick's sync.
    private let pendingSyncs = Mutex<[ObjectIdentifier: [NIOLoopBound<ConnectionHandler>]]>([:])

    /// Whether acknowledgements wait for `persistence.sync()` (`persistence_fsync`).
    var syncsBeforeAcknowledging: Bool { persistence?.syncsToDisk ?? false }

    /// Asks the store for a sync at the end of this loop tick, for every connection that asks
    /// in it (one fsync covers the reads of many publishers), and tells each when it is done.
    func syncAtEndOfTick(_ handler: ConnectionHandler, on loop: any EventLoop) {
        let key = ObjectIdentifier(loop)
        let first = pendingSyncs.withLock { pending in
            let first = pending[key] == nil
            pending[key, default: []].append(NIOLoopBound(handler, eventLoop: loop))
            return first
        }
        guard first else { return }
        loop.execute { [self] in
            let handlers = pendingSyncs.withLock { $0.removeValue(forKey: key) ?? [] }
            for handler in handlers { handler.value.syncRequested() }
            persistence?.sync { [self] error in
                if let error { reportSyncFailure(error) }
                loop.execute {
                    for handler in handlers { handler.value.becameDurable() }
                }
            }
        }
    }

    /// Waits for a sync: for a connection closing now, whose last writes cannot wait.
    func syncAndWait() {
        guard let persistence else { return }
        let done = DispatchSemaphore(value: 0)
        persistence.sync { [self] error in
            if let error { reportSyncFailure(error) }
            done.signal()
        }
        done.wait()
    }

    private func reportSyncFailure(_ error: PersistenceError) {
        let failures = persistenceFailures.add(1, ordering: .relaxed).newValue
        if failures == 1 || failures % 1000 == 0 {
            logger.error("persistence: cannot sync (\(failures) failures so far): \(error)")
        }
    }

    func makeSessionID() -> UInt64 {
        sessionNumbers.add(1, ordering: .relaxed).oldValue
    }

    /// Stores one group of changes; returns once the store has them durably. A store that
    /// fails is logged (the first failure and every thousandth) and the broker carries on with
    /// what it has in memory.
    func record(_ changes: [PersistenceChange]) {
        guard let persistence, !changes.isEmpty else { return }
        do {
            try persistence.record(changes)
        } catch {
            let failures = persistenceFailures.add(1, ordering: .relaxed).newValue
            if failures == 1 || failures % 1000 == 0 {
                logger.error("persistence: cannot store changes (\(failures) failures so far): \(error)")
            }
        }
    }

    var retainedStore: any RetainedMessageStore { hooks.retainedStore }

    func connectionHandlerAdded(_ handler: ConnectionHandler) {
        connectionWatch.withLock { $0 }?(handler)
    }

    /// Routes a message to every matching subscriber and updates the retained store.
    /// Returns how many subscribers it was routed to (v5 reports 0x10 when none).
    @discardableResult
    func publish(_ message: ApplicationMessage, from client: ClientInfo?) -> Int {
        var writes = LoopBatches()
        let receivers = publish(message, from: client, into: &writes)
        writes.dispatch(self)
        return receivers
    }

    /// Routes a message, leaving the deliveries to attached sessions in `writes`: a connection
    /// collects everything one read routed and dispatches it once, at the end of the read, so
    /// each other loop gets one hop and each subscriber one flush per read, not per message.
    func publish(_ message: ApplicationMessage, from client: ClientInfo?, into writes: inout LoopBatches) -> Int {
        if message.retain {
            // `$SYS` is republished from live figures at every start: storing it would only
            // bring back stale ones.
            let stores = persistence != nil && !message.topic.utf8.starts(with: "$SYS".utf8)
            if message.payload.readableBytes == 0 {
                retainedStore.removeRetained(topic: message.topic)
                if stores { writes.changes.append(.removeRetained(topic: message.topic)) }
            } else {
                retainedStore.retain(message)
                if stores { writes.changes.append(.retain(message)) }
            }
        }
        for observer in hooks.observers { observer.messagePublished(message, by: client) }
        let routed = router.route(message)
        guard !routed.isEmpty else { return 0 }
        let now = NIODeadline.now()
        var receivers = 0
        for match in routed.matches {
            switch match.target {
            case .inline(let subscriber):
                subscriber.receive(match.delivery, now: now)
            case .session(let session):
                deliver(match.delivery, to: session, now: now, batches: &writes)
            }
            receivers += 1
        }
        for group in routed.sharedGroups {
            // A member that may not read the topic is passed over, so the group still gets it.
            guard let match = group.first(where: { mayReceive($0.target, topic: message.topic) }) else {
                if case .session(let session)? = group.first?.target {
                    reportDrop(message, for: session.clientIdentifier, reason: .notAuthorized)
                }
                continue
            }
            switch match.target {
            case .inline(let subscriber): subscriber.receive(match.delivery, now: now)
            case .session(let session): deliver(match.delivery, to: session, now: now, batches: &writes, checked: true)
            }
            receivers += 1
        }
        return receivers
    }

    /// Hands one delivery to a session. For an attached session the decision (send now, queue
    /// or drop) is taken on the connection's own event loop, in `batches`, so that it is ordered
    /// with the acknowledgements that free its inflight window, and the connection checks the
    /// read rules as it writes; a detached session is checked against its last client's rules
    /// and decides here.
    func deliver(_ delivery: Delivery, to session: Session, now: NIODeadline, batches: inout LoopBatches, checked: Bool = false) {
        let (connection, client, stored) = session.guarded.withLock { guarded in
            guarded.ended ? (nil, nil, nil) : (guarded.connection, guarded.client, guarded.protocolState.storedSessionID(for: delivery))
        }
        if let stored {
            // Stored before the decision on the session's loop, and before this read is
            // acknowledged: the transitions that follow (sent, finished) refer to it.
            batches.changes.append(.queued(sessionID: stored, PersistedDelivery(
                message: delivery.message, qos: delivery.qos, retain: delivery.retain,
                subscriptionIdentifiers: delivery.subscriptionIdentifiers)))
        }
        if let connection {
            batches.append(delivery, for: session, on: connection.eventLoop)
            return
        }
        if !checked, let client, !mayReceive(client, topic: delivery.message.topic) {
            reportDrop(delivery.message, for: session.clientIdentifier, reason: .notAuthorized)
            return
        }
        decide(delivery, for: session, now: now, flush: true, changes: &batches.changes)
    }

    // MARK: - Authorization

    /// Whether a network client may publish to `topic`: the ACL file, then the authorizer hook.
    /// Clients with the in-process credential are trusted.
    func mayPublish(_ client: ClientInfo, topic: String) -> Bool {
        if security.isInternal(client) { return true }
        if security.usesACL, let acl = security.rules(forListener: client.listener)?.acl,
            !acl.permits(.write, topic: topic, client: client)
        {
            return false
        }
        return authorizer?.canPublish(client, topic: topic) ?? true
    }

    func maySubscribe(_ client: ClientInfo, filter: String) -> Bool {
        if security.isInternal(client) { return true }
        if security.usesACL, let acl = security.rules(forListener: client.listener)?.acl,
            !acl.permitsSubscription(to: filter, client: client)
        {
            return false
        }
        return authorizer?.canSubscribe(client, filter: filter) ?? true
    }

    func mayReceive(_ client: ClientInfo, topic: String) -> Bool {
        guard security.usesACL || authorizer != nil else { return true }
        if security.isInternal(client) { return true }
        if security.usesACL, let acl = security.rules(forListener: client.listener)?.acl,
            !acl.permits(.read, topic: topic, client: client)
        {
            return false
        }
        return authorizer?.canReceive(client, topic: topic) ?? true
    }

    /// Inline subscribers belong to the embedding program and receive everything; a session is
    /// judged by the client it last connected as.
    private func mayReceive(_ target: SubscriptionTarget, topic: String) -> Bool {
        guard case .session(let session) = target else { return true }
        guard let client = session.guarded.withLock({ $0.client }) else { return true }
        return mayReceive(client, topic: topic)
    }

    /// Why a will cannot be accepted with its CONNECT, checked as a PUBLISH to its topic would
    /// be: the ACL, `$SYS`, and `message_size_limit`. A will refused here is never published.
    func willRefusal(_ will: Will, client: ClientInfo) -> ReasonCode? {
        if Self.isBrokerOwned(will.topic) { return .notAuthorized }
        if let limit = configuration.messageSizeLimit, will.payload.readableBytes > Int(limit) { return .packetTooLarge }
        if !mayPublish(client, topic: will.topic) { return .notAuthorized }
        return nil
    }

    /// `$SYS` belongs to the broker, so its statistics cannot be forged; Mosquitto is more
    /// lenient. Bridges (Mosquitto's and Parley's) publish their link state under
    /// `$SYS/broker/connection/NAME/state`, which stays open to clients.
    static func isBrokerOwned(_ topic: String) -> Bool {
        // Bytes, as the trie matches them: "$SYS/" followed by a combining mark is still `$SYS`.
        let bytes = topic.utf8
        return (bytes.starts(with: "$SYS/".utf8) || bytes.elementsEqual("$SYS".utf8))
            && !bytes.starts(with: "$SYS/broker/connection/".utf8)
    }

    /// Runs the session's delivery decision and writes the result if it is to be sent now.
    /// Returns the connection written to, so a batch can flush each connection once.
    @discardableResult
    func decide(
        _ delivery: Delivery, for session: Session, now: NIODeadline, flush: Bool, changes: inout [PersistenceChange]
    ) -> ConnectionContext? {
        let decision = session.guarded.withLock { guarded -> (SessionState.DeliveryOutcome, ConnectionContext?, [PersistenceChange])? in
            // A session that ended after routing looked it up has nobody left to deliver to.
            if guarded.ended { return nil }
            let outcome = guarded.protocolState.deliver(delivery, now: now)
            return (outcome, guarded.connection, guarded.protocolState.takeChanges())
        }
        guard let (outcome, connection, made) = decision else { return nil }
        changes.append(contentsOf: made)
        switch outcome {
        case .send(let action):
            guard let connection else { return nil }
            if connection.eventLoop.inEventLoop {
                guard let handler = connection.handler else { return nil }
                handler.send(action)
                if flush { handler.flushIfNeeded() }
                return connection
            }
            // The session moved to another loop between lookup and decision: rare, so one hop
            // each, after the decision's changes are stored.
            let pending = changes
            changes = []
            record(pending)
            connection.eventLoop.execute {
                guard let handler = connection.handler else { return }
                handler.send(action)
                handler.flushIfNeeded()
            }
        case .queued:
            break
        case .dropped(let reason):
            reportDrop(delivery.message, for: session.clientIdentifier, reason: reason)
        }
        return nil
    }

    func reportDrop(_ message: ApplicationMessage, for clientIdentifier: String, reason: DropReason) {
        statistics.countDrop(reason)
        if reason != .offlineQoS0 {
            let dropped = statistics.publishDropped.add(1, ordering: .relaxed).newValue
            // Like Mosquitto's "Outgoing messages are being dropped", but rate-limited: the first
            // drop and every thousandth after it.
            if dropped == 1 || dropped % 1000 == 0 {
                logger.warning("dropping outgoing messages (\(dropped) so far); latest for \(clientIdentifier): \(reason)")
            }
        }
        for observer in hooks.observers { observer.messageDropped(message, for: clientIdentifier, reason: reason) }
    }

    /// Publishes a client's will (MQTT 5 §3.1.2.5), if it may still publish there.
    func publishWill(_ will: Will, client: ClientInfo) {
        // Checked at CONNECT; checked again because the rules may have been reloaded since.
        guard willRefusal(will, client: client) == nil else {
            logger.info("not publishing the will of \(client.clientIdentifier) to \(will.topic): no longer authorized")
            return
        }
        var properties = will.properties
        properties.willDelayInterval = nil
        let expiresAt = properties.messageExpiryInterval.map { NIODeadline.now() + .seconds(Int64($0)) }
        properties.messageExpiryInterval = nil
        let message = ApplicationMessage(
            topic: will.topic, payload: will.payload, qos: will.qos, retain: will.retain && configuration.retainAvailable,
            properties: properties, expiresAt: expiresAt, publisherClientIdentifier: client.clientIdentifier)
        logger.debug("publishing will of \(client.clientIdentifier) to \(will.topic)")
        publish(message, from: client)
    }

    /// Ends a session for good: forgets it, its subscriptions and queue, and cancels its timers.
    func endSession(_ session: Session) {
        sessions.remove(session)
        let filters = session.guarded.withLock { guarded -> [String] in
            guarded.ended = true
            guarded.connection = nil
            guarded.pendingWill?.cancel()
            guarded.pendingWill = nil
            guarded.pendingWillPublisher = nil
            guarded.expiry?.cancel()
            guarded.expiry = nil
            return guarded.protocolState.subscriptions.keys.map(\.string)
        }
        router.unsubscribeAll(ObjectIdentifier(session), filters: filters)
        if persistence != nil { record([.sessionEnded(sessionID: session.sessionID)]) }
    }

    /// Tells the store a persistent session's current subscriptions, expiry and user.
    func persist(_ session: Session) {
        guard persistence != nil else { return }
        let header = session.guarded.withLock { guarded -> PersistedSession.Header? in
            // An ended session is not saved again (its end may already be stored; the store
            // also ignores a session it saw end, should the two cross).
            guard !guarded.ended else { return nil }
            let state = guarded.protocolState
            return PersistedSession.Header(
                sessionID: state.sessionID, clientIdentifier: state.clientIdentifier, expiryInterval: state.expiryInterval,
                username: guarded.client?.username, subscriptions: state.subscriptions)
        }
        if let header { record([.session(header)]) }
    }

    /// Loads what the store kept: retained messages, and the persistent sessions, detached,
    /// with their subscriptions in the router and their queues, flights and held QoS 2
    /// identifiers; a session whose expiry ran out while the broker was down ends now.
    func restore(on eventLoop: any EventLoop) throws(PersistenceError) {
        guard let persistence else { return }
        let state = try persistence.load(logger: logger)
        for message in state.retained { retainedStore.retain(message) }
        let limits = SessionState.Limits(
            inflightWindow: inflightWindow(clientReceiveMaximum: nil), maximumQueued: configuration.maxQueuedMessages,
            maximumQueuedBytes: configuration.maxQueuedBytes, queueQoS0WhileOffline: configuration.queueQoS0Messages)
        let now = Date()
        var highest: UInt64 = 0
        var expired: [UInt64] = []
        for stored in state.sessions {
            let header = stored.header
            highest = max(highest, header.sessionID)
            var remaining = TimeAmount.seconds(Int64(header.expiryInterval))
            if let disconnectedAt = stored.disconnectedAt, header.expiryInterval != UInt32.max {
                let left = Double(header.expiryInterval) - now.timeIntervalSince(disconnectedAt)
                guard left > 0 else {
                    expired.append(header.sessionID)
                    continue
                }
                remaining = .milliseconds(Int64(left * 1000))
            }
            var sessionState = SessionState(
                clientIdentifier: header.clientIdentifier, sessionID: header.sessionID, limits: limits,
                expiryInterval: header.expiryInterval)
            sessionState.recordsChanges = true
            sessionState.subscriptions = header.subscriptions
            sessionState.restore(stored.deliveries, incomingQoS2: stored.incomingQoS2)
            let session = Session(clientIdentifier: header.clientIdentifier, state: sessionState)
            session.guarded.withLock {
                $0.client = ClientInfo(
                    clientIdentifier: header.clientIdentifier, username: header.username, protocolVersion: .v5, remoteAddress: nil)
            }
            _ = sessions.checkOut(clientIdentifier: header.clientIdentifier, cleanStart: true) { session }
            for (filter, subscription) in header.subscriptions {
                router.subscribe(
                    .session(session), filter: filter.string, options: subscription.options,
                    subscriptionIdentifier: subscription.subscriptionIdentifier)
            }
            if header.expiryInterval != UInt32.max {
                let expiry = eventLoop.scheduleTask(in: remaining) { [self] in
                    sessionExpired(session, generation: 0)
                }
                session.guarded.withLock { $0.expiry = expiry }
            }
        }
        sessionNumbers.store(highest + 1, ordering: .relaxed)
        record(expired.map { .sessionEnded(sessionID: $0) })
        if !expired.isEmpty { logger.notice("persistence: \(expired.count) stored sessions expired while the broker was stopped") }
    }

    /// The inflight window for a client that announced `receiveMaximum`.
    func inflightWindow(clientReceiveMaximum: UInt16?) -> Int {
        let client = Int(clientReceiveMaximum ?? UInt16.max)
        let configured = configuration.maxInflightMessages
        return configured == 0 ? client : min(client, configured)
    }

    /// The Receive Maximum the broker announces: how many QoS 2 PUBLISHes a client may leave unreleased.
    var receiveMaximum: UInt16 {
        let configured = configuration.maxInflightMessages
        return configured == 0 ? UInt16.max : UInt16(clamping: configured)
    }
}

/// Deliveries grouped by the event loop of their session's connection, so that one routing
/// pass (or one read's worth of them) hops to each loop at most once and the payload buffer is
/// shared, not copied. A broker has a handful of loops: a list searched in order beats hashing.
struct LoopBatches {
    private var batches: [(loop: any EventLoop, items: [(Session, Delivery)])] = []
    /// What routing changed for the store (retained messages, deliveries to persistent
    /// sessions), recorded before the deliveries leave and before the read is acknowledged.
    var changes: [PersistenceChange] = []

    var isEmpty: Bool { batches.isEmpty && changes.isEmpty }

    mutating func append(_ delivery: Delivery, for session: Session, on loop: any EventLoop) {
        for index in batches.indices where batches[index].loop === loop {
            batches[index].items.append((session, delivery))
            return
        }
        batches.append((loop, [(session, delivery)]))
    }

    /// Runs the decisions for this loop now and sends the others' over; each connection written
    /// to flushes once, at the end of the current loop tick for this loop's connections (so the
    /// reads of many publishers in one tick share a write), at the end of the batch elsewhere.
    func dispatch(_ core: BrokerCore) {
        core.record(changes)
        for batch in batches {
            if batch.loop.inEventLoop {
                Self.run(batch.items, core: core, flushAtEndOfTick: true)
            } else {
                let items = batch.items
                batch.loop.execute { Self.run(items, core: core, flushAtEndOfTick: false) }
            }
        }
    }

    private static func run(_ items: [(Session, Delivery)], core: BrokerCore, flushAtEndOfTick: Bool) {
        let now = NIODeadline.now()
        var touched: [ConnectionContext] = []
        var changes: [PersistenceChange] = []
        for (session, delivery) in items {
            if let connection = core.decide(delivery, for: session, now: now, flush: false, changes: &changes),
                !touched.contains(where: { $0 === connection })
            {
                touched.append(connection)
            }
        }
        // Flights are stored before their PUBLISHes leave: a QoS 2 message resent after a
        // crash keeps its packet identifier (and, with fsync, after a power cut).
        core.record(changes)
        if !changes.isEmpty && core.syncsBeforeAcknowledging {
            for connection in touched { connection.handler?.awaitDurability() }
        }
        for connection in touched {
            if flushAtEndOfTick { connection.handler?.flushAtEndOfTick() } else { connection.handler?.flushIfNeeded() }
        }
    }
}
