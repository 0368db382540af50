import Foundation
import PubSub
import Synchronization
import Testing
import TestSupport

/// The other ways to send and receive: AsyncSequence, Codable (JSON) and Data.
@Suite("AsyncSequence, Codable and Data forms")
struct MessageFormsTests {
    struct ChatMessage: Codable, Sendable, Hashable {
        var user: String
        var text: String
        var sentAt: Int
    }

    /// Collects a stream into `inbox` on its own task; `finished` is set when the stream ends.
    final class StreamReader: Sendable {
        let inbox = Inbox<PubSubMessage>()
        private let done = Flag()
        private let task: Task<Void, Never>

        init(_ stream: AsyncStream<PubSubMessage>) {
            let inbox = self.inbox
            let done = self.done
            task = Task {
                for await message in stream { inbox.append(message) }
                done.set()
            }
        }

        var finished: Bool { done.isSet }
        func cancel() { task.cancel() }
    }

    @Test(arguments: BrokerKind.allCases)
    func messagesStreamsDeliverWholeMessagesWithTheSender(_ kind: BrokerKind) async throws {
        try await withCluster(kind) { cluster in
            var globalReaders: [StreamReader] = []
            var topicReaders: [StreamReader] = []
            for hub in 0..<2 {
                let session = cluster.session("r\(hub)", hub: hub)
                globalReaders.append(StreamReader(try await session.messages()))
                topicReaders.append(StreamReader(try await session.messages(topic: "room/+")))
            }
            let sender = cluster.session("alice", hub: 0)
            for index in 0..<5 { try await sender.sendAll("global \(index)") }
            try await sender.sendAllOnTopic("room/1", "in room 1")
            try await sender.sendAllOnTopic("room/2", Data([0, 1, 2]))

            for reader in globalReaders {
                #expect(await reader.inbox.wait(for: 5))
                let expected: [PubSubMessage] = (0..<5).map { PubSubMessage(topic: nil, payload: Data("global \($0)".utf8), sender: "alice") }
                #expect(reader.inbox.all.map(\.content) == expected.map(\.content))
            }
            for reader in topicReaders {
                #expect(await reader.inbox.wait(for: 2))
                let expected: [PubSubMessage] = [
                    PubSubMessage(topic: "room/1", payload: Data("in room 1".utf8), sender: "alice"),
                    PubSubMessage(topic: "room/2", payload: Data([0, 1, 2]), sender: "alice"),
                ]
                #expect(reader.inbox.all.map(\.content) == expected.map(\.content))
            }
        }
    }

    @Test(arguments: BrokerKind.allCases)
    func userPropertiesAndTheMessageIDReachEveryHub(_ kind: BrokerKind) async throws {
        try await withCluster(kind) { cluster in
            let local = StreamReader(try await cluster.session("near", hub: 0).messages(topic: "room/#"))
            let remote = StreamReader(try await cluster.session("far", hub: 1).messages(topic: "room/#"))
            let properties = ["chat-user": "alice", "chat-type": "chat", "pubsub-sender": "forged"]
            try await cluster.session("alice", hub: 0).sendAllOnTopic("room/1", Data("alice: hi".utf8), userProperties: properties)

            #expect(await local.inbox.wait(for: 1))
            #expect(await remote.inbox.wait(for: 1))
            let near = try #require(local.inbox.all.first)
            let far = try #require(remote.inbox.all.first)
            #expect(near.id == far.id)
            #expect(near.sender == "alice" && far.sender == "alice")
            #expect(near.userProperties == ["chat-user": "alice", "chat-type": "chat"])
            #expect(far.userProperties == near.userProperties)
        }
    }

    @Test func cancellingTheReadingTaskEndsTheStreamAndItsSubscription() async throws {
        try await withCluster(.parley) { cluster in
            let session = cluster.session("r", hub: 1)
            let reader = StreamReader(try await session.messages())
            let second = StreamReader(try await session.messages())
            let sender = cluster.session("s", hub: 0)
            try await sender.sendAll("one")
            #expect(await reader.inbox.wait(for: 1))
            #expect(await second.inbox.wait(for: 1))

            reader.cancel()
            #expect(await eventually { reader.finished })
            try await sender.sendAll("two")
            #expect(await second.inbox.wait(for: 2))
            #expect(reader.inbox.all.map(\.text) == ["one"])
            #expect(second.inbox.all.map(\.text) == ["one", "two"])
        }
    }

