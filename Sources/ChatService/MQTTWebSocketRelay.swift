import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOWebSocket

/// MQTT over WebSocket at the chat's `/mqtt`: a browser MQTT client (MQTT.js, Paho JS) reaches
/// the chat's broker through the page's own origin, without a port of its own.
///
/// Each WebSocket gets its own TCP connection to the broker and the bytes are carried both ways
/// unchanged (binary frames in, binary frames out), so the browser's CONNECT, credentials and
/// every packet meet the broker's rules as any client's would; the broker sees the chat's
/// address as the peer. A value: one per chat service, used from each WebSocket's task (the
/// one Hummingbird gave its connection).
struct MQTTWebSocketRelay: Sendable {
    let host: String
    let port: Int

    /// The relay for a `mqtt://` broker URL; nil for `mqtts://` (the relay speaks plain TCP).
    init?(brokerURL: String) {
        guard let components = URLComponents(string: brokerURL), components.scheme?.lowercased() == "mqtt",
            let host = components.host, !host.isEmpty
        else { return nil }
        self.host = host
        self.port = components.port ?? 1883
    }

    /// The WebSocket subprotocols a browser MQTT client offers (MQTT 5 §6: `mqtt`; 3.1 clients
    /// `mqttv3.1`); the first one offered that the relay speaks, to echo in the upgrade.
    static func subprotocol(offered header: String?) -> String? {
        guard let header else { return nil }
        return header.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            .first { $0 == "mqtt" || $0 == "mqttv3.1" }
    }

    /// Carries one browser's MQTT connection until either side ends it: the browser closed, or
    /// the broker closed the connection (a refusal, a DISCONNECT, a protocol error).
    func run(_ webSocket: NIOAsyncChannel<WebSocketFrame, WebSocketFrame>, logger: Logger) async {
        let broker: NIOAsyncChannel<ByteBuffer, ByteBuffer>
        do {
            broker = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .connect(host: host, port: port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            logger.notice("chat: /mqtt could not reach the broker at \(host):\(port): \(error)")
            try? await webSocket.executeThenClose { _, outbound in
                try await outbound.write(Self.close(.unexpectedServerError, reason: "broker unreachable"))
            }
            return
        }
        try? await webSocket.executeThenClose { fromBrowser, toBrowser in
            try await broker.executeThenClose { fromBroker, toBroker in
                await withTaskGroup(of: Void.self) { group in
                    group.addTask {
                        do {
                            for try await frame in fromBrowser {
                                switch frame.opcode {
                                // MQTT travels in binary frames (MQTT 5 §6.0.0.1), possibly fragmented.
                                case .binary, .continuation:
                                    try await toBroker.write(frame.unmaskedData)
                                case .ping:
                                    try await toBrowser.write(WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData))
                                case .text:
                                    try await toBrowser.write(Self.close(.unacceptableData, reason: "MQTT travels in binary frames"))
                                    return
                                case .connectionClose:
                                    try await toBrowser.write(Self.close(.normalClosure, reason: nil))
                                    return
                                default:
                                    continue
                                }
                            }
                        } catch {}
                    }
                    group.addTask {
                        do {
                            for try await bytes in fromBroker {
                                try await toBrowser.write(WebSocketFrame(fin: true, opcode: .binary, data: bytes))
                            }
                        } catch {}
                        try? await toBrowser.write(Self.close(.normalClosure, reason: nil))
                    }
                    await group.next()
                    group.cancelAll()
                }
            }
        }
    }

    private static func close(_ code: WebSocketErrorCode, reason: String?) -> WebSocketFrame {
        var data = ByteBuffer()
        data.write(webSocketErrorCode: code)
        if let reason { data.writeString(reason) }
        return WebSocketFrame(fin: true, opcode: .connectionClose, data: data)
    }
}
