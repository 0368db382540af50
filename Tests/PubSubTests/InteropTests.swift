import Foundation
import PubSub
import Testing

/// PubSub against Mosquitto's command-line clients: what plain MQTT tools see of PubSub
/// messages, and what PubSub sessions get from plain MQTT publishers.
@Suite("Interoperability with mosquitto_sub and mosquitto_pub")
struct InteropTests {
    /// Starts `mosquitto_sub` (line-buffered, with `-d` so that its SUBACK shows) and waits
    /// until it is subscribed. It exits by itself after `count` messages or 10 seconds.
    static func subscriber(port: Int, topic: String, count: Int = 1, options: [String] = ["-v"]) async throws -> ChildProcess {
        let arguments = ["-oL", "/usr/bin/mosquitto_sub", "-h", "127.0.0.1", "-p", "\(port)", "-t", topic, "-q", "1", "-d",
                         "-C", "\(count)", "-W", "10"] + options
        let child = try ChildProcess("/usr/bin/stdbuf", arguments)
        guard await child.waitForOutput(containing: "received SUBACK") else {
            await child.stop()
            throw TestSupportError("mosquitto_sub did not subscribe: \(child.outputText)")
        }
        return child
    }

    /// The message lines `mosquitto_sub` printed (its `-d` lines left out).
    static func messageLines(_ child: ChildProcess) -> [String] {
        child.outputText.split(separator: "\n", omittingEmptySubsequences: false).map(String.init).filter {
            !$0.isEmpty && !$0.hasPrefix("Client ") && !$0.hasPrefix("Subscribed (mid")
        }
    }

    /// Runs `mosquitto_pub` to completion.
    static func publish(port: Int, topic: String, message: String, options: [String] = []) async throws {
        let child = try ChildProcess(
            "/usr/bin/mosquitto_pub", ["-h", "127.0.0.1", "-p", "\(port)", "-t", topic, "-m", message, "-q", "1"] + options)
        let status = await child.waitForExit()
        if status == nil { await child.stop() }
        #expect(status == 0, "mosquitto_pub failed: \(child.outputText)")
    }

    /// Waits for `child` to exit by itself; stops it if it does not.
    static func finish(_ child: ChildProcess) async -> Int32? {
        let status = await child.waitForExit(timeout: .seconds(15))
        if status == nil { await child.stop() }
        return status
    }

    @Test(arguments: BrokerKind.allCases)
    func mosquittoSubSeesTheBarePayloadOnTheMappedTopic(_ kind: BrokerKind) async throws {
        try await withCluster(kind, hubs: 1) { cluster in
            let subscriber = try await Self.subscriber(port: cluster.broker.port, topic: "\(cluster.prefix)/room1")
            do {
                try await cluster.session("alice", hub: 0).sendAllOnTopic("room1", "hi")
                #expect(await Self.finish(subscriber) == 0)
                #expect(Self.messageLines(subscriber) == ["\(cluster.prefix)/room1 hi"])
            } catch {
                await subscriber.stop()
                throw error
            }
        }
    }

    @Test(arguments: BrokerKind.allCases)
    func mosquittoSubUnderMQTT5SeesTheSenderUserProperty(_ kind: BrokerKind) async throws {
        try await withCluster(kind, hubs: 1) { cluster in
            let subscriber = try await Self.subscriber(
                port: cluster.broker.port, topic: "\(cluster.prefix)/#", count: 2, options: ["-V", "mqttv5", "-F", "%t|%p|%P"])
            do {
                let alice = cluster.session("alice", hub: 0)
                try await alice.sendAllOnTopic("room1", "hi")
                try await alice.sendAllOnTopic("a+b#c%", "encoded")
                #expect(await Self.finish(subscriber) == 0)
                let lines = Self.messageLines(subscriber)
                try #require(lines.count == 2, "\(subscriber.outputText)")
                let fields = lines[0].split(separator: "|", maxSplits: 2).map(String.init)
                #expect(fields[0] == "\(cluster.prefix)/room1")
                #expect(fields[1] == "hi")
                let properties = fields[2].split(separator: " ").map(String.init)
                #expect(properties.contains("pubsub-sender:alice"))
                #expect(properties.contains { $0.hasPrefix("pubsub-origin:") })
                #expect(properties.contains { $0.hasPrefix("pubsub-id:") })
                // Characters MQTT gives a meaning to are percent-encoded on the wire.
                #expect(lines[1].hasPrefix("\(cluster.prefix)/a%2Bb%23c%25|encoded|"))
            } catch {
                await subscriber.stop()
                throw error
            }
        }
    }

