import Foundation
import HummingbirdTesting
import MQTTBroker
import Testing

@testable import ChatService

/// Page sessions over the WebSocket, against a real broker.
@Suite struct ChatSessionTests {
    @Test func twoSessionsSeeEachOthersJoinMessagesAndLeave() async throws {
        try await withChat { _, _, client in
            async let alice: Void = withPage("alice", on: client) { page in
                try await page.join()
                await page.expect("her own join") { $0.isMessage(kind: .join, user: "alice", text: "alice has joined the chat.") }
                await page.expect("bob's join") { $0.isMessage(kind: .join, user: "bob", text: "bob has joined the chat.") }
                try await page.say("hi bob")
                await page.expect("bob's reply") { $0.isMessage(user: "bob", text: "hello alice\nsecond line") }
                await page.expect("bob leaving") { $0.isMessage(kind: .leave, user: "bob", text: "bob has left the chat.") }
                await page.expect("only herself online") { $0.isOnline(["alice"]) }
            }
            async let bob: Void = withPage("bob", on: client) { page in
                try await page.join()
                await page.expect("both online") { $0.isOnline(["alice", "bob"]) }
                await page.expect("alice's message") { $0.isMessage(user: "alice", text: "hi bob") }
                try await page.say("hello alice\nsecond line")
                await page.expect("his own message") { $0.isMessage(user: "bob", text: "hello alice\nsecond line") }
            }
            _ = try await (alice, bob)
        }
    }

    @Test func joinIsAnsweredWithJoinedHistoryAndOnlineInThatOrder() async throws {
        try await withChat { _, _, client in
            try await withPage("carol", on: client) { page in
                try await page.join(room: "lobby")
                await page.expect("the online list") { $0.type == "online" }
                let types = page.events.map(\.type)
                #expect(Array(types.prefix(2)) == ["joined", "history"])
                #expect(page.events.first?.room == "lobby" && page.events.first?.name == "carol")
            }
        }
    }

