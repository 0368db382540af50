import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import NIOWebSocket

/// The chat's HTTP connections, for Hummingbird's server: requests go to the router; a
/// WebSocket upgrade at `/ws` becomes a page session served by `ChatPageHandler` on the event
/// loop, and one at `/mqtt` an MQTT relay (`MQTTWebSocketRelayHandler`), also on the loop.
///
/// hummingbird-websocket serves every WebSocket from a task that lives as long as the
/// connection; a page's task kept about 24 KiB of stack, the bulk of what a page cost.
/// WebSockets here leave the connection's task as soon as the upgrade is done. A value: one
/// per server.
struct ChatHTTPChannel: ServerChildChannel, HTTPChannelHandler {
    enum Connection: Sendable {
        case http(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>)
        /// Asked for a WebSocket on a path that has none, or with a bad handshake.
        case refused(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>)
        /// A page session or an MQTT relay, already running in its pipeline.
        case webSocket
    }

    struct Value: ServerChildChannelValue {
        let connection: EventLoopFuture<Connection>
        let channel: any Channel
    }

    private enum Upgrade {
        case page
        case mqtt(MQTTWebSocketRelay, subprotocol: String?)
    }

    let responder: HTTPChannelHandler.Responder
    let service: ChatService

    init(service: ChatService, responder: @escaping HTTPChannelHandler.Responder) {
        self.service = service
        self.responder = Self.redirectingLateUpgrades(responder)
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            // Reads start small: NIO keeps each connection's largest receive buffer for reuse,
            // and pages send a few short commands (the default first buffer is 2 KiB). Reads
            // that fill the buffer make the next one larger.
            try channel.syncOptions?.setOption(
                .recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 256, maximum: 65536))
            let attempted = NIOLoopBoundBox(false, eventLoop: channel.eventLoop)
            let configuration = service.configuration
            // The decoder takes frames up to the larger limit; pages check their own.
            let frameLimit = service.mqttRelay == nil
                ? configuration.maximumFrameSize : max(configuration.maximumFrameSize, configuration.maximumMQTTFrameSize)
            let upgrader = NIOTypedWebSocketServerUpgrader<Connection>(
                maxFrameSize: frameLimit,
                shouldUpgrade: { channel, head in
                    attempted.value = true
                    var headers = HTTPHeaders()
                    switch upgrade(for: head) {
                    case nil:
                        return channel.eventLoop.makeSucceededFuture(nil)
                    case .mqtt(_, let subprotocol?):
                        headers.add(name: "Sec-WebSocket-Protocol", value: subprotocol)
                    default:
                        break
                    }
                    ChatService.keepAlive(channel)
                    return channel.eventLoop.makeSucceededFuture(headers)
                },
                upgradePipelineHandler: { channel, head in
                    channel.eventLoop.makeCompletedFuture {
                        switch upgrade(for: head) {
                        case .mqtt(let relay, _):
                            try channel.pipeline.syncOperations.addHandler(
                                MQTTWebSocketRelayHandler(relay: relay, logger: service.logger))
                        case .page, nil:
                            try channel.pipeline.syncOperations.addHandlers(
                                NIOWebSocketFrameAggregator(
                                    minNonFinalFragmentSize: 1, maxAccumulatedFrameCount: 16,
                                    maxAccumulatedFrameSize: configuration.maximumFrameSize),
                                ChatPageHandler(service: service))
                        }
                        return .webSocket
                    }
                }
            )
            let upgrades = NIOTypedHTTPServerUpgradeConfiguration<Connection>(
                upgraders: [upgrader],
                notUpgradingCompletionHandler: { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(HTTP1ToHTTPServerCodec(secure: false))
                        try channel.pipeline.syncOperations.addHandler(HTTPConnectionStateHandler(idleTimeout: nil, logger: logger))
                        let http = try NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>(
                            wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
                        return attempted.value ? .refused(http) : .http(http)
                    }
                }
            )
            var pipeline = NIOUpgradableHTTPServerPipelineConfiguration<Connection>(upgradeConfiguration: upgrades)
            // Hummingbird's request loop answers requests in order and handles errors itself.
            pipeline.enablePipelining = false
            pipeline.enableErrorHandling = false
            pipeline.enableResponseHeaderValidation = false
            let connection = try channel.pipeline.syncOperations.configureUpgradableHTTPServerPipeline(configuration: pipeline)
            return Value(connection: connection, channel: channel)
        }
    }

    func handle(value: Value, logger: Logger) async {
        do {
            switch try await value.connection.get() {
            case .http(let http):
                await handleHTTP(asyncChannel: http, logger: logger)
            case .refused(let http):
                try await http.executeThenClose { _, outbound in
                    let response = HTTPResponse(status: .badRequest, headerFields: [.connection: "close", .contentLength: "0"])
                    try await outbound.write(contentsOf: [.head(response), .end(nil)])
                }
            case .webSocket:
                break
            }
        } catch {
            logger.debug("chat: connection ended before its first request: \(error)")
        }
    }

    /// What a WebSocket handshake asks for; nil for a path that has no WebSocket.
    private func upgrade(for head: HTTPRequestHead) -> Upgrade? {
        let path = head.uri.split(separator: "?", maxSplits: 1).first ?? ""
        if path == ChatService.webSocketPath[...] { return .page }
        if path == ChatService.mqttPath[...], let relay = service.mqttRelay {
            return .mqtt(relay, subprotocol: MQTTWebSocketRelay.subprotocol(offered: head.headers.first(name: "Sec-WebSocket-Protocol")))
        }
        return nil
    }

    /// NIO's upgrade happens only on a connection's first request. A WebSocket handshake later
    /// on a kept-alive connection is sent to the same address on a new one (as
    /// hummingbird-websocket does).
    private static func redirectingLateUpgrades(_ responder: @escaping HTTPChannelHandler.Responder) -> HTTPChannelHandler.Responder {
        { request, writer, channel in
            guard request.headers[.upgrade]?.lowercased() == "websocket" else {
                return try await responder(request, writer, channel)
            }
            var location = request.uri.path
            if let query = request.uri.query { location += "?\(query)" }
            try await writer.writeResponse(HTTPResponse(status: .temporaryRedirect, headerFields: [.connection: "close", .location: location]))
            channel.close(promise: nil)
        }
    }
}
