import MQTTCore
import NIOCore

extension ConnectionHandler {
    func handlePublish(_ publish: PublishPacket) {
        guard let client, let session else { return }
        guard publish.properties.subscriptionIdentifiers.isEmpty else {
            fail(.protocolViolation("PUBLISH from a client carries a subscription identifier"))
            return
        }
        let topic: String
        do {
            topic = try aliases.resolveIncoming(topic: publish.topic, alias: publish.properties.topicAlias)
        } catch {
            fail(error)
            return
        }
        if publish.retain && !core.configuration.retainAvailable {
            fail(MQTTProtocolError(.retainNotSupported, "retained PUBLISH while retain_available is false"))
            return
        }
        traffic.publishReceived += 1

        if publish.qos == .exactlyOnce, let identifier = publish.packetIdentifier {
            var changes: [PersistenceChange] = []
            let isNew = session.withState(recordingInto: &changes) { state -> Bool? in
                if state.incomingQoS2.contains(identifier) { return false }
                if state.incomingQoS2.count >= Int(core.receiveMaximum) { return nil }
                return state.receiveQoS2(identifier)
            }
            persist(changes)
            guard let isNew else {
                fail(MQTTProtocolError(.receiveMaximumExceeded, "more than \(core.receiveMaximum) QoS 2 messages awaiting PUBREL"))
                return
            }
            // A resend of a message already routed is acknowledged again but not delivered twice.
            var reason = isNew ? route(publish, topic: topic, client: client) : .success
            // 0x10 is optional (MQTT 5 §3.5.2.1: "MAY"); Mosquitto sends it in PUBACK only.
            if reason == .noMatchingSubscribers { reason = .success }
            write(.pubrec(PublishResponsePacket(packetIdentifier: identifier, reasonCode: reason)))
            if reason.isFailure {
                _ = session.withState(recordingInto: &changes) { $0.releaseQoS2(identifier) }
                persist(changes)
            }
            return
        }
        let reason = route(publish, topic: topic, client: client)
        if publish.qos == .atLeastOnce, let identifier = publish.packetIdentifier {
            write(.puback(PublishResponsePacket(packetIdentifier: identifier, reasonCode: reason)))
        }
    }

    /// Routes an incoming message; returns the reason code for its acknowledgement.
    private func route(_ publish: PublishPacket, topic: String, client: ClientInfo) -> ReasonCode {
        if let limit = core.configuration.messageSizeLimit, publish.payload.readableBytes > Int(limit) {
            logger.notice("dropping PUBLISH to \(topic): payload of \(publish.payload.readableBytes) bytes exceeds message_size_limit \(limit)")
            return version == .v5 ? .packetTooLarge : .success
        }
        guard core.mayPublish(client, topic: topic) else {
            logger.info("denied PUBLISH to \(topic)")
            return version == .v5 ? .notAuthorized : .success
        }
        if BrokerCore.isBrokerOwned(topic) { return .success }
        if core.memoryExceeded.load(ordering: .relaxed) {
            let refused = core.refusedOverMemoryLimit.add(1, ordering: .relaxed).newValue
            core.statistics.publishDropped.add(1, ordering: .relaxed)
            core.statistics.droppedOverMemoryLimit.add(1, ordering: .relaxed)
            if refused == 1 || refused % 1000 == 0 {
                logger.warning("refusing PUBLISH to \(topic): over memory_limit (\(refused) refused so far)")
            }
            return version == .v5 ? .quotaExceeded : .success
        }
        let message = ApplicationMessage(
            publish: publish, topic: topic, publisher: client.clientIdentifier, now: .now(),
            ownBytes: publish.qos != .atMostOnce || publish.retain || core.configuration.queueQoS0Messages)
        let receivers: Int
        if isReading {
            receivers = core.publish(message, from: client, into: &pendingDeliveries)
        } else {
            receivers = core.publish(message, from: client)
        }
        return receivers == 0 && version == .v5 ? .noMatchingSubscribers : .success
    }

    func handlePuback(_ ack: PublishResponsePacket) {
        guard let session else { return }
        var dropped: [Delivery] = []
        var changes: [PersistenceChange] = []
        let outcome = session.withAttachedState(connection, recordingInto: &changes) {
            state -> (SessionState.AcknowledgementResult, [OutboundAction]) in
            let result = state.acknowledgePuback(ack.packetIdentifier)
            return (result, result == .completed ? state.fillWindow(now: .now(), dropped: &dropped) : [])
        }
        guard let (result, actions) = outcome else { return }
        persist(changes)
        if result == .wrongFlow {
            failWrongFlow(ack, .puback)
            return
        }
        sendAll(actions, dropped: dropped)
    }

    func handlePubrec(_ ack: PublishResponsePacket) {
        guard let session else { return }
        var dropped: [Delivery] = []
        var changes: [PersistenceChange] = []
        let outcome = session.withAttachedState(connection, recordingInto: &changes) {
            state -> (SessionState.AcknowledgementResult, [OutboundAction]) in
            let result = state.acknowledgePubrec(ack.packetIdentifier, reasonCode: ack.reasonCode)
            let actions = ack.reasonCode.isFailure ? state.fillWindow(now: .now(), dropped: &dropped) : []
            return (result, actions)
        }
        guard let (result, actions) = outcome else { return }
        persist(changes)
        if result == .wrongFlow {
            failWrongFlow(ack, .pubrec)
            return
        }
        // An unknown identifier is answered with success too, as Mosquitto does: 0x92 is
        // allowed, not required (MQTT 5 §3.6.2.1), and after a restart it is no fault.
        if !ack.reasonCode.isFailure {
            write(.pubrel(PublishResponsePacket(packetIdentifier: ack.packetIdentifier)))
        }
        sendAll(actions, dropped: dropped)
    }