    @Test(arguments: [
        ("   ", "Name must not be empty"),
        (String(repeating: "n", count: 33), "Names are at most 32 characters"),
        ("a:b", "Names cannot contain ':' or line breaks"),
    ])
    func aBadNameIsRefusedAndTheSessionCanStillJoin(name: String, error: String) async throws {
        try await withChat { _, _, client in
            try await withPage("dave", on: client) { page in
                try await page.send(#"{"type":"join","name":"\#(name)"}"#)
                await page.expect("the refusal") { $0.type == "error" && $0.message == error }
                try await page.join()
                await page.expect("joined") { $0.type == "joined" && $0.name == "dave" }
            }
        }
    }

    @Test(arguments: [
        ("not json", "Not a chat command: expected a JSON object with a \"type\""),
        (#"{"type":"dance"}"#, "Unknown command type \"dance\""),
        (#"{"type":"send"}"#, "\"send\" needs a \"text\""),
        (#"{"type":"send","text":"too early"}"#, "Join the chat before sending messages"),
        (#"{"type":"room","room":"x"}"#, "Join the chat before changing rooms"),
        (#"{"type":"join","name":"eve","room":"no spaces"}"#, "Room names are 1 to 32 letters, digits, '_', '.' or '-'"),
    ])
    func anInvalidFrameGetsAnErrorAndTheSessionStaysUp(frame: String, error: String) async throws {
        try await withChat { _, _, client in
            try await withPage("eve", on: client) { page in
                try await page.send(frame)
                await page.expect("the error") { $0.type == "error" && $0.message == error }
                try await page.join()
                try await page.say("still here")
                await page.expect("her message") { $0.isMessage(user: "eve", text: "still here") }
            }
        }
    }

    @Test func emptyAndOverlongMessagesAreRefused() async throws {
        try await withChat(configuration: ChatConfiguration(maximumMessageLength: 10)) { _, _, client in
            try await withPage("fay", on: client) { page in
                try await page.join()
                try await page.say(" \n ")
                await page.expect("the empty refusal") { $0.type == "error" && $0.message == "Message must not be empty" }
                try await page.say("this is too long")
                await page.expect("the length refusal") { $0.type == "error" && $0.message == "Messages are at most 10 characters" }
                let chatLines = page.events.filter { $0.type == "message" && $0.kind == .chat }
                #expect(chatLines.isEmpty)
            }
        }
    }

    @Test func aBurstBeyondTheRateLimitIsRefused() async throws {
        try await withChat(configuration: ChatConfiguration(messageBurst: 3, messagesPerSecond: 0.01)) { _, _, client in
            try await withPage("gus", on: client) { page in
                try await page.join()
                for index in 0..<5 { try await page.say("message \(index)") }
                await page.expect("the rate limit") { $0.type == "error" && $0.message?.hasPrefix("You are sending too fast") == true }
                await page.expect("the third message") { $0.isMessage(user: "gus", text: "message 2") }
                let errors = page.events.filter { $0.type == "error" }
                let refused = page.events.filter { $0.isMessage(user: "gus", text: "message 3") }
                #expect(errors.count == 2)
                #expect(refused.isEmpty)
            }
        }
    }

    @Test func aJoinerIsShownTheRoomsLastMessages() async throws {
        try await withChat(configuration: ChatConfiguration(historyLimit: 3)) { _, _, client in
            try await withPage("hal", on: client) { page in
                try await page.join()
                for index in 0..<5 { try await page.say("old \(index)") }
                await page.expect("his last message") { $0.isMessage(user: "hal", text: "old 4") }
            }
            try await withPage("ivy", on: client) { page in
                try await page.join()
                let history = await page.expect("the history") { $0.type == "history" }
                // hal's leave announcement is the newest line of the room.
                #expect(history?.messages?.map(\.text) == ["old 3", "old 4", "hal has left the chat."])
                await page.expect("her own join") { $0.isMessage(kind: .join, user: "ivy", text: "ivy has joined the chat.") }
                let copies = page.events.filter { $0.isMessage(user: "hal", text: "old 4") }
                #expect(copies.count == 1, "a message from the history came again live")
            }
        }
    }

    @Test func roomsAreSeparateConversations() async throws {
        try await withChat { _, _, client in
            async let general: Void = withPage("jay", on: client) { page in
                try await page.join()
                await page.expect("kim in general") { $0.isMessage(user: "kim", text: "back in general") }
                let texts = page.events.compactMap(\.text)
                #expect(!texts.contains("in random"))
            }
            async let switcher: Void = withPage("kim", on: client) { page in
                try await page.join(room: "random")
                try await page.say("in random")
                await page.expect("her message in random") { $0.isMessage(user: "kim", text: "in random") }
                try await page.send(#"{"type":"room","room":"general"}"#)
                await page.expect("joined general") { $0.type == "joined" && $0.room == "general" }
                try await page.say("back in general")
                await page.expect("her message in general") { $0.isMessage(user: "kim", text: "back in general") && $0.room == "general" }
            }
            _ = try await (general, switcher)
        }
    }

    @Test func plainMQTTPublishersShowReadably() async throws {
        try await withChat { _, broker, client in
            try await withPage("lea", on: client) { page in
                try await page.join()
                await page.expect("her join") { $0.isMessage(kind: .join, user: "lea", text: "lea has joined the chat.") }
                let mqtt = broker.broker.client(named: "plain-publisher")
                _ = try mqtt.publish("chat/general", "bob: hi", qos: .atLeastOnce)
                _ = try mqtt.publish("chat/general", "no name here", qos: .atLeastOnce)
                _ = try mqtt.publish("chat/general/sensor1", #"{"temp": 21.5}"#, qos: .atLeastOnce)
                _ = try mqtt.publish("chat/random", "elsewhere", qos: .atLeastOnce)
                await page.expect("bob's message") { $0.isMessage(user: "bob", text: "hi") }
                await page.expect("the nameless message") { $0.isMessage(user: "mqtt", text: "no name here") }
                let reading = await page.expect("the sensor reading") { $0.user == "sensor1" }
                #expect(reading?.format == .json)
                #expect(reading?.text?.contains("\"temp\"") == true)
                #expect(reading?.text?.contains("\n") == true, "JSON is pretty-printed")
                let otherRoom = page.events.filter { $0.text == "elsewhere" }
                #expect(otherRoom.isEmpty)
            }
        }
    }

    @Test func pageMessagesReachMQTTSubscribersAsNameColonText() async throws {
        try await withChat { _, broker, client in
            let subscription = try broker.broker.client(named: "listener").subscribe("chat/#")
            let received = Task {
                var lines: [String] = []
                for await message in subscription {
                    lines.append("\(message.topic) \(message.payloadString)")
                    if lines.count == 3 { break }
                }
                return lines
            }
            try await withPage("max", on: client) { page in
                try await page.join()
                try await page.say("hello mqtt")
                await page.expect("his message") { $0.isMessage(user: "max", text: "hello mqtt") }
            }
            #expect(await received.value == [
                "chat/general max has joined the chat.", "chat/general max: hello mqtt", "chat/general max has left the chat.",
            ])
        }
    }
}
