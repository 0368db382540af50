#if canImport(Glibc)
import Glibc
#endif
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore

extension ChatService {
    /// The HTTP routes: the page's three files, and `/metrics` when `metrics` renders them
    /// (Prometheus' text format). The WebSocket is not a route (see `application`).
    public func router(metrics: (@Sendable () async -> String)? = nil) -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        if let metrics {
            router.get("/metrics") { _, _ in
                var headers = HTTPFields()
                headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
                return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: await metrics())))
            }
        }
        for (name, file) in page.files {
            let path = name == "index.html" ? "/" : "/\(name)"
            let body = ByteBuffer(bytes: file.bytes)
            router.get(RouterPath(path)) { _, _ in
                Response(status: .ok, headers: Self.headers(contentType: file.contentType), body: .init(byteBuffer: body))
            }
        }
        return router
    }

    /// The path every page session's WebSocket opens.
    static let webSocketPath = "/ws"
    /// Where browser MQTT clients open MQTT over WebSocket.
    public static let mqttPath = "/mqtt"

    /// The chat's HTTP server on `host:port` (port 0 picks a free one); run it as a Service.
    /// WebSockets are not routes: `ChatHTTPChannel` takes them before the router.
    public func application(
        host: String = "0.0.0.0", port: Int = 8080, metrics: (@Sendable () async -> String)? = nil,
        onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        Application(
            router: router(metrics: metrics),
            server: HTTPServerBuilder { [self] responder in ChatHTTPChannel(service: self, responder: responder) },
            configuration: .init(address: .hostname(host, port: port), serverName: "Parley"),
            onServerRunning: onServerRunning,
            logger: logger
        )
    }

    /// TCP keepalive on a WebSocket connection: a peer gone without a FIN (a laptop closed, a
    /// network lost) is found after about 90 s of silence (60 s idle, 3 probes 10 s apart).
    static func keepAlive(_ channel: any Channel) {
        #if canImport(Glibc)
        let options: [(ChannelOptions.Types.SocketOption, SocketOptionValue)] = [
            (.init(level: .socket, name: .so_keepalive), 1),
            (.init(level: .tcp, name: NIOBSDSocket.Option(rawValue: TCP_KEEPIDLE)), 60),
            (.init(level: .tcp, name: NIOBSDSocket.Option(rawValue: TCP_KEEPINTVL)), 10),
            (.init(level: .tcp, name: NIOBSDSocket.Option(rawValue: TCP_KEEPCNT)), 3),
        ]
        #else
        let options: [(ChannelOptions.Types.SocketOption, SocketOptionValue)] = [(.init(level: .socket, name: .so_keepalive), 1)]
        #endif
        for (option, value) in options {
            channel.setOption(option, value: value).whenFailure { _ in }
        }
    }

    /// The page runs only its own script and talks only to its own origin, so text that slipped
    /// into markup still could not run or send anything elsewhere.
    private static func headers(contentType: String) -> HTTPFields {
        var fields = HTTPFields()
        fields[.contentType] = contentType
        fields[.contentSecurityPolicy] = "default-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'"
        fields[.init("X-Content-Type-Options")!] = "nosniff"
        fields[.cacheControl] = "no-cache"
        return fields
    }
}
