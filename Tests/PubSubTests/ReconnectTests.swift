import Foundation
import MQTTBroker
import PubSub
import Testing
import TestSupport

/// A hub outlives its broker: messages sent while the broker is down are delivered once
/// libmosquitto has reconnected, and subscriptions are renewed.
@Suite("Reconnection")
struct ReconnectTests {
    @Test func messagesSentWhileTheBrokerIsDownArriveAfterReconnection() async throws {
        let first = try await EmbeddedBroker.start(on: restartablePort())
        let port = first.port
        let prefix = uniquePrefix("reconnect")
        let hub = try await PubSubHub(broker: first.url, prefix: prefix, logger: quietLogger)
        var second: EmbeddedBroker?
        do {
            let inbox = Inbox<Received>()
            let session = hub.session(id: "s")
            try await session.record(into: inbox)
            try await session.sendAll("before")
            #expect(await inbox.wait(session: "s", text: "before"))

            try await first.stop()
            #expect(await eventually { !isListening(port) })
            for index in 0..<10 {
                try await session.sendAll("while down \(index)")
            }
            // The session's own copies never depend on the broker.
            #expect(await inbox.wait(session: "s", text: "while down 9"))

            // A new broker on the same port, with an inline subscription made before it starts
            // so that nothing the hub sends on reconnecting can be missed.
            let started = try await EmbeddedBroker.start(on: port) { broker in
                let subscription = try broker.client.subscribe(prefix, qos: .atLeastOnce)
                Task {
                    for await message in subscription {
                        inbox.append(Received(session: "broker", text: message.payloadString, sender: Self.sender(of: message)))
                    }
                }
            }
            second = started
            #expect(await inbox.wait(timeout: .seconds(15)) { $0.session == "broker" && $0.text == "while down 9" })
            let atBroker = inbox.texts(session: "broker")
            #expect(atBroker == (0..<10).map { "while down \($0)" }, "\(atBroker)")
            let senders: [String?] = inbox.all.filter { $0.session == "broker" }.map(\.sender)
            #expect(senders.allSatisfy { $0 == "s" })

            // The hub's subscription was renewed on the new broker.
            try started.broker.client.publish(prefix, "from the new broker", qos: .atLeastOnce)
            #expect(await inbox.wait(session: "s", text: "from the new broker"))
        } catch {
            await hub.shutdown()
            try? await second?.stop()
            throw error
        }
        await hub.shutdown()
        try await second?.stop()
    }

    @Test func aHubReconnectsToMosquittoAfterItRestarts() async throws {
        var broker = try await MosquittoProcess.start(port: restartablePort())
        let port = broker.port
        let prefix = uniquePrefix("reconnect")
        let hub = try await PubSubHub(broker: broker.url, prefix: prefix, logger: quietLogger)
        let observer = try await PubSubHub(broker: broker.url, prefix: prefix, logger: quietLogger)
        do {
            let inbox = Inbox<Received>()
            try await hub.session(id: "s").record(into: inbox)
            await broker.stop()
            #expect(await eventually { !isListening(port) })
            broker = try await MosquittoProcess.start(port: port)
            // Both hubs come back by themselves and renew their subscriptions; send until a
            // message makes it through (ones sent before that are queued, not lost).
            let deadline = ContinuousClock.now + .seconds(20)
            var sent = 0
            while inbox.count == 0 && ContinuousClock.now < deadline {
                try await observer.session(id: "o").sendAll("back")
                sent += 1
                _ = await inbox.wait(for: 1, timeout: .milliseconds(250))
            }
            #expect(inbox.count > 0, "nothing arrived after \(sent) messages; mosquitto log: \(broker.log)")
            #expect(inbox.all.first?.text == "back")
        } catch {
            await hub.shutdown()
            await observer.shutdown()
            await broker.stop()
            throw error
        }
        await hub.shutdown()
        await observer.shutdown()
        await broker.stop()
    }

    static func sender(of message: InlineMessage) -> String? {
        message.properties.userProperties.first { $0.name == "pubsub-sender" }?.value
    }
}
