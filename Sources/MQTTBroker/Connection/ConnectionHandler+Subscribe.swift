import MQTTCore
import NIOCore

extension ConnectionHandler {
    func handleSubscribe(_ subscribe: SubscribePacket) {
        guard let client, let session else { return }
        let subscriptionIdentifier = subscribe.properties.subscriptionIdentifiers.first
        var codes: [ReasonCode] = []
        var retained: [Delivery] = []
        for entry in subscribe.subscriptions {
            let filter = entry.topicFilter
            do {
                try TopicValidation.validateTopicFilter(filter)
            } catch where error.reasonCode == .protocolError {
                fail(error)
                return
            } catch {
                logger.info("refusing subscription to '\(filter)': \(error.message)")
                codes.append(.topicFilterInvalid)
                continue
            }
            let shared = SharedSubscription(filter)
            if shared != nil && entry.options.noLocal {
                // MQTT 5 §3.8.3.1: No Local on a shared subscription is a protocol error.
                fail(.protocolViolation("No Local set on shared subscription '\(filter)'"))
                return
            }
            guard core.maySubscribe(client, filter: filter) else {
                logger.info("denied subscription to '\(filter)'")
                codes.append(.notAuthorized)
                continue
            }
            var options = entry.options
            if isBridgeClient && shared == nil {
                // What Mosquitto gives its bridges: their own messages do not come back, and
                // retained ones stay retained on the far side.
                options.noLocal = true
                options.retainAsPublished = true
            }
            let subscription = SessionSubscription(options: options, subscriptionIdentifier: subscriptionIdentifier)
            // A clean-start takeover on another loop may end the session meanwhile: an ended
            // session takes no subscription, and one it ended during this takes its entry back
            // out of the router (`endSession` removes only the filters it saw).
            let added = session.guarded.withLock { guarded -> Bool in
                guard !guarded.ended else { return false }
                guarded.protocolState.subscriptions[UTF8Key(filter)] = subscription
                return true
            }
            guard added else { return }
            let isNew = core.router.subscribe(
                .session(session), filter: filter, options: options, subscriptionIdentifier: subscriptionIdentifier)
            if session.guarded.withLock({ $0.ended }) {
                core.router.unsubscribe(ObjectIdentifier(session), filter: filter)
                return
            }
            codes.append(.granted(options.qos))

            // Retained messages are not sent for shared subscriptions (MQTT 5 §4.8.2).
            let handling = options.retainHandling
            guard shared == nil, handling == .sendOnSubscribe || (handling == .sendOnSubscribeIfNew && isNew) else { continue }
            for message in core.retainedStore.retainedMessages(matching: filter)
            where core.mayReceive(client, topic: message.topic) {
                retained.append(Delivery(
                    message: message, qos: min(message.qos, options.qos), retain: true,
                    subscriptionIdentifiers: subscriptionIdentifier.map { [$0] } ?? [], isRetainedOnSubscribe: true))
            }
        }
        write(.suback(SubAckPacket(packetIdentifier: subscribe.packetIdentifier, reasonCodes: codes)))
        core.persist(session)
        guard !retained.isEmpty else { return }
        var batches = LoopBatches()
        let now = NIODeadline.now()
        for delivery in retained { core.deliver(delivery, to: session, now: now, batches: &batches) }
        batches.dispatch(core)
    }

    func handleUnsubscribe(_ unsubscribe: UnsubscribePacket) {
        guard let session else { return }
        var codes: [ReasonCode] = []
        for filter in unsubscribe.topicFilters {
            let existed = session.withState { $0.subscriptions.removeValue(forKey: UTF8Key(filter)) != nil }
            core.router.unsubscribe(ObjectIdentifier(session), filter: filter)
            codes.append(existed ? .success : .noSubscriptionExisted)
        }
        write(.unsuback(UnsubAckPacket(packetIdentifier: unsubscribe.packetIdentifier, reasonCodes: codes)))
        core.persist(session)
    }

    func handleDisconnect(_ disconnect: DisconnectPacket) {
        closeReason = .clientDisconnected(disconnect.reasonCode)
        // v5 reason 0x04 asks for the will to be published anyway (MQTT 5 §3.14.2.1).
        willSuppressed = disconnect.reasonCode != .disconnectWithWillMessage
        if let requested = disconnect.properties.sessionExpiryInterval, let session {
            let current = session.withState { $0.expiryInterval }
            if current == 0 && requested != 0 {
                fail(.protocolViolation("DISCONNECT sets a session expiry after CONNECT set 0"))
                return
            }
            session.withState { $0.expiryInterval = requested }
            if requested > 0 { core.persist(session) }
        }
        close()
    }
}
