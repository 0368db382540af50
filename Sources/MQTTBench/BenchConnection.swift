import MQTTCore
import NIOCore
import NIOPosix

/// One client connection of a benchmark: the few packets a load generator needs, written
/// straight into buffers so that the generator is never what limits a measurement.
///
/// Owned by its channel's event loop: every property and method is used on that loop only
/// (hence `@unchecked Sendable`: other threads only carry the reference to the loop).
/// Publishers and receivers plug in through the `on…` closures.
final class BenchConnection: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = MQTTFrame
    typealias OutboundOut = ByteBuffer

    /// Packet identifiers from here up are used for SUBSCRIBE and UNSUBSCRIBE, below for PUBLISH.
    static let firstControlIdentifier: UInt16 = 0x8000

    let clientIdentifier: String
    let version: ProtocolVersion
    let eventLoop: any EventLoop
    private var context: ChannelHandlerContext?
    private var connackPromise: EventLoopPromise<Void>?
    private var controlPromises: [UInt16: EventLoopPromise<[ReasonCode]>] = [:]
    private var nextControlIdentifier = BenchConnection.firstControlIdentifier
    /// Everything written since the last flush, sent as one buffer: one write per batch, not
    /// one per packet.
    private var pending: ByteBuffer?
    let closed: EventLoopPromise<Void>

    /// A PUBLISH arrived (its payload); acknowledgements are sent by the connection.
    var onMessage: ((ByteBuffer, _ retain: Bool) -> Void)?
    /// An outgoing QoS 1 or 2 PUBLISH completed (PUBACK, or PUBCOMP).
    var onCompleted: ((UInt16) -> Void)?
    var onWritable: (() -> Void)?
    var onReadComplete: (() -> Void)?

    init(clientIdentifier: String, version: ProtocolVersion, eventLoop: any EventLoop) {
        self.clientIdentifier = clientIdentifier
        self.version = version
        self.eventLoop = eventLoop
        self.closed = eventLoop.makePromise()
    }

    var isWritable: Bool { context?.channel.isWritable ?? false }
    var isOpen: Bool { context != nil }
    var allocator: ByteBufferAllocator { context?.channel.allocator ?? ByteBufferAllocator() }

    /// Opens a connection and completes once the broker accepted the CONNECT.
    static func connect(
        to target: BenchTarget, clientIdentifier: String, cleanStart: Bool = true, on eventLoop: any EventLoop
    ) -> EventLoopFuture<BenchConnection> {
        let connection = BenchConnection(clientIdentifier: clientIdentifier, version: target.version, eventLoop: eventLoop)
        let bootstrap = ClientBootstrap(group: eventLoop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelOption(.maxMessagesPerRead, value: 16)
            .channelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 1024, initial: 16 * 1024, maximum: 256 * 1024))
            .connectTimeout(.seconds(10))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(MQTTFrameDecoder()))
                    try channel.pipeline.syncOperations.addHandler(connection)
                }
            }
        return bootstrap.connect(host: target.host, port: target.port).flatMap { _ in
            connection.sendConnect(target: target, cleanStart: cleanStart)
        }.map { connection }
    }

    private func sendConnect(target: BenchTarget, cleanStart: Bool) -> EventLoopFuture<Void> {
        let promise = eventLoop.makePromise(of: Void.self)
        connackPromise = promise
        var properties = MQTTProperties()
        if !cleanStart && target.version == .v5 { properties.sessionExpiryInterval = 300 }
        let connect = ConnectPacket(
            protocolVersion: target.version, cleanStart: cleanStart, keepAlive: target.keepAlive,
            clientIdentifier: clientIdentifier, username: target.username,
            password: target.password.map { ByteBuffer(string: $0) }, properties: properties)
        write(.connect(connect))
        flush()
        return promise.futureResult
    }

    func subscribe(_ filter: String, qos: QoS) -> EventLoopFuture<Void> {
        let identifier = takeControlIdentifier()
        let promise = eventLoop.makePromise(of: [ReasonCode].self)
        controlPromises[identifier] = promise
        write(.subscribe(SubscribePacket(
            packetIdentifier: identifier, subscriptions: [.init(topicFilter: filter, options: .init(qos: qos))])))
        flush()
        return promise.futureResult.flatMapThrowing { codes in
            if let code = codes.first, code.rawValue > 2 { throw BenchError.subscriptionRefused(filter: filter, reasonCode: code) }
        }
    }

    func unsubscribe(_ filter: String) -> EventLoopFuture<Void> {
        let identifier = takeControlIdentifier()
        let promise = eventLoop.makePromise(of: [ReasonCode].self)
        controlPromises[identifier] = promise
        write(.unsubscribe(UnsubscribePacket(packetIdentifier: identifier, topicFilters: [filter])))
        flush()
        return promise.futureResult.map { _ in }
    }

    private func takeControlIdentifier() -> UInt16 {
        let identifier = nextControlIdentifier
        nextControlIdentifier = identifier == .max ? Self.firstControlIdentifier : identifier + 1
        return identifier
    }

    /// Sends DISCONNECT and waits for the broker to close the socket, so the broker, not this
    /// process, holds the TIME_WAIT and a long run does not exhaust local ports.
    func disconnect() -> EventLoopFuture<Void> {
        guard let context else { return closed.futureResult }
        append { $0.writeBytes([0xE0, 0x00]) }
        flush()
        let timeout = eventLoop.scheduleTask(in: .seconds(5)) { [weak self] in self?.context?.close(promise: nil) }
        return closed.futureResult.always { _ in timeout.cancel() }
    }

    // MARK: Writing

    func write(_ packet: MQTTPacket) {
        append { packet.encode(into: &$0, version: version) }
    }

    /// Encodes into the pending buffer; `flush` (or the end of the read cycle) sends it.
    func append(_ encode: (inout ByteBuffer) -> Void) {
        guard let context else { return }
        if pending == nil { pending = context.channel.allocator.buffer(capacity: 16 * 1024) }
        encode(&pending!)
    }

    func flush() {
        guard let buffer = pending, let context else { return }
        pending = nil
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    private func acknowledge(_ type: UInt8, _ identifier: UInt16) {
        append { buffer in
            buffer.writeInteger(type)
            buffer.writeInteger(UInt8(2))
            buffer.writeInteger(identifier)
        }
    }

    // MARK: Reading

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func channelInactive(context: ChannelHandlerContext) {
        self.context = nil
        connackPromise?.fail(BenchError.connectionClosed(clientIdentifier: clientIdentifier))
        connackPromise = nil
        for promise in controlPromises.values { promise.fail(BenchError.connectionClosed(clientIdentifier: clientIdentifier)) }
        controlPromises = [:]
        closed.succeed()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { onWritable?() }
        context.fireChannelWritabilityChanged()
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        onReadComplete?()
        flush()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.firstByte >> 4 {
        case 3: receivePublish(frame)
        case 4, 7:  // PUBACK, PUBCOMP
            if let identifier = frame.body.getInteger(at: frame.body.readerIndex, as: UInt16.self) {
                onCompleted?(identifier)
            }
        case 5:  // PUBREC
            if let identifier = frame.body.getInteger(at: frame.body.readerIndex, as: UInt16.self) {
                acknowledge(0x62, identifier)
            }
        case 6:  // PUBREL
            if let identifier = frame.body.getInteger(at: frame.body.readerIndex, as: UInt16.self) {
                acknowledge(0x70, identifier)
            }
        case 13:  // PINGRESP
            break
        default:
            receiveControl(frame)
        }
    }

    /// Reads only what a benchmark needs from a PUBLISH: QoS, packet identifier and payload.
    private func receivePublish(_ frame: MQTTFrame) {
        var body = frame.body
        let qos = (frame.firstByte >> 1) & 0x03
        guard let topicLength = body.readInteger(as: UInt16.self) else { return }
        body.moveReaderIndex(forwardBy: Int(topicLength))
        var identifier: UInt16?
        if qos > 0 { identifier = body.readInteger(as: UInt16.self) }
        if version == .v5 {
            var length = 0
            var shift = 0
            while let byte = body.readInteger(as: UInt8.self) {
                length |= Int(byte & 0x7F) << shift
                shift += 7
                if byte & 0x80 == 0 { break }
            }
            body.moveReaderIndex(forwardBy: length)
        }
        onMessage?(body, frame.firstByte & 0x01 != 0)
        if let identifier { acknowledge(qos == 1 ? 0x40 : 0x50, identifier) }
    }

    private func receiveControl(_ frame: MQTTFrame) {
        let packet: MQTTPacket
        do {
            packet = try MQTTPacket.decode(frame, version: version)
        } catch {
            context?.close(promise: nil)
            return
        }
        switch packet {
        case .connack(let connack):
            if connack.reasonCode == .success {
                connackPromise?.succeed()
            } else {
                connackPromise?.fail(BenchError.refused(clientIdentifier: clientIdentifier, reasonCode: connack.reasonCode.rawValue))
            }
            connackPromise = nil
        case .suback(let suback):
            controlPromises.removeValue(forKey: suback.packetIdentifier)?.succeed(suback.reasonCodes)
        case .unsuback(let unsuback):
            controlPromises.removeValue(forKey: unsuback.packetIdentifier)?.succeed(unsuback.reasonCodes)
        case .disconnect:
            context?.close(promise: nil)
        default:
            break
        }
    }
}
