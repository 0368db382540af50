import Foundation
import HummingbirdTesting
import HummingbirdWSTesting
import Logging
import MQTTBroker
import Synchronization
import Testing

@testable import ChatService

/// A Parley broker in the test process, on a free port of 127.0.0.1.
struct TestBroker {
    let broker: Broker
    let port: Int

    static func start() async throws -> TestBroker {
        var configuration = BrokerConfiguration()
        configuration.listeners = [ListenerConfiguration(port: 0, host: "127.0.0.1")]
        configuration.sysInterval = 0
        let broker = Broker(configuration: configuration, logger: Logger(label: "test-broker"))
        try await broker.start()
        return TestBroker(broker: broker, port: broker.localAddresses.first!.port!)
    }

    var url: String { "mqtt://127.0.0.1:\(port)" }
}

/// Runs `body` with a chat service on a fresh broker and a live HTTP server in front of it.
func withChat(
    configuration: ChatConfiguration = .init(),
    _ body: @Sendable (ChatService, TestBroker, any TestClientProtocol) async throws -> Void
) async throws {
    let broker = try await TestBroker.start()
    let service = try await ChatService.connect(broker: broker.url, configuration: configuration)
    do {
        try await service.application(host: "127.0.0.1", port: 0).test(.live) { client in
            try await body(service, broker, client)
        }
    } catch {
        await service.shutdown()
        try await broker.broker.shutdown()
        throw error
    }
    await service.shutdown()
    try await broker.broker.shutdown()
}

/// A server-to-page frame, with every field any event type has.
struct PageEvent: Decodable, Sendable, CustomStringConvertible {
    var type: String
    var name: String?
    var room: String?
    var users: [String]?
    var joined: [String]?
    var left: [String]?
    var messages: [ChatMessage]?
    var message: String?
    var id: String?
    var user: String?
    var kind: ChatMessage.Kind?
    var text: String?
    var format: ChatMessage.Format?
    var time: String?

    var description: String {
        "\(type) \(user ?? name ?? "") \(text ?? message ?? "") \(users.map { "\($0)" } ?? "")"
    }

    func isMessage(kind: ChatMessage.Kind = .chat, user: String, text: String) -> Bool {
        type == "message" && self.kind == kind && self.user == user && self.text == text
    }

    func isOnline(_ users: [String]) -> Bool { type == "online" && self.users == users }
}

/// One browser tab, driven by a test: sends frames and keeps everything the server said.
final class Page: Sendable {
    let name: String
    private let received = Mutex<[PageEvent]>([])
    /// Who is online, as the page's script keeps it: the last full list, then the changes.
    private let online = Mutex<[String]>([])
    private let writer: @Sendable (String) async throws -> Void
    private let closer: @Sendable () async throws -> Void

    init(name: String, write: @escaping @Sendable (String) async throws -> Void, close: @escaping @Sendable () async throws -> Void) {
        self.name = name
        writer = write
        closer = close
    }

    var events: [PageEvent] { received.withLock { $0 } }

    /// Records a frame. A history's messages are recorded after it as `message` events too:
    /// the page shows them the same way, and whether a message arrives in a joiner's history
    /// or live depends on timing. A `presence` change is followed by the `online` list it
    /// makes, as the page shows it.
    func record(_ event: PageEvent) {
        var listed: PageEvent?
        if event.type == "online" || event.type == "presence" {
            let users = online.withLock { users in
                if event.type == "online" { users = event.users ?? [] }
                users.removeAll { (event.left ?? []).contains($0) }
                users += (event.joined ?? []).filter { !users.contains($0) }
                users.sort { $0.localizedCaseInsensitiveCompare($1) == .orderedAscending }
                return users
            }
            if event.type == "presence" { listed = PageEvent(type: "online", room: event.room, users: users) }
        }
        received.withLock { events in
            events.append(event)
            if let listed { events.append(listed) }
            for message in event.messages ?? [] {
                events.append(PageEvent(
                    type: "message", room: message.room, id: message.id, user: message.user, kind: message.kind,
                    text: message.text, format: message.format, time: message.time))
            }
        }
    }

    func send(_ json: String) async throws { try await writer(json) }
    func join(room: String = "general") async throws {
        try await send(#"{"type":"join","name":"\#(name)","room":"\#(room)"}"#)
    }
    func say(_ text: String) async throws {
        let encoded = String(decoding: try JSONEncoder().encode(text), as: UTF8.self)
        try await send(#"{"type":"send","text":\#(encoded)}"#)
    }
    func close() async throws { try await closer() }

    /// Waits until some event satisfies `predicate`.
    @discardableResult
    func expect(
        _ what: String, timeout: Duration = .seconds(10), sourceLocation: SourceLocation = #_sourceLocation,
        _ predicate: (PageEvent) -> Bool
    ) async -> PageEvent? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let event = events.first(where: predicate) { return event }
            try? await Task.sleep(for: .milliseconds(10))
        }
        Issue.record("\(name) never saw \(what); got: \(events)", sourceLocation: sourceLocation)
        return nil
    }
}

/// Opens a page over the test client's WebSocket and runs `script` with it; the socket closes
/// when the script returns.
func withPage(
    _ name: String, on client: any TestClientProtocol, _ script: @escaping @Sendable (Page) async throws -> Void
) async throws {
    try await client.ws("/ws") { inbound, outbound, _ in
        let page = Page(name: name, write: { try await outbound.write(.text($0)) }, close: { try await outbound.close(.normalClosure, reason: nil) })
        let run = Task {
            defer { Task { try? await page.close() } }
            try await script(page)
        }
        for try await message in inbound.messages(maxSize: 1 << 20) {
            guard case .text(let text) = message else { continue }
            page.record(try JSONDecoder().decode(PageEvent.self, from: Data(text.utf8)))
        }
        try await run.value
    }
}
