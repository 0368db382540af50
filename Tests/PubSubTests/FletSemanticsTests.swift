import Foundation
import PubSub
import Synchronization
import Testing
import TestSupport

/// Flet's `page.pubsub` rules, checked on a real broker of each kind. Every test spreads its
/// sessions over two hubs, so each rule is checked both for sessions of the sender's own hub
/// (served directly) and for sessions of another hub (served through the broker).
@Suite("Flet semantics")
struct FletSemanticsTests {
    @Test(arguments: BrokerKind.allCases)
    func sendAllReachesEverySubscribedSessionIncludingTheSender(_ kind: BrokerKind) async throws {
        try await withCluster(kind) { cluster in
            let inbox = Inbox<Received>()
            let sessions = (0..<4).map { cluster.session("s\($0)", hub: $0 % 2) }
            for session in sessions { try await session.record(into: inbox) }
            // A session without handlers is not a receiver, and sending from it still works.
            let silent = cluster.session("silent", hub: 1)

            try await sessions[0].sendAll("hello")
            try await silent.sendAll("from silent")

            #expect(await inbox.wait(for: 8))
            for session in sessions {
                // Two senders on two hubs: each session gets both, in either order.
                #expect(inbox.texts(session: session.sessionID).sorted() == ["from silent", "hello"])
            }
            let hellos: [Received] = inbox.all.filter { $0.text == "hello" }
            #expect(hellos.allSatisfy { $0.sender == "s0" })
            #expect(hellos.allSatisfy { $0.topic == nil })
        }
    }

    @Test(arguments: BrokerKind.allCases)
    func sendOthersReachesEveryoneButTheSendersWholeSession(_ kind: BrokerKind) async throws {
        try await withCluster(kind) { cluster in
            let inbox = Inbox<Received>()
            let sender = cluster.session("sender", hub: 0)
            // The sender has two global handlers and two topic handlers: none may fire.
            try await sender.record(into: inbox, handler: "first")
            try await sender.record(into: inbox, handler: "second")
            try await sender.record(topic: "news", into: inbox, handler: "news-1")
            try await sender.record(topic: "news", into: inbox, handler: "news-2")
            let others = [cluster.session("local", hub: 0), cluster.session("remote-1", hub: 1), cluster.session("remote-2", hub: 1)]
            for other in others {
                try await other.record(into: inbox)
                try await other.record(topic: "news", into: inbox)
            }

            try await sender.sendOthers("not for me")
            try await sender.sendOthersOnTopic("news", "not for me either")
            for other in others {
                #expect(await inbox.wait(session: other.sessionID, text: "not for me either"))
                #expect(inbox.texts(session: other.sessionID) == ["not for me", "not for me either"])
            }

            // A later message from the other hub reaches the sender after anything the broker
            // could have echoed back: by then nothing of its own may have arrived.
            try await others[1].sendAll("fence")
            try await others[1].sendAllOnTopic("news", "topic fence")
            #expect(await inbox.wait(session: "sender", text: "topic fence"))
            #expect(inbox.texts(session: "sender", handler: "first") == ["fence"])
            #expect(inbox.texts(session: "sender", handler: "second") == ["fence"])
            #expect(inbox.texts(session: "sender", handler: "news-1") == ["topic fence"])
            #expect(inbox.texts(session: "sender", handler: "news-2") == ["topic fence"])
        }
    }

    @Test(arguments: BrokerKind.allCases)
    func globalHandlersGetTheMessageAndTopicHandlersGetTopicAndMessage(_ kind: BrokerKind) async throws {
        try await withCluster(kind) { cluster in
            let global = Inbox<String>()
            let topical = Inbox<[String]>()
            for hub in 0..<2 {
                let session = cluster.session("receiver-\(hub)", hub: hub)
                try await session.subscribe { (message: String) in global.append(message) }
                try await session.subscribeTopic("chat/lobby") { (topic: String, message: String) in topical.append([topic, message]) }
            }
            let sender = cluster.session("sender", hub: 0)
            try await sender.sendAll("to everyone")
            try await sender.sendAllOnTopic("chat/lobby", "to the lobby")

            #expect(await global.wait(for: 2))
            #expect(await topical.wait(for: 2))
            #expect(global.all == ["to everyone", "to everyone"])
            #expect(topical.all == [["chat/lobby", "to the lobby"], ["chat/lobby", "to the lobby"]])
        }
    }

