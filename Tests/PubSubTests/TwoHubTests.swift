import Foundation
import PubSub
import Testing

/// Hubs on one broker, as separate processes (or machines) would have them.
@Suite("Two hubs on one broker")
struct TwoHubTests {
    @Test(arguments: BrokerKind.allCases)
    func sendOthersReachesEveryOtherSessionOnBothHubsButNotTheSender(_ kind: BrokerKind) async throws {
        try await withCluster(kind) { cluster in
            let inbox = Inbox<Received>()
            let sender = cluster.session("a-sender", hub: 0)
            try await sender.record(into: inbox)
            try await sender.record(topic: "room", into: inbox)
            let receivers = ["a-1", "a-2"].map { cluster.session($0, hub: 0) } + ["b-1", "b-2", "b-3"].map { cluster.session($0, hub: 1) }
            for receiver in receivers {
                try await receiver.record(into: inbox)
                try await receiver.record(topic: "room", into: inbox)
            }

            try await sender.sendOthers("hello others")
            try await sender.sendOthersOnTopic("room", "hello room")
            for receiver in receivers {
                #expect(await inbox.wait(session: receiver.sessionID, text: "hello room"))
                #expect(inbox.texts(session: receiver.sessionID) == ["hello others", "hello room"])
                let senders: [String?] = inbox.all.filter { $0.session == receiver.sessionID }.map(\.sender)
                #expect(senders == ["a-sender", "a-sender"])
            }
            // The sender's own messages do not come back from the broker either: a message from
            // hub B, sent after the others got theirs, is all the sender ever sees.
            try await cluster.session("b-1", hub: 1).sendAll("fence")
            #expect(await inbox.wait(session: "a-sender", text: "fence"))
            #expect(inbox.texts(session: "a-sender") == ["fence"])
        }
    }

    @Test(arguments: BrokerKind.allCases)
    func messagesSentJustBeforeShutdownStillReachOtherHubs(_ kind: BrokerKind) async throws {
        try await withCluster(kind, hubs: 1) { cluster in
            let inbox = Inbox<Received>()
            try await cluster.session("listener", hub: 0).record(into: inbox)
            let leaving = try await PubSubHub(broker: cluster.broker.url, prefix: cluster.prefix, logger: quietLogger)
            let page = leaving.session(id: "leaving")
            for index in 0..<50 { try await page.sendAll("last \(index)") }
            await leaving.shutdown()
            #expect(await inbox.wait(session: "listener", text: "last 49"))
            #expect(inbox.texts(session: "listener") == (0..<50).map { "last \($0)" })
        }
    }

    @Test(arguments: BrokerKind.allCases)
    func aSessionGetsOneMessagePerMatchingSubscriptionAndNoDuplicates(_ kind: BrokerKind) async throws {
        try await withCluster(kind) { cluster in
            let inbox = Inbox<Received>()
            // Overlapping subscriptions on hub B: one MQTT subscription each, which mosquitto
            // (under MQTT 5) answers with one copy of the message per subscription.
            let filters = ["room/1", "room/+", "room/#", "#"]
            for id in ["b-1", "b-2"] {
                let session = cluster.session(id, hub: 1)
                for filter in filters { try await session.record(topic: filter, into: inbox) }
                try await session.record(into: inbox)
            }
            // The same overlap on the sender's hub, served directly.
            let local = cluster.session("a-1", hub: 0)
            for filter in filters { try await local.record(topic: filter, into: inbox) }
            try await local.record(into: inbox)

            let sender = cluster.session("a-sender", hub: 0)
            try await sender.sendAllOnTopic("room/1", "once per subscription")
            try await sender.sendAllOnTopic("room/2", "three subscriptions")
            try await sender.sendAll("global")
            try await sender.sendAll("fence")

            for id in ["b-1", "b-2", "a-1"] {
                #expect(await inbox.wait(session: id, text: "fence"))
                let received: [Received] = inbox.all.filter { $0.session == id }
                func handlers(_ text: String) -> [String] { received.filter { $0.text == text }.map(\.handler).sorted() }
                #expect(handlers("once per subscription") == filters.sorted())
                #expect(handlers("three subscriptions") == ["#", "room/#", "room/+"])
                #expect(handlers("global") == ["global"])
                #expect(received.count == 9)  // 4 + 3 + 1 + 1
            }
        }
    }

    @Test(arguments: BrokerKind.allCases)
    func aHubUnsubscribesAtTheBrokerOnlyWhenItsLastSessionLeaves(_ kind: BrokerKind) async throws {
        try await withCluster(kind) { cluster in
            let inbox = Inbox<Received>()
            let first = cluster.session("b-1", hub: 1)
            let second = cluster.session("b-2", hub: 1)
            try await first.record(topic: "shared", into: inbox)
            try await second.record(topic: "shared", into: inbox)
            try await first.unsubscribeTopic("shared")

            let sender = cluster.session("a-sender", hub: 0)
            try await sender.sendAllOnTopic("shared", "still subscribed")
            #expect(await inbox.wait(session: "b-2", text: "still subscribed"))

            try await second.close()
            // Subscribing anew after the hub let go of the filter subscribes again.
            let third = cluster.session("b-3", hub: 1)
            try await third.record(topic: "shared", into: inbox)
            try await sender.sendAllOnTopic("shared", "resubscribed")
            #expect(await inbox.wait(session: "b-3", text: "resubscribed"))
            let lines: [String] = inbox.all.map(\.description)
            #expect(lines == ["b-2/shared <- shared: still subscribed", "b-3/shared <- shared: resubscribed"])
        }
    }
}