    @Test(arguments: BrokerKind.allCases)
    func mosquittoPubOnATopicReachesTopicHandlersWithoutASender(_ kind: BrokerKind) async throws {
        try await withCluster(kind) { cluster in
            let inbox = Inbox<Received>()
            for hub in 0..<2 {
                try await cluster.session("r\(hub)", hub: hub).record(topic: "room1", into: inbox)
                try await cluster.session("r\(hub)", hub: hub).record(into: inbox)
                try await cluster.session("plus-\(hub)", hub: hub).record(topic: "a+b", into: inbox)
            }
            try await Self.publish(port: cluster.broker.port, topic: "\(cluster.prefix)/room1", message: "hello")
            // A plain client writes the encoded form to reach a topic with a reserved character.
            try await Self.publish(port: cluster.broker.port, topic: "\(cluster.prefix)/a%2Bb", message: "plus", options: ["-V", "mqttv311"])
            for hub in 0..<2 {
                #expect(await inbox.wait(session: "r\(hub)", text: "hello"))
                #expect(await inbox.wait(session: "plus-\(hub)", text: "plus"))
                let expected = Received(session: "r\(hub)", handler: "room1", topic: "room1", text: "hello", sender: nil)
                let received: [Received] = inbox.all.filter { $0.session == "r\(hub)" }
                #expect(received == [expected])
                let plus: [String?] = inbox.all.filter { $0.session == "plus-\(hub)" }.map(\.topic)
                #expect(plus == ["a+b"])
            }
        }
    }

    @Test(arguments: BrokerKind.allCases)
    func mosquittoPubOnThePrefixReachesGlobalHandlers(_ kind: BrokerKind) async throws {
        try await withCluster(kind) { cluster in
            let inbox = Inbox<Received>()
            for hub in 0..<2 {
                try await cluster.session("r\(hub)", hub: hub).record(into: inbox)
                try await cluster.session("r\(hub)", hub: hub).record(topic: "#", into: inbox)
            }
            try await Self.publish(port: cluster.broker.port, topic: cluster.prefix, message: "x")
            try await Self.publish(port: cluster.broker.port, topic: "\(cluster.prefix)/t", message: "fence")
            for hub in 0..<2 {
                #expect(await inbox.wait(session: "r\(hub)", text: "fence"))
                let received: [Received] = inbox.all.filter { $0.session == "r\(hub)" }
                let lines: [String] = received.map(\.description)
                #expect(lines == ["r\(hub)/global <- <global>: x", "r\(hub)/# <- t: fence"])
                #expect(received.allSatisfy { $0.sender == nil })
            }
        }
    }

    @Test(arguments: BrokerKind.allCases)
    func aWildcardTopicSubscriptionReceivesMosquittoPub(_ kind: BrokerKind) async throws {
        try await withCluster(kind) { cluster in
            let inbox = Inbox<Received>()
            for hub in 0..<2 { try await cluster.session("r\(hub)", hub: hub).record(topic: "sensors/+/temp", into: inbox) }
            try await Self.publish(port: cluster.broker.port, topic: "\(cluster.prefix)/sensors/kitchen/humidity", message: "55")
            try await Self.publish(port: cluster.broker.port, topic: "\(cluster.prefix)/sensors/kitchen/temp", message: "21.5")
            for hub in 0..<2 {
                #expect(await inbox.wait(session: "r\(hub)", text: "21.5"))
                let lines: [String] = inbox.all.filter { $0.session == "r\(hub)" }.map(\.description)
                #expect(lines == ["r\(hub)/sensors/+/temp <- sensors/kitchen/temp: 21.5"])
            }
        }
    }
}