    @Test(arguments: BrokerKind.allCases)
    func globalMessagesAndTopicMessagesNeverCross(_ kind: BrokerKind) async throws {
        try await withCluster(kind) { cluster in
            let inbox = Inbox<Received>()
            let sender = cluster.session("sender", hub: 0)
            for hub in 0..<2 {
                // A topic literally named "all", a topic named like the prefix, and "#", which in
                // MQTT also matches its parent level (the global channel's MQTT topic).
                try await cluster.session("all-\(hub)", hub: hub).record(topic: "all", into: inbox)
                try await cluster.session("prefix-\(hub)", hub: hub).record(topic: cluster.prefix, into: inbox)
                try await cluster.session("hash-\(hub)", hub: hub).record(topic: "#", into: inbox)
                try await cluster.session("global-\(hub)", hub: hub).record(into: inbox)
            }

            try await sender.sendAll("global message")
            try await sender.sendAllOnTopic("all", "topic all")
            try await sender.sendAllOnTopic(cluster.prefix, "topic prefix")
            try await sender.sendAll("global fence")

            for hub in 0..<2 {
                #expect(await inbox.wait(session: "global-\(hub)", text: "global fence"))
                #expect(await inbox.wait(session: "hash-\(hub)", text: "topic prefix"))
                #expect(inbox.texts(session: "global-\(hub)") == ["global message", "global fence"])
                #expect(inbox.texts(session: "all-\(hub)") == ["topic all"])
                #expect(inbox.texts(session: "prefix-\(hub)") == ["topic prefix"])
                #expect(inbox.texts(session: "hash-\(hub)") == ["topic all", "topic prefix"])
                let hashTopics: [String?] = inbox.all.filter { $0.session == "hash-\(hub)" }.map(\.topic)
                #expect(hashTopics == ["all", cluster.prefix])
            }
            // One more topic message after the global fence: had a global message leaked into a
            // topic subscription, it would have arrived before this.
            try await sender.sendAllOnTopic("all", "topic fence")
            try await sender.sendAllOnTopic(cluster.prefix, "topic fence")
            for hub in 0..<2 {
                #expect(await inbox.wait(session: "all-\(hub)", text: "topic fence"))
                #expect(await inbox.wait(session: "prefix-\(hub)", text: "topic fence"))
                #expect(await eventually { inbox.texts(session: "hash-\(hub)").count == 4 })
            }
            let leaks: [Received] = inbox.all.filter { received in
                received.session.hasPrefix("global-") != received.text.hasPrefix("global")
            }
            #expect(leaks.isEmpty, "\(leaks)")
        }
    }

    @Test(arguments: BrokerKind.allCases)
    func subscribingTheSameHandlerTwiceDeliversOnce(_ kind: BrokerKind) async throws {
        try await withCluster(kind) { cluster in
            let inbox = Inbox<Received>()
            for hub in 0..<2 {
                let session = cluster.session("r\(hub)", hub: hub)
                // The same call site, three times (as a page's build method run repeatedly would).
                for _ in 0..<3 {
                    try await session.subscribe { (text: String) in inbox.append(Received(session: "r\(hub)", handler: "loop", text: text)) }
                    try await session.subscribeTopic("t") { (topic: String, text: String) in
                        inbox.append(Received(session: "r\(hub)", handler: "loop-topic", topic: topic, text: text))
                    }
                }
                // The same explicit id from two call sites: the second replaces the first.
                try await session.subscribe(id: "chat") { (text: String) in inbox.append(Received(session: "r\(hub)", handler: "old", text: text)) }
                try await session.subscribe(id: "chat") { (text: String) in inbox.append(Received(session: "r\(hub)", handler: "chat", text: text)) }
                // A different call site is a different handler.
                try await session.subscribe { (text: String) in inbox.append(Received(session: "r\(hub)", handler: "other", text: text)) }
            }
            let sender = cluster.session("sender", hub: 0)
            try await sender.sendAll("one")
            try await sender.sendAllOnTopic("t", "two")
            try await sender.sendAll("fence")

            for hub in 0..<2 {
                #expect(await inbox.wait { $0.session == "r\(hub)" && $0.handler == "other" && $0.text == "fence" })
                #expect(inbox.texts(session: "r\(hub)", handler: "loop") == ["one", "fence"])
                #expect(inbox.texts(session: "r\(hub)", handler: "loop-topic") == ["two"])
                #expect(inbox.texts(session: "r\(hub)", handler: "chat") == ["one", "fence"])
                #expect(inbox.texts(session: "r\(hub)", handler: "old") == [])
                #expect(inbox.texts(session: "r\(hub)", handler: "other") == ["one", "fence"])
            }
        }
    }

