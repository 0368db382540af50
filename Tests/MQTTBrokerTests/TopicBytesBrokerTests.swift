@testable import MQTTBroker
import MQTTCore
import Testing

/// The broker's own checks read topics and names as bytes, as its trie matches them.
@Suite("Broker checks by bytes")
struct TopicBytesBrokerTests {
    @Test("$SYS followed by a combining mark is still the broker's", arguments: ["$SYS/\u{301}x", "$SYS", "$SYS/broker/uptime"])
    func sysTopicsByBytes(topic: String) {
        #expect(BrokerCore.isBrokerOwned(topic))
    }

    @Test("Bridge states under $SYS/broker/connection/ stay open to clients")
    func bridgeStateTopics() {
        #expect(!BrokerCore.isBrokerOwned("$SYS/broker/connection/remote/state"))
        #expect(!BrokerCore.isBrokerOwned("$SYSTEM/x"))
    }

    @Test("A shared subscription is recognized by its bytes")
    func sharedSubscriptionByBytes() {
        #expect(SharedSubscription("$share/\u{301}g/t") != nil)
        #expect(SharedSubscription("$share/+\u{301}/t") == nil)
    }

    @Test("ACL user sections and rules compare user names and levels by bytes")
    func aclByBytes() throws {
        let acl = try AccessControlList(contents: "user caf\u{E9}\ntopic readwrite caf\u{E9}/#\n", file: "acl")
        let composed = ClientInfo(clientIdentifier: "c", username: "caf\u{E9}", protocolVersion: .v5, remoteAddress: nil)
        let decomposed = ClientInfo(clientIdentifier: "d", username: "cafe\u{301}", protocolVersion: .v5, remoteAddress: nil)
        #expect(acl.permits(.write, topic: "caf\u{E9}/x", client: composed))
        #expect(!acl.permits(.write, topic: "cafe\u{301}/x", client: composed))
        #expect(!acl.permits(.write, topic: "caf\u{E9}/x", client: decomposed))
    }
}
