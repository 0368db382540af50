import Logging
import MQTTCore
import NIOCore

/// One client connection: decodes its packets, runs the protocol and writes replies.
///
/// Owned by the channel pipeline and touched only on the channel's event loop, so it needs no
/// lock. Shared state it reaches (router, sessions, retained store) goes through `BrokerCore`.
/// Other event loops reach this handler only through its `ConnectionContext`, by hopping here.
///
/// Lifetime: nothing outside the pipeline holds the handler strongly for longer than a
/// callback (the context's reference is weak, timers are cancelled when the channel goes), and
/// `handlerRemoved` lets go of the pipeline context, so a closed connection frees its handler,
/// pipeline and channel at once.
///
/// Memory: ten thousand idle connections are ten thousand of these, so what every connection of
/// a listener shares (its configuration, the logger) is held by reference, the will is boxed,
/// and the handler cuts frames out of the byte stream itself rather than through a
/// `ByteToMessageHandler` and one more pipeline context.
final class ConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    enum Phase {
        /// Waiting for CONNECT; any other packet closes the connection.
        case awaitingConnect
        /// CONNECT received, authenticator running; later packets are held until it answers.
        case authenticating(held: [MQTTFrame])
        case connected
        case closed
    }

    let core: BrokerCore
    let listenerContext: ListenerContext
    /// The broker's logger; `logger` adds this connection's peer and client to it when a line
    /// is logged, so that idle connections do not each hold a metadata dictionary.
    let baseLogger: Logger
    /// Bytes of a packet that has not arrived whole yet.
    var inbound: ByteBuffer?
    var frameDecoder: MQTTFrameDecoder
    var phase: Phase = .awaitingConnect
    var version: ProtocolVersion = .v3_1_1
    /// A Mosquitto bridge (protocol level with the bridge flag): its subscriptions are No Local.
    var isBridgeClient = false
    var channelContext: ChannelHandlerContext?
    var connection: ConnectionContext?
    var session: Session?
    var client: ClientInfo?
    var heldWill: HeldWill?
    var aliases = TopicAliasTable(inboundMaximum: 0, outboundMaximum: 0)
    /// The largest packet the client accepts (v5 Maximum Packet Size).
    var clientMaximumPacketSize = MQTTLimits.maximumPacketSize
    var keepAlive: TimeAmount?
    var lastRead = NIODeadline.now()
    var keepAliveCheck: Scheduled<Void>?
    /// Closes a lingering connection whose client does not close it (`closeAfterReply`).
    var lingerTimer: Scheduled<Void>?
    /// Why the connection ended, once known; nil when the peer just went away.
    var closeReason: DisconnectReason?
    /// Set by a DISCONNECT that suppresses the will (reason 0x00).
    var willSuppressed = false
    var needsFlush = false
    /// Where this connection's writes stand with the store's sync (`persistence_fsync`): they
    /// are flushed only when nothing it recorded waits for one.
    enum SyncState {
        case none
        /// A sync is asked for at the end of this tick; what is recorded until then is covered.
        case waitingForTick
        /// The store is syncing; `recordedSince` says this connection recorded more since it
        /// asked, which that sync may not cover.
        case waitingForStore(recordedSince: Bool)
    }

    var syncState = SyncState.none
    var awaitingSync: Bool {
        if case .none = syncState { return false }
        return true
    }
    /// A flush is queued for the end of this loop tick (`flushAtEndOfTick`).
    var flushScheduled = false
    /// Set between `channelRead` and `channelReadComplete`: messages routed meanwhile wait in
    /// `pendingDeliveries` and go out together when the read completes.
    var isReading = false
    var pendingDeliveries = LoopBatches()
    /// Counted here, reported to `core.statistics` when the read completes or a flush goes out.
    var traffic = TrafficCounts()
    /// Set once the connection counted as open (at `channelActive`, or when added to an active
    /// channel after a WebSocket upgrade).
    var isActive = false

    /// How long a connection being closed after a reply waits for the client to close.
    static let lingerTimeout = TimeAmount.seconds(2)
    /// Set once `closeAfterReply` has shut our side; further input is ignored.
    var isLingering = false

    init(core: BrokerCore, listener: ListenerContext) {
        self.core = core
        self.listenerContext = listener
        self.baseLogger = core.logger
        self.frameDecoder = MQTTFrameDecoder(maximumPacketSize: listener.maximumPacketSize)
    }

    var listener: ListenerConfiguration { listenerContext.configuration }
    /// Index of `listener` in the configuration, which hooks see as `ClientInfo.listener`.
    var listenerIndex: Int { listenerContext.index }

    /// The will of the connected client, published if the connection ends without a clean
    /// DISCONNECT.
    var will: Will? {
        get { heldWill?.will }
        set { heldWill = newValue.map(HeldWill.init) }
    }

    var logger: Logger {
        var logger = baseLogger
        if let peer = client?.remoteAddress ?? channelContext?.remoteAddress.map({ "\($0)" }) {
            logger[metadataKey: "peer"] = "\(peer)"
        }
        if let client { logger[metadataKey: "client"] = "\(client.clientIdentifier)" }
        return logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        channelContext = context
        connection = ConnectionContext(handler: self, eventLoop: context.eventLoop)
        core.connectionHandlerAdded(self)
        // Behind a WebSocket upgrade the channel is already active when MQTT begins.
        if context.channel.isActive { becameActive(context: context) }
    }

    /// The pipeline is being torn down (the channel closed): the handler and its context would
    /// otherwise keep each other, and the whole channel, alive.
    func handlerRemoved(context: ChannelHandlerContext) {
        cancelTimers()
        channelContext = nil
        connection = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        becameActive(context: context)
        context.fireChannelActive()
    }

    private func becameActive(context: ChannelHandlerContext) {
        guard !isActive else { return }
        isActive = true
        core.statistics.connectionsOpen.add(1, ordering: .relaxed)
        listenerContext.openConnections.add(1, ordering: .relaxed)
        armKeepAliveCheck(timeout: TimeAmount(core.configuration.connectTimeout))
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        if var pending = inbound.take() {
            pending.writeBuffer(&bytes)
            bytes = pending
        }
        isReading = true
        lastRead = .now()
        while true {
            let frame: MQTTFrame?
            do {
                frame = try frameDecoder.decode(buffer: &bytes)
            } catch let error as MQTTProtocolError {
                fail(error)
                return
            } catch {
                close()
                return
            }
            guard let frame else { break }
            received(frame)
        }
        if bytes.readableBytes > 0 { inbound = bytes }
    }

    private func received(_ frame: MQTTFrame) {
        traffic.messagesReceived += 1
        traffic.bytesReceived += frame.encodedSize
        if isLingering { return }
        switch phase {
        case .authenticating(var held):
            held.append(frame)
            phase = .authenticating(held: held)
        case .closed:
            return
        case .awaitingConnect, .connected:
            process(frame)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        isReading = false
        dispatchPendingDeliveries()
        flushIfNeeded()
        reportTraffic()
        context.fireChannelReadComplete()
    }

    /// Hands what this read routed to its subscribers' loops.
    func dispatchPendingDeliveries() {
        guard !pendingDeliveries.isEmpty else { return }
        let deliveries = pendingDeliveries
        pendingDeliveries = LoopBatches()
        deliveries.dispatch(core)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let protocolError = error as? MQTTProtocolError {
            fail(protocolError)
        } else {
            logger.debug("connection error: \(error)")
            close()
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        // Messages this connection published (and had acknowledged) before it went still go out.
        isReading = false
        inbound = nil
        dispatchPendingDeliveries()
        reportTraffic()
        cancelTimers()
        if isActive {
            core.statistics.connectionsOpen.subtract(1, ordering: .relaxed)
            listenerContext.openConnections.subtract(1, ordering: .relaxed)
        }
        let wasConnected: Bool
        if case .connected = phase { wasConnected = true } else { wasConnected = false }
        phase = .closed
        if wasConnected { connectionEnded() }
        context.fireChannelInactive()
    }

    /// Decodes one frame and acts on it.
    func process(_ frame: MQTTFrame) {
        let connected: Bool
        if case .connected = phase { connected = true } else { connected = false }
        if connected && frame.firstByte >> 4 == PacketType.auth.rawValue {
            // AUTH needs an authentication method in CONNECT (MQTT-4.12.0-7), which Parley never
            // accepts: a protocol error whatever the packet holds, as in Mosquitto.
            fail(.protocolViolation("AUTH without an authentication method in CONNECT"))
            return
        }
        let packet: MQTTPacket
        do {
            packet = connected ? try MQTTPacket.decodeFromClient(frame, version: version) : try MQTTPacket.decode(frame, version: version)
        } catch {
            if case .awaitingConnect = phase, frame.firstByte >> 4 == PacketType.connect.rawValue {
                rejectUndecodableConnect(frame, error: error)
            } else {
                fail(error)
            }
            return
        }
        switch phase {
        case .awaitingConnect:
            guard case .connect(let connect) = packet else {
                fail(.protocolViolation("first packet was \(packet.type), not CONNECT"))
                return
            }
            handleConnect(connect)
        case .connected:
            handleConnected(packet)
        case .authenticating, .closed:
            return
        }
    }

    private func handleConnected(_ packet: MQTTPacket) {
        switch packet {
        case .publish(let publish): handlePublish(publish)
        case .puback(let ack): handlePuback(ack)
        case .pubrec(let ack): handlePubrec(ack)
        case .pubrel(let ack): handlePubrel(ack)
        case .pubcomp(let ack): handlePubcomp(ack)
        case .subscribe(let subscribe): handleSubscribe(subscribe)
        case .unsubscribe(let unsubscribe): handleUnsubscribe(unsubscribe)
        case .pingreq: write(.pingresp)
        case .disconnect(let disconnect): handleDisconnect(disconnect)
        case .connect: fail(.protocolViolation("second CONNECT on one connection"))
        case .auth, .connack, .suback, .unsuback, .pingresp:
            fail(.protocolViolation("\(packet.type) is not for a server"))
        }
    }

    // MARK: Writing

    /// Encodes and writes a packet without flushing; the read cycle or batch flushes once.
    func write(_ packet: MQTTPacket) {
        guard let context = channelContext else { return }
        var buffer = context.channel.allocator.buffer(capacity: 0)
        packet.encode(into: &buffer, version: version)
        traffic.messagesSent += 1
        traffic.bytesSent += buffer.readableBytes
        context.write(wrapOutboundOut(buffer), promise: nil)
        needsFlush = true
    }

    /// Stores what this connection changed: during a read with the rest of the read (recorded
    /// before its acknowledgements are flushed), otherwise now.
    func persist(_ changes: [PersistenceChange]) {
        guard !changes.isEmpty else { return }
        if isReading {
            pendingDeliveries.changes.append(contentsOf: changes)
        } else {
            core.record(changes)
        }
    }

    /// Records the changes waiting for the end of the read: nothing this read acknowledges
    /// may reach the client before it is stored.
    func recordPendingChanges() {
        guard !pendingDeliveries.changes.isEmpty else { return }
        let changes = pendingDeliveries.changes
        pendingDeliveries.changes = []
        core.record(changes)
        if core.syncsBeforeAcknowledging { awaitDurability() }
    }

    /// Holds this connection's writes (acknowledgements, flights) until the store has synced.
    func awaitDurability() {
        switch syncState {
        case .none:
            guard let context = channelContext else { return }
            syncState = .waitingForTick
            core.syncAtEndOfTick(self, on: context.eventLoop)
        case .waitingForTick:
            break
        case .waitingForStore:
            syncState = .waitingForStore(recordedSince: true)
        }
    }

    /// The end-of-tick sync this connection waits for has been asked of the store.
    func syncRequested() {
        if case .waitingForTick = syncState { syncState = .waitingForStore(recordedSince: false) }
    }

    /// The store synced what this connection had recorded when the sync was asked for; if it
    /// recorded more since, those writes wait for the next one.
    func becameDurable() {
        guard case .waitingForStore(let recordedSince) = syncState else { return }
        syncState = .none
        if recordedSince {
            awaitDurability()
        } else {
            flushIfNeeded()
        }
    }

    func flushIfNeeded() {
        recordPendingChanges()
        guard needsFlush, !awaitingSync, let context = channelContext else { return }
        needsFlush = false
        context.flush()
        reportTraffic()
    }

    func reportTraffic() {
        guard !traffic.isEmpty else { return }
        core.statistics.add(traffic)
        traffic = TrafficCounts()
    }

    /// Flushes once the loop has handled every connection that was readable in this tick
    /// (NIO runs queued tasks after the tick's I/O): messages that several publishers' reads
    /// route to this subscriber leave in one write.
    func flushAtEndOfTick() {
        guard needsFlush, !flushScheduled, let context = channelContext else { return }
        flushScheduled = true
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        context.eventLoop.execute {
            let handler = loopBound.value
            handler.flushScheduled = false
            handler.flushIfNeeded()
        }
    }

    /// Closes after flushing what was written.
    func close() {
        guard let context = channelContext else { return }
        syncIfWaiting()
        flushIfNeeded()
        context.close(promise: nil)
    }

    /// Closes after a reply the client must be able to read (a refusing CONNACK, a DISCONNECT):
    /// only our side is shut first, so the reply is not lost to a reset caused by bytes the
    /// client is still sending; input is discarded and the socket closes when the client
    /// closes or after `lingerTimeout`.
    func closeAfterReply() {
        guard let context = channelContext, !isLingering else { return }
        isLingering = true
        syncIfWaiting()
        flushIfNeeded()
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let promise = context.eventLoop.makePromise(of: Void.self)
        promise.futureResult.whenFailure { _ in loopBound.value.close() }
        context.close(mode: .output, promise: promise)
        lingerTimer = context.eventLoop.scheduleTask(in: Self.lingerTimeout) { loopBound.value.close() }
    }

    /// A connection closing now cannot wait for the end of the tick: what it acknowledged is
    /// synced first, so its last writes go out.
    private func syncIfWaiting() {
        recordPendingChanges()
        guard awaitingSync else { return }
        core.syncAndWait()
        syncState = .none
    }

    /// Timers hold the handler in their closures until they fire: a closed connection cancels them.
    private func cancelTimers() {
        keepAliveCheck?.cancel()
        keepAliveCheck = nil
        lingerTimer?.cancel()
        lingerTimer = nil
    }

    /// Ends the connection over a protocol violation: v5 clients get a DISCONNECT with the
    /// reason code, 3.1.1 clients are just disconnected (MQTT 3.1.1 §4.8).
    func fail(_ error: MQTTProtocolError) {
        if case .closed = phase { return }
        if isLingering { return }
        logger.notice("closing \(client?.clientIdentifier ?? "unidentified client"): \(error)")
        closeReason = .protocolError(error)
        if case .connected = phase, version == .v5 {
            write(.disconnect(DisconnectPacket(reasonCode: error.reasonCode)))
        }
        closeAfterReply()
    }

    /// Keep-alive: the connection must read something within 1.5 times the keep-alive
    /// (MQTT 5 §3.1.2.10); before CONNECT the connect timeout applies instead.
    func armKeepAliveCheck(timeout: TimeAmount) {
        keepAliveCheck?.cancel()
        guard let context = channelContext else { return }
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        keepAliveCheck = context.eventLoop.scheduleTask(deadline: lastRead + timeout) {
            loopBound.value.checkKeepAlive(timeout: timeout)
        }
    }

    private func checkKeepAlive(timeout: TimeAmount) {
        if case .closed = phase { return }
        if NIODeadline.now() - lastRead >= timeout {
            logger.info("closing \(client?.clientIdentifier ?? "unidentified client"): no packet within \(timeout.nanoseconds / 1_000_000) ms")
            closeReason = .keepAliveTimeout
            if case .connected = phase, version == .v5 {
                write(.disconnect(DisconnectPacket(reasonCode: .keepAliveTimeout)))
            }
            closeAfterReply()
        } else {
            armKeepAliveCheck(timeout: timeout)
        }
    }
}

extension ConnectionHandler {
    /// The broker is stopping: v5 clients are told with DISCONNECT 0x8B.
    func serverShuttingDown() {
        guard case .connected = phase else { return }
        closeReason = .serverShuttingDown
        if version == .v5 { write(.disconnect(DisconnectPacket(reasonCode: .serverShuttingDown))) }
        close()
    }
}