    @Test(arguments: BrokerKind.allCases)
    func unsubscribeRemovesOnlyTheSessionsGlobalHandlers(_ kind: BrokerKind) async throws {
        try await withCluster(kind) { cluster in
            let inbox = Inbox<Received>()
            let sender = cluster.session("sender", hub: 0)
            let witness = cluster.session("witness", hub: 1)
            try await witness.record(into: inbox)
            for hub in 0..<2 {
                let session = cluster.session("leaver-\(hub)", hub: hub)
                try await session.record(into: inbox, handler: "a")
                try await session.record(into: inbox, handler: "b")
                try await session.record(topic: "t", into: inbox)
                try await session.unsubscribe()
            }
            try await sender.sendAll("after unsubscribe")
            try await sender.sendAllOnTopic("t", "topic still works")

            #expect(await inbox.wait(session: "witness", text: "after unsubscribe"))
            for hub in 0..<2 {
                #expect(await inbox.wait(session: "leaver-\(hub)", text: "topic still works"))
                #expect(inbox.texts(session: "leaver-\(hub)") == ["topic still works"])
                // Subscribing again works, and nothing sent before it shows up.
                try await cluster.session("leaver-\(hub)", hub: hub).record(into: inbox, handler: "again")
            }
            try await sender.sendAll("fence")
            for hub in 0..<2 {
                #expect(await inbox.wait(session: "leaver-\(hub)", text: "fence"))
                #expect(inbox.texts(session: "leaver-\(hub)") == ["topic still works", "fence"])
            }
        }
    }

    @Test(arguments: BrokerKind.allCases)
    func unsubscribeTopicRemovesOnlyThatTopic(_ kind: BrokerKind) async throws {
        try await withCluster(kind) { cluster in
            let inbox = Inbox<Received>()
            let sender = cluster.session("sender", hub: 0)
            for hub in 0..<2 {
                let session = cluster.session("r\(hub)", hub: hub)
                try await session.record(into: inbox)
                try await session.record(topic: "gone", into: inbox)
                try await session.record(topic: "kept", into: inbox)
                try await session.record(topic: "gone/+", into: inbox)
                try await session.unsubscribeTopic("gone")
            }
            // Another session's subscription to the same topic is not affected.
            let neighbour = cluster.session("neighbour", hub: 1)
            try await neighbour.record(topic: "gone", into: inbox)

            try await sender.sendAllOnTopic("gone", "dropped")
            try await sender.sendAllOnTopic("gone/sub", "wildcard kept")
            try await sender.sendAllOnTopic("kept", "kept")
            try await sender.sendAll("global kept")

            #expect(await inbox.wait(session: "neighbour", text: "dropped"))
            for hub in 0..<2 {
                #expect(await inbox.wait(session: "r\(hub)", text: "global kept"))
                #expect(inbox.texts(session: "r\(hub)") == ["wildcard kept", "kept", "global kept"])
            }
        }
    }

    @Test(arguments: BrokerKind.allCases)
    func unsubscribeAllRemovesEverythingOfTheSessionOnly(_ kind: BrokerKind) async throws {
        try await withCluster(kind) { cluster in
            let inbox = Inbox<Received>()
            let sender = cluster.session("sender", hub: 0)
            for hub in 0..<2 {
                let leaver = cluster.session("leaver-\(hub)", hub: hub)
                try await leaver.record(into: inbox)
                try await leaver.record(topic: "t", into: inbox)
                try await leaver.record(topic: "u/#", into: inbox)
                let stayer = cluster.session("stayer-\(hub)", hub: hub)
                try await stayer.record(into: inbox)
                try await stayer.record(topic: "t", into: inbox)
                try await stayer.record(topic: "u/#", into: inbox)
                try await leaver.unsubscribeAll()
            }
            try await sender.sendAll("g")
            try await sender.sendAllOnTopic("t", "t")
            try await sender.sendAllOnTopic("u/1", "u")
            for hub in 0..<2 {
                #expect(await inbox.wait(session: "stayer-\(hub)", text: "u"))
                #expect(inbox.texts(session: "stayer-\(hub)") == ["g", "t", "u"])
                // The session stays usable: a new subscription receives only what comes after it.
                try await cluster.session("leaver-\(hub)", hub: hub).record(into: inbox)
            }
            try await sender.sendAll("fence")
            for hub in 0..<2 {
                #expect(await inbox.wait(session: "leaver-\(hub)", text: "fence"))
                #expect(inbox.texts(session: "leaver-\(hub)") == ["fence"])
            }
        }
    }