    func handlePubrel(_ ack: PublishResponsePacket) {
        guard let session else { return }
        var changes: [PersistenceChange] = []
        _ = session.withState(recordingInto: &changes) { $0.releaseQoS2(ack.packetIdentifier) }
        persist(changes)
        // Success for an identifier not held too (0x92 is allowed, not required: MQTT 5
        // §3.7.2.1): the PUBCOMP that answered it may have been lost, as Mosquitto reasons.
        write(.pubcomp(PublishResponsePacket(packetIdentifier: ack.packetIdentifier)))
    }

    func handlePubcomp(_ ack: PublishResponsePacket) {
        guard let session else { return }
        var dropped: [Delivery] = []
        var changes: [PersistenceChange] = []
        let outcome = session.withAttachedState(connection, recordingInto: &changes) {
            state -> (SessionState.AcknowledgementResult, [OutboundAction]) in
            let result = state.acknowledgePubcomp(ack.packetIdentifier)
            return (result, result == .completed ? state.fillWindow(now: .now(), dropped: &dropped) : [])
        }
        guard let (result, actions) = outcome else { return }
        persist(changes)
        if result == .wrongFlow {
            failWrongFlow(ack, .pubcomp)
            return
        }
        sendAll(actions, dropped: dropped)
    }

    /// An acknowledgement of the other QoS flow for a message in flight (a PUBCOMP for a QoS 1
    /// message, a PUBACK in a QoS 2 one): a protocol error (MQTT 5 §4.3), on which Mosquitto
    /// closes the connection. An identifier not in flight at all is not an error (it may be
    /// one acknowledged before a reconnection) and stays ignored.
    private func failWrongFlow(_ ack: PublishResponsePacket, _ type: PacketType) {
        fail(.protocolViolation("\(type) for packet identifier \(ack.packetIdentifier), which is in another QoS flow"))
    }

    private func sendAll(_ actions: [OutboundAction], dropped: [Delivery]) {
        for action in actions { send(action) }
        if let client {
            for delivery in dropped { core.reportDrop(delivery.message, for: client.clientIdentifier, reason: .expired) }
        }
    }

    /// Gives up an in-flight message that may not or cannot be written, and lets the next
    /// queued ones into the freed slot: with nothing in flight no acknowledgement would come to
    /// move the queue on.
    private func abandon(_ identifier: UInt16) {
        guard let session else { return }
        var dropped: [Delivery] = []
        var changes: [PersistenceChange] = []
        let actions = session.withAttachedState(connection, recordingInto: &changes) { state -> [OutboundAction] in
            state.abandon(identifier)
            return state.fillWindow(now: .now(), dropped: &dropped)
        }
        guard let actions else { return }
        persist(changes)
        sendAll(actions, dropped: dropped)
    }

    /// Writes one outbound action decided by the session, applying what belongs to this
    /// connection: topic alias, the client's Maximum Packet Size and the remaining expiry.
    func send(_ action: OutboundAction) {
        guard case .connected = phase else { return }
        switch action {
        case .pubrel(let identifier):
            write(.pubrel(PublishResponsePacket(packetIdentifier: identifier)))
        case .publish(let delivery, let identifier, let duplicate):
            // The last check before the network: whatever queued, retained or routed this
            // message, the rules in force now and this connection's user decide.
            if let client, !core.mayReceive(client, topic: delivery.message.topic) {
                if let identifier { abandon(identifier) }
                core.reportDrop(delivery.message, for: client.clientIdentifier, reason: .notAuthorized)
                return
            }
            let now = NIODeadline.now()
            var packet = PublishPacket(
                topic: delivery.message.topic, payload: delivery.message.payload, qos: delivery.qos,
                retain: delivery.retain, duplicate: duplicate, packetIdentifier: identifier)
            if version == .v5 {
                packet.properties = delivery.message.outgoingProperties(at: now, subscriptionIdentifiers: delivery.subscriptionIdentifiers)
            }
            if packet.qos == .atMostOnce, !delivery.isRetainedOnSubscribe, let channel = channelContext?.channel, !channel.isWritable {
                core.reportDrop(delivery.message, for: client?.clientIdentifier ?? "", reason: .slowConsumer)
                return
            }
            // Sizing a packet costs a pass over its properties: only pay it when the client set a limit.
            if clientMaximumPacketSize < MQTTLimits.maximumPacketSize,
                MQTTPacket.publish(packet).encodedSize(version: version) > clientMaximumPacketSize
            {
                if let identifier { abandon(identifier) }
                core.reportDrop(delivery.message, for: client?.clientIdentifier ?? "", reason: .packetTooLarge)
                return
            }
            if version == .v5 && !duplicate {
                let (topic, alias) = aliases.outgoing(topic: packet.topic)
                packet.topic = topic
                packet.properties.topicAlias = alias
            }
            traffic.publishSent += 1
            write(.publish(packet))
        }
    }
}