    /// A forwarding handler gets every message where it is routed, in order, from its own hub
    /// and through the broker, and nothing once the topic is unsubscribed.
    @Test(arguments: BrokerKind.allCases)
    func forwardedMessagesArriveInOrderFromEveryHubUntilUnsubscribed(_ kind: BrokerKind) async throws {
        try await withCluster(kind) { cluster in
            let received = Mutex<[String]>([])
            let page = cluster.session("page", hub: 0)
            try await page.forwardTopic("room/#", message: "page") { message in
                received.withLock { $0.append(message.text) }
            }
            let near = cluster.session("near", hub: 0)
            let far = cluster.session("far", hub: 1)
            for index in 0..<20 { try await near.sendAllOnTopic("room/a", "near \(index)") }
            for index in 0..<20 { try await far.sendAllOnTopic("room/b", "far \(index)") }
            #expect(await eventually { received.withLock { $0.count } == 40 })
            let texts = received.withLock { $0 }
            #expect(texts.filter { $0.hasPrefix("near") } == (0..<20).map { "near \($0)" })
            #expect(texts.filter { $0.hasPrefix("far") } == (0..<20).map { "far \($0)" })

            try await page.unsubscribeTopic("room/#")
            try await near.sendAllOnTopic("room/a", "after")
            let marker = cluster.session("marker", hub: 0)
            let seen = Mutex(false)
            try await marker.forwardTopic("room/#", message: "marker") { _ in seen.withLock { $0 = true } }
            try await far.sendAllOnTopic("room/b", "marker")
            #expect(await eventually { seen.withLock { $0 } })
            #expect(received.withLock { $0.count } == 40)
        }
    }

    @Test func closingTheSessionEndsItsStreams() async throws {
        try await withCluster(.parley) { cluster in
            let session = cluster.session("r", hub: 0)
            let global = StreamReader(try await session.messages())
            let topic = StreamReader(try await session.messages(topic: "t"))
            try await session.sendAll("before close")
            #expect(await global.inbox.wait(for: 1))
            try await session.close()
            #expect(await eventually(timeout: .seconds(5)) { global.finished && topic.finished })
            global.cancel()
            topic.cancel()
        }
    }

    @Test func unsubscribingEndsTheAffectedStreams() async throws {
        try await withCluster(.parley) { cluster in
            let session = cluster.session("r", hub: 0)
            let global = StreamReader(try await session.messages())
            let topic = StreamReader(try await session.messages(topic: "t"))
            let other = StreamReader(try await session.messages(topic: "u"))
            try await session.unsubscribe()
            #expect(await eventually(timeout: .seconds(5)) { global.finished })
            try await session.unsubscribeTopic("t")
            #expect(await eventually(timeout: .seconds(5)) { topic.finished })
            #expect(!other.finished)
            try await session.unsubscribeAll()
            #expect(await eventually(timeout: .seconds(5)) { other.finished })
            for reader in [global, topic, other] { reader.cancel() }
        }
    }

    @Test func shuttingTheHubDownEndsItsStreams() async throws {
        let broker = try await EmbeddedBroker.start()
        let hub = try await PubSubHub(broker: broker.url, prefix: uniquePrefix(), logger: quietLogger)
        let reader = StreamReader(try await hub.session(id: "r").messages())
        await hub.shutdown()
        #expect(await eventually(timeout: .seconds(5)) { reader.finished })
        reader.cancel()
        try await broker.stop()
    }

