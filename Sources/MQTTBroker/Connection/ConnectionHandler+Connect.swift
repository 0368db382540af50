import Foundation
import MQTTCore
import NIOCore
import NIOSSL

extension ConnectionHandler {
    /// Answers a CONNECT that could not be decoded in the format its version expects: an
    /// unsupported protocol level gets CONNACK 0x01 (3.1.1) or 0x84 (v5) before closing.
    func rejectUndecodableConnect(_ frame: MQTTFrame, error: MQTTProtocolError) {
        let level = ConnectPacket.peekProtocolLevel(in: frame.body)
        logger.notice("rejecting CONNECT: \(error)")
        closeReason = .protocolError(error)
        // Only an unknown protocol level is answered (MQTT-3.1.2-2). For any other fault a v5
        // CONNACK is optional (MQTT 5 §4.13.1: "MAY"); Mosquitto closes without one, and so
        // does Parley, so clients see the same bytes from both.
        if error.reasonCode == .unsupportedProtocolVersion {
            version = level == ProtocolVersion.v5.rawValue ? .v5 : .v3_1_1
            write(.connack(ConnAckPacket(reasonCode: .unsupportedProtocolVersion)))
        }
        closeAfterReply()
    }

    func handleConnect(_ connect: ConnectPacket) {
        version = connect.protocolVersion
        isBridgeClient = connect.isBridge
        let assignedIdentifier: String?
        var clientIdentifier = connect.clientIdentifier
        if clientIdentifier.isEmpty {
            // 3.1.1 allows an empty id only with a clean session (MQTT 3.1.1 §3.1.3.1); v5
            // assigns one; 3.1 requires an id.
            guard version == .v5 || (version == .v3_1_1 && connect.cleanStart) else {
                refuse(.clientIdentifierNotValid, "empty client identifier without a clean session")
                return
            }
            clientIdentifier = "auto-" + UUID().uuidString
            assignedIdentifier = version == .v5 ? clientIdentifier : nil
        } else {
            assignedIdentifier = nil
        }
        if let method = connect.properties.authenticationMethod {
            // Enhanced authentication (AUTH exchanges) is not offered yet (MQTT 5 §4.12).
            refuse(.badAuthenticationMethod, "authentication method '\(method)' is not supported")
            return
        }
        if let will = connect.will, will.retain, !core.configuration.retainAvailable {
            // MQTT 5 §3.2.2.3.5: a retained will cannot be honoured, so the connection is refused.
            refuse(version == .v5 ? .retainNotSupported : .notAuthorized, "retained will while retain_available is false")
            return
        }
        var username = connect.username
        var named = false
        if let tls = listener.tls, tls.certificateNamesUser {
            // The certificate is the credential: the CONNECT's user name and password are
            // ignored, as are `allow_anonymous` and the password file (as in Mosquitto).
            let certificate = (try? channelContext?.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self))?.peerCertificate
            let name = certificate.flatMap {
                tls.useIdentityAsUsername ? CertificateIdentity.commonName(of: $0) : CertificateIdentity.subject(of: $0)
            }
            guard let name else {
                refuse(.badUserNameOrPassword, "no client certificate (or no name in it) to take the user name from")
                return
            }
            username = name
            named = true
        }
        let remote = channelContext?.remoteAddress.map { "\($0)" }
        var client = ClientInfo(
            clientIdentifier: clientIdentifier, username: username, protocolVersion: version, remoteAddress: remote,
            listener: listenerIndex)
        let security = core.security
        let trusted = !named && security.presentsInternalCredentials(client: client, password: connect.password)
        client.isTrusted = trusted
        self.client = client
        let request = AuthenticationRequest(
            client: client, password: connect.password, authenticationMethod: connect.properties.authenticationMethod,
            authenticationData: connect.properties.authenticationData)
        if !trusted && !named {
            // The broker's own rules come first, whatever authenticator is plugged in.
            let rules = security.rules(forListener: listenerIndex)
            let allowAnonymous = rules?.allowAnonymous ?? false
            if client.username == nil && !allowAnonymous {
                refuse(.notAuthorized, "anonymous clients are not allowed on this listener")
                return
            }
            // As in Mosquitto 2.0: without anonymous access, a user name alone proves nothing;
            // something (the password file, an authenticator) must check it.
            if !allowAnonymous && rules?.passwords == nil && core.hooks.authenticator == nil {
                refuse(.notAuthorized, "no password_file to check user '\(client.username ?? "")' against, and allow_anonymous is false")
                return
            }
        }
        if !trusted, let will = connect.will, let reason = core.willRefusal(will, client: client) {
            refuse(reason, "will to '\(will.topic)' refused (\(reason))")
            return
        }
        phase = .authenticating(held: [])
        guard let context = channelContext else { return }
        let checksPassword = !trusted && !named && client.username != nil && security.rules(forListener: listenerIndex)?.passwords != nil
        let authenticator = trusted ? nil : core.hooks.authenticator
        if !checksPassword && authenticator == nil {
            // Nothing to wait for: answer on this loop without a task hop.
            completeConnect(connect, client: client, assignedIdentifier: assignedIdentifier, result: .accepted)
            return
        }
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let promise = context.eventLoop.makePromise(of: AuthenticationResult.self)
        // Password hashing and the hook run off the event loop.
        promise.completeWithTask {
            if checksPassword, case .rejected(let reason) = security.checkPassword(request) { return .rejected(reason) }
            return await authenticator?.authenticate(request) ?? .accepted
        }
        promise.futureResult.whenSuccess { result in
            loopBound.value.completeConnect(connect, client: client, assignedIdentifier: assignedIdentifier, result: result)
        }
    }

    private func refuse(_ reason: ReasonCode, _ message: String) {
        logger.notice("refusing connection: \(message)")
        write(.connack(ConnAckPacket(reasonCode: reason)))
        phase = .closed
        closeAfterReply()
    }

    private func completeConnect(_ connect: ConnectPacket, client: ClientInfo, assignedIdentifier: String?, result: AuthenticationResult) {
        guard case .authenticating(let held) = phase, let connection else { return }
        if case .rejected(let reason) = result {
            refuse(reason, "authentication failed for user \(client.username ?? "(anonymous)")")
            return
        }
        let configuration = core.configuration
        let now = NIODeadline.now()

        // Session lifetime: v5 says it in CONNECT; 3.1.1 keeps a non-clean session forever,
        // or for `persistent_client_expiration`.
        var expiry: UInt32
        if version == .v5 {
            expiry = connect.properties.sessionExpiryInterval ?? 0
        } else {
            expiry = connect.cleanStart ? 0 : UInt32.max
        }
        if expiry != 0, let limit = configuration.persistentClientExpiration {
            expiry = min(expiry, UInt32(clamping: limit.components.seconds))
        }
        let window = core.inflightWindow(clientReceiveMaximum: connect.properties.receiveMaximum)
        let limits = SessionState.Limits(
            inflightWindow: window, maximumQueued: configuration.maxQueuedMessages,
            maximumQueuedBytes: configuration.maxQueuedBytes,
            queueQoS0WhileOffline: configuration.queueQoS0Messages)
        // A session is resumed only by the user it belongs to: another user name starts afresh
        // (session present 0), so nobody inherits someone else's subscriptions and queue.
        var keepAliveSeconds = connect.keepAlive
        var serverKeepAlive: UInt16?
        if configuration.maxKeepalive > 0 && (keepAliveSeconds == 0 || keepAliveSeconds > configuration.maxKeepalive) {
            keepAliveSeconds = configuration.maxKeepalive
            serverKeepAlive = keepAliveSeconds
        }
        var properties = MQTTProperties()
        if version == .v5 {
            properties.assignedClientIdentifier = assignedIdentifier
            properties.receiveMaximum = core.receiveMaximum
            if listener.maxTopicAlias > 0 { properties.topicAliasMaximum = listener.maxTopicAlias }
            if !configuration.retainAvailable { properties.retainAvailable = 0 }
            if let maximum = configuration.maxPacketSize { properties.maximumPacketSize = maximum }
            properties.serverKeepAlive = serverKeepAlive
        }
        let connackSize = MQTTPacket.connack(ConnAckPacket(reasonCode: .success, properties: properties)).encodedSize(version: version)
        if let maximum = connect.properties.maximumPacketSize, connackSize > maximum {
            // MQTT-3.1.2-24: nothing larger than the client's maximum goes out, not even the CONNACK;
            // the connection ends before it touches any session, as with Mosquitto.
            logger.notice("closing: a CONNACK of \(connackSize) bytes exceeds the client's maximum packet size \(maximum)")
            phase = .closed
            close()
            return
        }
        let cleanStart = connect.cleanStart || core.sessions.belongsToAnotherUser(client)
        let core = self.core
        let checkout = core.sessions.checkOut(clientIdentifier: client.clientIdentifier, cleanStart: cleanStart) {
            var state = SessionState(
                clientIdentifier: client.clientIdentifier, sessionID: core.makeSessionID(), limits: limits, expiryInterval: expiry)
            state.recordsChanges = core.persistence != nil
            return Session(clientIdentifier: client.clientIdentifier, state: state)
        }
        let replacedConnection = checkout.replaced.flatMap { retire($0) }
        let session = checkout.session
        var dropped: [Delivery] = []
        let (previousConnection, resumeActions, pendingWillCancelled, changes) = session.guarded.withLock {
            guarded -> (ConnectionContext?, [OutboundAction], Bool, [PersistenceChange]) in
            let previous = guarded.connection
            guarded.connection = connection
            guarded.client = client
            guarded.generation += 1
            let hadPendingWill = guarded.pendingWill != nil
            guarded.pendingWill?.cancel()
            guarded.pendingWill = nil
            guarded.expiry?.cancel()
            guarded.expiry = nil
            guarded.protocolState.limits = limits
            guarded.protocolState.expiryInterval = expiry
            guarded.protocolState.isConnected = true
            let actions = guarded.protocolState.resume(now: now, dropped: &dropped)
            return (previous, actions, hadPendingWill, guarded.protocolState.takeChanges())
        }
        if pendingWillCancelled { logger.debug("delayed will cancelled by reconnection") }
        // The session as this connection has it (expiry, user), then what resuming changed.
        core.persist(session)
        core.record(changes)
        if let previousConnection = previousConnection ?? replacedConnection {
            let continues = checkout.resumed
            previousConnection.eventLoop.execute {
                previousConnection.handler?.takeOver(sessionContinues: continues)
            }
        }
        for delivery in dropped { core.reportDrop(delivery.message, for: client.clientIdentifier, reason: .expired) }

        self.session = session
        self.will = connect.will
        phase = .connected
        aliases = TopicAliasTable(
            inboundMaximum: version == .v5 ? listener.maxTopicAlias : 0,
            outboundMaximum: version == .v5 ? connect.properties.topicAliasMaximum ?? 0 : 0)
        if let maximum = connect.properties.maximumPacketSize { clientMaximumPacketSize = Int(maximum) }
        write(.connack(ConnAckPacket(sessionPresent: checkout.resumed, reasonCode: .success, properties: properties)))
        for action in resumeActions { send(action) }

        if keepAliveSeconds > 0 {
            keepAlive = .milliseconds(Int64(keepAliveSeconds) * 1500)
            armKeepAliveCheck(timeout: keepAlive!)
        } else {
            keepAliveCheck?.cancel()
        }
        core.statistics.clientDidConnect()
        logger.info(
            "client connected: MQTT \(version), clean start \(connect.cleanStart), keep-alive \(keepAliveSeconds)s, session present \(checkout.resumed)")
        for observer in core.hooks.observers { observer.clientConnected(client) }
        for frame in held {
            guard case .connected = phase else { break }
            process(frame)
        }
        flushIfNeeded()
    }

    /// A clean-start CONNECT replaced `session`: it ends now, and a will still waiting for its
    /// delay goes out because its session is over (MQTT 5 §3.1.3.2.2).
    /// Returns the connection still attached to it, which the new connection takes over.
    private func retire(_ session: Session) -> ConnectionContext? {
        let (pendingWill, connection) = session.guarded.withLock { ($0.pendingWillPublisher, $0.connection) }
        core.endSession(session)
        pendingWill?()
        return connection
    }

    /// Another connection took this session over: v5 clients are told with DISCONNECT 0x8E.
    /// The will is published unless the new connection carries the session on and the will
    /// was to be delayed anyway.
    func takeOver(sessionContinues: Bool) {
        guard case .connected = phase else { return }
        logger.info("session taken over by a new connection")
        closeReason = .takenOver
        if version == .v5 { write(.disconnect(DisconnectPacket(reasonCode: .sessionTakenOver))) }
        if let will, let client, !willSuppressed {
            let delayed = (will.properties.willDelayInterval ?? 0) > 0
            if !(sessionContinues && delayed) { core.publishWill(will, client: client) }
        }
        willSuppressed = true
        session = nil
        closeAfterReply()
    }

    /// The connection is gone: detach from the session, then publish or schedule the will and
    /// end or schedule the end of the session.
    func connectionEnded() {
        core.statistics.clientDidDisconnect()
        guard let client else { return }
        for observer in core.hooks.observers { observer.clientDisconnected(client, reason: closeReason ?? .connectionLost) }
        logger.info("client disconnected: \(closeReason ?? .connectionLost)")
        guard let session, let connection else { return }
        let core = self.core
        let will = willSuppressed ? nil : self.will
        let eventLoop = connection.eventLoop
        var detachedSession: UInt64?
        enum Next {
            case nothing
            case publishWillNow(endSession: Bool)
            case endSession
        }
        let next = session.guarded.withLock { guarded -> Next in
            guard guarded.connection === connection else { return .nothing }
            guarded.connection = nil
            guarded.protocolState.isConnected = false
            let generation = guarded.generation
            let expiry = guarded.protocolState.expiryInterval
            let endsNow = expiry == 0
            if !endsNow && core.persistence != nil { detachedSession = session.sessionID }
            if !endsNow && expiry != UInt32.max {
                guarded.expiry = eventLoop.scheduleTask(in: .seconds(Int64(expiry))) {
                    core.sessionExpired(session, generation: generation)
                }
            }
            guard let will else { return endsNow ? .endSession : .nothing }
            let delay = min(will.properties.willDelayInterval ?? 0, expiry)
            if delay == 0 || endsNow { return .publishWillNow(endSession: endsNow) }
            guarded.pendingWillPublisher = { core.publishWill(will, client: client) }
            guarded.pendingWill = eventLoop.scheduleTask(in: .seconds(Int64(delay))) {
                core.delayedWillDue(session, generation: generation)
            }
            return .nothing
        }
        if let detachedSession { core.record([.detached(sessionID: detachedSession, at: Date())]) }
        switch next {
        case .nothing: break
        case .publishWillNow(let endSession):
            if let will { core.publishWill(will, client: client) }
            if endSession { core.endSession(session) }
        case .endSession: core.endSession(session)
        }
    }
}
