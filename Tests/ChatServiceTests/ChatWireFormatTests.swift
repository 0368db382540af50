import Foundation
import PubSub
import Testing

@testable import ChatService

/// How MQTT messages become chat lines, without a broker.
@Suite struct ChatWireFormatTests {
    private func read(_ payload: String, topic: String = "general", properties: [String: String] = [:]) -> ChatMessage? {
        let message = PubSubMessage(topic: topic, payload: Data(payload.utf8), sender: nil, id: "m1", userProperties: properties)
        return ChatWireFormat.message(from: message, maximumNameLength: 32)
    }

    @Test func aChatPayloadIsNameColonText() {
        #expect(ChatWireFormat.payload(kind: .chat, user: "alice", text: "hi") == "alice: hi")
        #expect(ChatWireFormat.payload(kind: .join, user: "alice", text: "") == "alice has joined the chat.")
        #expect(ChatWireFormat.payload(kind: .leave, user: "alice", text: "") == "alice has left the chat.")
    }

    @Test func structuredPropertiesWinOverThePayload() throws {
        let properties = ChatWireFormat.userProperties(kind: .chat, user: "alice", time: "2026-11-29T10:00:00.000Z")
        let message = try #require(read("alice: a: b", properties: properties))
        #expect(message.user == "alice" && message.text == "a: b" && message.kind == .chat)
        #expect(message.time == "2026-11-29T10:00:00.000Z" && message.id == "m1" && message.room == "general")
    }

    @Test(arguments: [
        ("bob: hi", "bob", "hi"),
        ("bob: multi\nline", "bob", "multi\nline"),
        ("no name here", "mqtt", "no name here"),
        ("http://example.com: not a name", "mqtt", "http://example.com: not a name"),
        ("a very very very very long name here: text", "mqtt", "a very very very very long name here: text"),
        ("21.5", "mqtt", "21.5"),
    ])
    func plainTextIsReadAsNameColonTextWhenItLooksLikeIt(payload: String, user: String, text: String) throws {
        let message = try #require(read(payload))
        #expect(message.user == user && message.text == text && message.format == .text)
    }

    @Test func jsonFromADeviceIsPrettyPrintedUnderItsTopicLevel() throws {
        let message = try #require(read(#"{"temp": 21.5, "on": true}"#, topic: "general/sensor1"))
        #expect(message.room == "general" && message.user == "sensor1" && message.format == .json)
        #expect(message.text == "{\n  \"on\" : true,\n  \"temp\" : 21.5\n}")
    }

    @Test func binaryPayloadsAreDescribedNotShown() throws {
        let message = try #require(ChatWireFormat.message(
            from: PubSubMessage(topic: "general", payload: Data([0xFF, 0xFE, 0x00]), sender: nil), maximumNameLength: 32))
        #expect(message.text == "(3 bytes of binary data)")
    }

    @Test(arguments: ["", "bad room", "über"])
    func topicsThatAreNoRoomAreIgnored(topic: String) {
        #expect(read("x: y", topic: topic) == nil)
    }

    @Test func historyKeepsTheNewestMessagesOnceEach() {
        var history = ChatHistory(limit: 2)
        for id in ["a", "b", "b", "c"] {
            history.append(ChatMessage(id: id, room: "r", user: "u", kind: .chat, text: id, time: ""))
        }
        #expect(history.messages(in: "r").map(\.id) == ["b", "c"])
        #expect(history.messages(in: "other").isEmpty)
    }

    @Test func historyForgetsTheRoomWrittenToLeastRecentlyPastItsRoomLimit() {
        var history = ChatHistory(limit: 5, roomLimit: 2)
        func say(_ id: String, in room: String) {
            history.append(ChatMessage(id: id, room: room, user: "u", kind: .chat, text: id, time: ""))
        }
        say("1", in: "a")
        say("2", in: "b")
        say("3", in: "a")
        say("4", in: "c")
        #expect(history.roomCount == 2)
        #expect(history.messages(in: "b").isEmpty, "b was written to least recently")
        #expect(history.messages(in: "a").map(\.id) == ["1", "3"])
        #expect(history.messages(in: "c").map(\.id) == ["4"])
    }

    @Test func theRateLimiterAllowsABurstThenTheSustainedRate() {
        let start = ContinuousClock.now
        var limiter = RateLimiter(burst: 3, perSecond: 2, now: start)
        #expect((0..<4).map { _ in limiter.allow(at: start) } == [true, true, true, false])
        #expect(limiter.allow(at: start + .milliseconds(400)) == false)
        #expect(limiter.allow(at: start + .milliseconds(600)) == true)
        #expect(limiter.allow(at: start + .seconds(10)) == true)
    }

    @Test func eventsAreJSONObjectsWithAType() throws {
        let message = ChatMessage(id: "1", room: "r", user: "<b>", kind: .chat, text: "</script>", time: "t")
        let decoded = try JSONSerialization.jsonObject(with: Data(ChatEvent.message(message).json.utf8)) as? [String: String]
        #expect(decoded?["type"] == "message" && decoded?["user"] == "<b>" && decoded?["text"] == "</script>")
        #expect(ChatEvent.error("x").json.contains(#""type":"error""#))
    }
}
