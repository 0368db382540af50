import Foundation
import PubSub
import Testing

/// How PubSub topics become MQTT topics and filters, and back; and what is refused.
@Suite("Topic mapping and bad input")
struct TopicMappingTests {
    static let awkwardTopics = [
        "a+b#c%", "+", "#", "a/+", "a/#", "a/#/b", "%", "%25", "%2B", "100%", "%zz", "nul\u{0}inside", "\u{0}",
        "tab\tand\nnewline", "bell\u{7}del\u{7F}", "café/☕/日本", "", "/", "a//b", "trailing/", "$dollar", "spaces are fine",
        "c1\u{85}control",
    ]

    @Test(arguments: awkwardTopics)
    func everyTopicRoundTripsThroughItsMQTTTopic(_ topic: String) throws {
        let mapping = try PubSubTopicMapping(prefix: "app")
        let mqttTopic = try mapping.mqttTopic(for: topic)
        #expect(mqttTopic.hasPrefix("app/"))
        // Nothing MQTT would read as a wildcard, and nothing that ends a C string.
        let reserved: Set<UInt8> = Set(Array("+#".utf8) + Array(0..<0x20) + [0x7F])
        let hasReserved = mqttTopic.utf8.contains { reserved.contains($0) }
        #expect(!hasReserved)
        #expect(mapping.topic(forMQTTTopic: mqttTopic) == topic)
    }

    @Test func reservedCharactersArePercentEncodedAndSlashesKept() throws {
        let mapping = try PubSubTopicMapping(prefix: "app")
        #expect(try mapping.mqttTopic(for: "a+b#c%") == "app/a%2Bb%23c%25")
        #expect(try mapping.mqttTopic(for: "x\u{0}y\u{1F}z\u{7F}") == "app/x%00y%1Fz%7F")
        #expect(try mapping.mqttTopic(for: "sensors/kitchen/temp") == "app/sensors/kitchen/temp")
        #expect(try mapping.mqttTopic(for: "café") == "app/café")
        #expect(mapping.globalTopic == "app")
    }

    @Test func wildcardsInFiltersAreWholeLevelsOnly() throws {
        let mapping = try PubSubTopicMapping(prefix: "app")
        #expect(try mapping.mqttFilter(for: "sensors/+/temp") == "app/sensors/+/temp")
        #expect(try mapping.mqttFilter(for: "room/#") == "app/room/#")
        #expect(try mapping.mqttFilter(for: "#") == "app/#")
        #expect(try mapping.mqttFilter(for: "+") == "app/+")
        // Not a whole level, or `#` not last: literal, so encoded like the topic it matches.
        #expect(try mapping.mqttFilter(for: "a+b#c%") == "app/a%2Bb%23c%25")
        #expect(try mapping.mqttFilter(for: "a/#/b") == "app/a/%23/b")
        #expect(try mapping.mqttFilter(for: "a/#/b") == mapping.mqttTopic(for: "a/#/b"))
        #expect(try mapping.mqttFilter(for: "x+/y") == mapping.mqttTopic(for: "x+/y"))
    }

    @Test func plainMQTTTopicsDecodeToThemselvesAndOutsideTopicsToNil() throws {
        let mapping = try PubSubTopicMapping(prefix: "app")
        #expect(mapping.topic(forMQTTTopic: "app/100%") == "100%")
        #expect(mapping.topic(forMQTTTopic: "app/%zz/%4") == "%zz/%4")
        #expect(mapping.topic(forMQTTTopic: "app/%41%62") == "Ab")
        #expect(mapping.topic(forMQTTTopic: "app") == nil)
        #expect(mapping.topic(forMQTTTopic: "apple/x") == nil)
        #expect(mapping.topic(forMQTTTopic: "other/x") == nil)
    }

    @Test func topicsLongerThanMQTTAllowsAreRefused() throws {
        let mapping = try PubSubTopicMapping(prefix: "app")
        let longest = String(repeating: "x", count: 65_535 - "app/".utf8.count)
        #expect(try mapping.mqttTopic(for: longest).utf8.count == 65_535)
        #expect(throws: PubSubError.self) { try mapping.mqttTopic(for: longest + "x") }
        do {
            _ = try mapping.mqttTopic(for: longest + "x")
        } catch {
            #expect(error.kind == .topicTooLong)
            #expect(error.message.contains("65536"))
        }
        // Encoding triples reserved characters, and the limit applies to the encoded form.
        let expanding = String(repeating: "+", count: 30_000)
        #expect(Self.kind { try mapping.mqttTopic(for: expanding) } == .topicTooLong)
        #expect(Self.kind { try mapping.mqttFilter(for: longest + "/#") } == .topicTooLong)
    }

    @Test(arguments: ["$sys", "$SYS", "a/+", "a/#", "+", "#", "", "a/", "/", "tab\there", "nul\u{0}", "del\u{7F}"])
    func invalidPrefixesAreRefused(_ prefix: String) async throws {
        #expect(Self.kind { try PubSubTopicMapping(prefix: prefix) } == .invalidPrefix)
        // A hub refuses the prefix before it tries to connect.
        do {
            _ = try await PubSubHub(broker: "mqtt://127.0.0.1:1", prefix: prefix, logger: quietLogger)
            Issue.record("prefix '\(prefix)' was accepted")
        } catch let error as PubSubError {
            #expect(error.kind == .invalidPrefix)
            #expect(!error.message.isEmpty)
        }
    }