    @Test(arguments: BrokerKind.allCases)
    func closeActsAsUnsubscribeAll(_ kind: BrokerKind) async throws {
        try await withCluster(kind) { cluster in
            let inbox = Inbox<Received>()
            let sender = cluster.session("sender", hub: 0)
            for hub in 0..<2 {
                let closing = cluster.session("closing-\(hub)", hub: hub)
                try await closing.record(into: inbox)
                try await closing.record(topic: "t", into: inbox)
                let stayer = cluster.session("stayer-\(hub)", hub: hub)
                try await stayer.record(into: inbox)
                try await stayer.record(topic: "t", into: inbox)
                try await closing.close()
                // A closed session's handle cannot subscribe again.
                await #expect(throws: PubSubError.self) { try await closing.record(into: inbox, handler: "late") }
            }
            try await sender.sendAll("g")
            try await sender.sendAllOnTopic("t", "t")
            for hub in 0..<2 { #expect(await inbox.wait(session: "stayer-\(hub)", text: "t")) }
            try await cluster.session("stayer-1", hub: 1).sendAll("from the other hub")
            for hub in 0..<2 {
                #expect(await inbox.wait(session: "stayer-\(hub)", text: "from the other hub"))
                #expect(inbox.texts(session: "stayer-\(hub)") == ["g", "t", "from the other hub"])
                #expect(inbox.texts(session: "closing-\(hub)") == [])
            }
            // A new session under the same id starts empty and works.
            let reopened = cluster.session("closing-1", hub: 1)
            try await reopened.record(into: inbox, handler: "reopened")
            try await sender.sendAll("after reopening")
            #expect(await inbox.wait(session: "closing-1", text: "after reopening"))
            #expect(inbox.texts(session: "closing-1") == ["after reopening"])
        }
    }

    @Test(arguments: BrokerKind.allCases)
    func eachSessionReceivesMessagesInTheOrderTheyWereSent(_ kind: BrokerKind) async throws {
        try await withCluster(kind) { cluster in
            let inbox = Inbox<Received>()
            let sessions = (0..<4).map { cluster.session("r\($0)", hub: $0 % 2) }
            for session in sessions {
                try await session.record(into: inbox)
                try await session.record(topic: "seq", into: inbox)
            }
            let count = 200
            let sender = sessions[0]
            for index in 0..<count {
                if index.isMultiple(of: 2) {
                    try await sender.sendAll("\(index)")
                } else {
                    try await sender.sendAllOnTopic("seq", "\(index)")
                }
            }
            #expect(await inbox.wait(for: count * sessions.count))
            for session in sessions {
                let received = inbox.all.filter { $0.session == session.sessionID }
                let global: [String] = received.filter { $0.topic == nil }.map(\.text)
                let onTopic: [String] = received.filter { $0.topic == "seq" }.map(\.text)
                let evens: [String] = stride(from: 0, to: count, by: 2).map { String($0) }
                let odds: [String] = stride(from: 1, to: count, by: 2).map { String($0) }
                #expect(global == evens)
                #expect(onTopic == odds)
            }
        }
    }

    @Test(arguments: BrokerKind.allCases)
    func aSlowHandlerDoesNotDelayOtherSessions(_ kind: BrokerKind) async throws {
        try await withCluster(kind) { cluster in
            let inbox = Inbox<Received>()
            let released = Flag()
            let slow = cluster.session("slow", hub: 0)
            try await slow.subscribe { (text: String) in
                // Sleeps until the test has seen every other session get every message.
                while !released.isSet { try await Task.sleep(for: .milliseconds(5)) }
                inbox.append(Received(session: "slow", text: text))
            }
            let fast = [cluster.session("fast-same-hub", hub: 0), cluster.session("fast-other-hub", hub: 1)]
            for session in fast { try await session.record(into: inbox) }

            let sender = cluster.session("sender", hub: 1)
            let twenty: [String] = (0..<20).map { String($0) }
            for text in twenty { try await sender.sendAll(text) }
            for session in fast {
                #expect(await inbox.wait(session: session.sessionID, text: "19"))
                #expect(inbox.texts(session: session.sessionID) == twenty)
            }
            #expect(inbox.texts(session: "slow").isEmpty)

            released.set()
            #expect(await inbox.wait(session: "slow", text: "19"))
            #expect(inbox.texts(session: "slow") == twenty)
        }
    }

    @Test(arguments: BrokerKind.allCases)
    func aThrowingHandlerDoesNotStopLaterMessages(_ kind: BrokerKind) async throws {
        struct Boom: Error {}
        try await withCluster(kind) { cluster in
            let inbox = Inbox<Received>()
            for hub in 0..<2 {
                let session = cluster.session("r\(hub)", hub: hub)
                try await session.subscribe { (text: String) in
                    inbox.append(Received(session: "r\(hub)", handler: "thrower", text: text))
                    if text.hasPrefix("boom") { throw Boom() }
                }
                // The session's next handler still runs for the message that made the first throw.
                try await session.subscribe { (text: String) in inbox.append(Received(session: "r\(hub)", handler: "next", text: text)) }
                try await session.subscribeTopic("t") { (_: String, text: String) in
                    inbox.append(Received(session: "r\(hub)", handler: "topic", text: text))
                    throw Boom()
                }
            }
            let sender = cluster.session("sender", hub: 0)
            try await sender.sendAll("before")
            try await sender.sendAll("boom 1")
            try await sender.sendAllOnTopic("t", "topic 1")
            try await sender.sendAll("boom 2")
            try await sender.sendAllOnTopic("t", "topic 2")
            try await sender.sendAll("after")
            for hub in 0..<2 {
                #expect(await inbox.wait { $0.session == "r\(hub)" && $0.handler == "next" && $0.text == "after" })
                #expect(inbox.texts(session: "r\(hub)", handler: "thrower") == ["before", "boom 1", "boom 2", "after"])
                #expect(inbox.texts(session: "r\(hub)", handler: "next") == ["before", "boom 1", "boom 2", "after"])
                #expect(inbox.texts(session: "r\(hub)", handler: "topic") == ["topic 1", "topic 2"])
            }
        }
    }

    @Test(arguments: BrokerKind.allCases)
    func topicSubscriptionsAcceptMQTTWildcards(_ kind: BrokerKind) async throws {
        try await withCluster(kind) { cluster in
            let inbox = Inbox<Received>()
            for hub in 0..<2 {
                let session = cluster.session("r\(hub)", hub: hub)
                try await session.record(topic: "sensors/+/temp", into: inbox)
                try await session.record(topic: "room/#", into: inbox)
            }
            let sender = cluster.session("sender", hub: 0)
            let sent = [
                "sensors/kitchen/temp", "sensors/hall/temp", "sensors/kitchen/humidity", "sensors/a/b/temp", "sensors/temp",
                "room", "room/1", "room/1/chat", "rooms/1", "other/room/1",
            ]
            for topic in sent { try await sender.sendAllOnTopic(topic, topic) }
            try await sender.sendAllOnTopic("sensors/fence/temp", "fence")
            try await sender.sendAllOnTopic("room/fence", "fence")
            for hub in 0..<2 {
                #expect(await eventually { inbox.texts(session: "r\(hub)").filter { $0 == "fence" }.count == 2 })
                let received = inbox.all.filter { $0.session == "r\(hub)" }
                let sensors: [String?] = received.filter { $0.handler == "sensors/+/temp" }.map(\.topic)
                let rooms: [String?] = received.filter { $0.handler == "room/#" }.map(\.topic)
                #expect(sensors == ["sensors/kitchen/temp", "sensors/hall/temp", "sensors/fence/temp"])
                #expect(rooms == ["room", "room/1", "room/1/chat", "room/fence"])
                let mislabelled: [Received] = received.filter { $0.text != "fence" && $0.text != $0.topic }
                #expect(mislabelled.isEmpty)
            }
        }
    }
}
