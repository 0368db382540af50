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
    let router = Router()
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

    init(configuration: BrokerConfiguration, hooks: BrokerHooks, logger: Logger) {
        self.configuration = configuration
        self.hooks = hooks
        self.logger = logger
        self.security = SecurityPolicy(configuration: configuration)
        self.authorizer = hooks.authorizer is AllowAllAuthorizer ? nil : hooks.authorizer
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
            if message.payload.readableBytes == 0 {
                retainedStore.removeRetained(topic: message.topic)
            } else {
                retainedStore.retain(message)
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
        let (connection, client) = session.guarded.withLock { $0.ended ? (nil, nil) : ($0.connection, $0.client) }
        if let connection {
            batches.append(delivery, for: session, on: connection.eventLoop)
            return
        }
        if !checked, let client, !mayReceive(client, topic: delivery.message.topic) {
            reportDrop(delivery.message, for: session.clientIdentifier, reason: .notAuthorized)
            return
        }
        decide(delivery, for: session, now: now, flush: true)
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
        (topic.hasPrefix("$SYS/") || topic == "$SYS") && !topic.hasPrefix("$SYS/broker/connection/")
    }

    /// Runs the session's delivery decision and writes the result if it is to be sent now.
    /// Returns the connection written to, so a batch can flush each connection once.
    @discardableResult
    func decide(_ delivery: Delivery, for session: Session, now: NIODeadline, flush: Bool) -> ConnectionContext? {
        let decision = session.guarded.withLock { guarded -> (SessionState.DeliveryOutcome, ConnectionContext?)? in
            // A session that ended after routing looked it up has nobody left to deliver to.
            if guarded.ended { return nil }
            return (guarded.protocolState.deliver(delivery, now: now), guarded.connection)
        }
        guard let (outcome, connection) = decision else { return nil }
        switch outcome {
        case .send(let action):
            guard let connection else { return nil }
            if connection.eventLoop.inEventLoop {
                guard let handler = connection.handler else { return nil }
                handler.send(action)
                if flush { handler.flushIfNeeded() }
                return connection
            }
            // The session moved to another loop between lookup and decision: rare, so one hop each.
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
            return Array(guarded.protocolState.subscriptions.keys)
        }
        router.unsubscribeAll(ObjectIdentifier(session), filters: filters)
        hooks.sessionStore?.removeSession(clientIdentifier: session.clientIdentifier)
    }

    /// Tells the session store about a persistent session's current subscriptions and expiry.
    func persist(_ session: Session) {
        guard let store = hooks.sessionStore else { return }
        let snapshot = session.guarded.withLock { guarded -> SessionSnapshot? in
            let state = guarded.protocolState
            guard state.expiryInterval > 0 else { return nil }
            return SessionSnapshot(
                clientIdentifier: state.clientIdentifier, expiryInterval: state.expiryInterval, subscriptions: state.subscriptions,
                username: guarded.client?.username)
        }
        if let snapshot { store.saveSession(snapshot) }
    }

    /// Recreates the sessions a store kept, detached, with their subscriptions in the router.
    func restoreSessions(on eventLoop: any EventLoop) {
        guard let store = hooks.sessionStore else { return }
        let limits = SessionState.Limits(
            inflightWindow: inflightWindow(clientReceiveMaximum: nil), maximumQueued: configuration.maxQueuedMessages,
            maximumQueuedBytes: configuration.maxQueuedBytes, queueQoS0WhileOffline: configuration.queueQoS0Messages)
        for snapshot in store.loadSessions() where snapshot.expiryInterval > 0 {
            var state = SessionState(clientIdentifier: snapshot.clientIdentifier, limits: limits, expiryInterval: snapshot.expiryInterval)
            state.subscriptions = snapshot.subscriptions
            let session = Session(clientIdentifier: snapshot.clientIdentifier, state: state)
            session.guarded.withLock {
                $0.client = ClientInfo(
                    clientIdentifier: snapshot.clientIdentifier, username: snapshot.username, protocolVersion: .v5, remoteAddress: nil)
            }
            _ = sessions.checkOut(clientIdentifier: snapshot.clientIdentifier, cleanStart: true) { session }
            for (filter, subscription) in snapshot.subscriptions {
                router.subscribe(
                    .session(session), filter: filter, options: subscription.options,
                    subscriptionIdentifier: subscription.subscriptionIdentifier)
            }
            if snapshot.expiryInterval != UInt32.max {
                let expiry = eventLoop.scheduleTask(in: .seconds(Int64(snapshot.expiryInterval))) { [self] in
                    sessionExpired(session, generation: 0)
                }
                session.guarded.withLock { $0.expiry = expiry }
            }
        }
        logger.notice("restored \(sessions.count) persistent sessions")
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

    var isEmpty: Bool { batches.isEmpty }

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
        for (session, delivery) in items {
            if let connection = core.decide(delivery, for: session, now: now, flush: false),
                !touched.contains(where: { $0 === connection })
            {
                touched.append(connection)
            }
        }
        for connection in touched {
            if flushAtEndOfTick { connection.handler?.flushAtEndOfTick() } else { connection.handler?.flushIfNeeded() }
        }
    }
}
