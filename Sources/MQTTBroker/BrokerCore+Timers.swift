import NIOCore

extension BrokerCore {
    /// A will's delay ran out while its session stayed detached.
    func delayedWillDue(_ session: Session, generation: UInt64) {
        let publisher = session.guarded.withLock { guarded -> (@Sendable () -> Void)? in
            guard guarded.generation == generation, guarded.connection == nil else { return nil }
            let publisher = guarded.pendingWillPublisher
            guarded.pendingWill = nil
            guarded.pendingWillPublisher = nil
            return publisher
        }
        publisher?()
    }

    /// A detached session's expiry interval ran out: it ends, and a will still waiting goes out
    /// now (MQTT 5 §3.1.2.5: the will is sent when the session ends, if that comes first).
    func sessionExpired(_ session: Session, generation: UInt64) {
        let (expired, publisher) = session.guarded.withLock { guarded -> (Bool, (@Sendable () -> Void)?) in
            guard guarded.generation == generation, guarded.connection == nil else { return (false, nil) }
            return (true, guarded.pendingWillPublisher)
        }
        guard expired else { return }
        logger.debug("session \(session.clientIdentifier) expired")
        endSession(session)
        publisher?()
    }
}