    @Test(arguments: ["app", "a/b/c", "with space", "café", "/leading"])
    func validPrefixesAreAccepted(_ prefix: String) throws {
        #expect(try PubSubTopicMapping(prefix: prefix).globalTopic == prefix)
    }

    @Test func overlongTopicsAreRefusedWhenSendingAndSubscribing() async throws {
        try await withCluster(.parley, hubs: 1) { cluster in
            let session = cluster.session("s", hub: 0)
            let tooLong = String(repeating: "t", count: 70_000)
            #expect(await Self.kind { try await session.sendAllOnTopic(tooLong, "x") } == .topicTooLong)
            #expect(await Self.kind { try await session.sendOthersOnTopic(tooLong, Data("x".utf8)) } == .topicTooLong)
            #expect(await Self.kind { try await session.subscribeTopic(tooLong) { (_: String, _: String) in } } == .topicTooLong)
            #expect(await Self.kind { try await session.unsubscribeTopic(tooLong) } == .topicTooLong)
            #expect(await Self.kind { try await session.messages(topic: tooLong) } == .topicTooLong)
        }
    }

    @Test func aBrokerThatIsDownFailsHubCreationWithAReadableMessage() async throws {
        let port = try freePort()
        do {
            _ = try await PubSubHub(broker: "mqtt://127.0.0.1:\(port)", prefix: "app", logger: quietLogger)
            Issue.record("connecting to a closed port succeeded")
        } catch let error as PubSubError {
            #expect(error.kind == .connectionFailed)
            #expect(error.message.contains("127.0.0.1:\(port)"))
            #expect(error.message.contains("Connection refused"), "\(error.message)")
        }
    }

    @Test(arguments: ["http://127.0.0.1:1883", "not a url", "mqtt://", "127.0.0.1:1883"])
    func malformedBrokerURLsAreRefused(_ url: String) async throws {
        do {
            _ = try await PubSubHub(broker: url, prefix: "app", logger: quietLogger)
            Issue.record("'\(url)' was accepted")
        } catch let error as PubSubError {
            #expect(error.kind == .invalidBrokerURL)
        }
    }

    @Test(arguments: BrokerKind.allCases)
    func awkwardTopicsRoundTripEndToEnd(_ kind: BrokerKind) async throws {
        try await withCluster(kind) { cluster in
            let inbox = Inbox<Received>()
            let topics = ["a+b#c%", "nul\u{0}inside", "ctl\u{1}\u{1F}\u{7F}", "a/#/b", "%2B", "café/☕", "c1\u{85}"]
            for hub in 0..<2 {
                for (index, topic) in topics.enumerated() {
                    try await cluster.session("exact-\(index)-\(hub)", hub: hub).record(topic: topic, into: inbox)
                }
                // Look-alikes that must not match the literal topics above.
                for lookalike in ["a/+", "a+b", "a", "a/#", "nul", "ctl", "a/+/b", "caf"] {
                    try await cluster.session("lookalike-\(hub)", hub: hub).record(topic: lookalike, into: inbox)
                }
                try await cluster.session("everything-\(hub)", hub: hub).record(topic: "#", into: inbox)
            }
            let sender = cluster.session("sender", hub: 0)
            for topic in topics { try await sender.sendAllOnTopic(topic, "on \(topic)") }
            try await sender.sendAllOnTopic("fence", "fence")

            for hub in 0..<2 {
                #expect(await inbox.wait(session: "everything-\(hub)", text: "fence"))
                for (index, topic) in topics.enumerated() {
                    #expect(await inbox.wait(session: "exact-\(index)-\(hub)", text: "on \(topic)"))
                    let exact: [String?] = inbox.all.filter { $0.session == "exact-\(index)-\(hub)" }.map(\.topic)
                    #expect(exact == [topic])
                }
                let everything: [String?] = inbox.all.filter { $0.session == "everything-\(hub)" }.map(\.topic)
                let expected: [String?] = topics + ["fence"]
                #expect(everything == expected)
                // Only "a/#/b" is matched by a look-alike: the real wildcard "a/+/b" (and "a/#").
                let lookalikes: [Received] = inbox.all.filter { $0.session == "lookalike-\(hub)" }
                let matched: [String] = lookalikes.map(\.handler).sorted()
                #expect(matched == ["a/#", "a/+/b"])
                #expect(lookalikes.allSatisfy { $0.topic == "a/#/b" })
            }
        }
    }

    static func kind(_ body: () async throws -> Any) async -> PubSubError.Kind? {
        do {
            _ = try await body()
            return nil
        } catch let error as PubSubError {
            return error.kind
        } catch {
            return nil
        }
    }

    static func kind(_ body: () throws -> Any) -> PubSubError.Kind? {
        do {
            _ = try body()
            return nil
        } catch let error as PubSubError {
            return error.kind
        } catch {
            return nil
        }
    }
}