    @Test(arguments: BrokerKind.allCases)
    func codableMessagesArriveDecoded(_ kind: BrokerKind) async throws {
        try await withCluster(kind) { cluster in
            let global = Inbox<Received>()
            let decoded = Inbox<[String: ChatMessage]>()
            for hub in 0..<2 {
                let session = cluster.session("r\(hub)", hub: hub)
                try await session.subscribe(ChatMessage.self) { message in decoded.append(["r\(hub) global": message]) }
                try await session.subscribeTopic("chat/+", as: ChatMessage.self) { topic, message in decoded.append(["r\(hub) \(topic)": message]) }
                try await session.record(into: global)
            }
            let sender = cluster.session("alice", hub: 0)
            let hello = ChatMessage(user: "alice", text: "hello, \"world\" ☕", sentAt: 1_700_000_000)
            let lobby = ChatMessage(user: "alice", text: "in the lobby", sentAt: 1)
            try await sender.sendAll(hello)
            try await sender.sendAllOnTopic("chat/lobby", lobby)
            // Not JSON: the typed handler fails to decode (and is skipped); later messages still arrive.
            try await sender.sendAll("not json")
            try await sender.sendOthers(ChatMessage(user: "alice", text: "others", sentAt: 2))

            #expect(await decoded.wait(for: 6))
            #expect(await global.wait(for: 6))
            for hub in 0..<2 {
                let mine: [(key: String, value: ChatMessage)] = decoded.all.flatMap { $0 }.filter { $0.key.hasPrefix("r\(hub) ") }
                let keys: [String] = mine.map(\.key)
                let values: [ChatMessage] = mine.map(\.value)
                #expect(keys == ["r\(hub) global", "r\(hub) chat/lobby", "r\(hub) global"])
                #expect(values == [hello, lobby, ChatMessage(user: "alice", text: "others", sentAt: 2)])
                let raw = global.texts(session: "r\(hub)")
                #expect(raw.count == 3)
                #expect(raw[1] == "not json")
                #expect(try JSONDecoder().decode(ChatMessage.self, from: Data(raw[0].utf8)) == hello)
            }
        }
    }

    @Test func decodingAMessageOfTheWrongShapeThrowsACodingError() throws {
        let message = PubSubMessage(topic: nil, payload: Data("{\"user\": 1}".utf8), sender: nil)
        do {
            _ = try message.decode(ChatMessage.self)
            Issue.record("decoding succeeded")
        } catch {
            #expect(error.kind == .coding)
            #expect(error.message.contains("ChatMessage"))
        }
    }

    @Test(arguments: BrokerKind.allCases)
    func dataPayloadsArriveByteForByte(_ kind: BrokerKind) async throws {
        try await withCluster(kind) { cluster in
            let global = Inbox<Data>()
            let topical = Inbox<[String: Data]>()
            for hub in 0..<2 {
                let session = cluster.session("r\(hub)", hub: hub)
                try await session.subscribe { (data: Data) in global.append(data) }
                try await session.subscribeTopic("bin/#") { (topic: String, data: Data) in topical.append([topic: data]) }
            }
            let sender = cluster.session("s", hub: 0)
            let allBytes = Data((0...255).map { UInt8($0) } + (0...255).reversed().map { UInt8($0) })
            let invalidUTF8 = Data([0xFF, 0xFE, 0x00, 0xC3, 0x28])
            let large = Data((0..<1_000_000).map { UInt8(truncatingIfNeeded: $0 &* 31) })
            try await sender.sendAll(allBytes)
            try await sender.sendAll(Data())
            try await sender.sendAll(large)
            try await sender.sendAllOnTopic("bin/x", invalidUTF8)
            try await sender.sendAllOnTopic("bin", "")

            #expect(await global.wait(for: 6))
            #expect(await topical.wait(for: 4))
            let payloads: [Data] = global.all
            let onTopics: [[String: Data]] = topical.all
            #expect(payloads.filter { $0 == allBytes }.count == 2)
            #expect(payloads.filter(\.isEmpty).count == 2)
            #expect(payloads.filter { $0 == large }.count == 2)
            #expect(onTopics.filter { $0 == ["bin/x": invalidUTF8] }.count == 2)
            #expect(onTopics.filter { $0 == ["bin": Data()] }.count == 2)
        }
    }
}

extension PubSubMessage {
    /// What a sender controls; the id is unique per message.
    fileprivate var content: [String?] { [topic, payload.base64EncodedString(), sender] }
}
