import MQTTBroker
import MQTTBridge
import MosquittoConfig
import MQTTCore
import Testing

@Suite("Bridge configuration")
struct BridgeConfigurationParsingTests {
    typealias Support = ConfigurationTestSupport

    @Test("A connection block reads Mosquitto's bridge keys")
    func aConnectionBlockReadsTheBridgeKeys() throws {
        let configuration = try Support.configuration("""
            listener 1883
            connection cloud
            address broker.example.com:8883 [::1]:1884 backup
            round_robin true
            topic sensors/# out 1
            topic # both 2
            topic cmd/+ in 0 local/ remote/
            topic "" in 1 here/exact there/exact
            remote_clientid edge-1
            remote_username edge
            remote_password secret with spaces
            cleansession true
            keepalive_interval 30
            restart_timeout 2 20
            bridge_protocol_version mqttv50
            notifications false
            notification_topic bridges/cloud/up
            try_private false
            bridge_cafile /etc/ssl/ca.pem
            bridge_insecure true
            """)
        let bridge = try #require(configuration.bridges.first)
        #expect(configuration.bridges.count == 1)
        #expect(bridge.name == "cloud")
        #expect(bridge.addresses == [
            .init(host: "broker.example.com", port: 8883), .init(host: "::1", port: 1884), .init(host: "backup", port: 1883),
        ])
        #expect(bridge.roundRobin)
        #expect(bridge.topics == [
            .init(pattern: "sensors/#", direction: .out, qos: .atLeastOnce),
            .init(pattern: "#", direction: .both, qos: .exactlyOnce),
            .init(pattern: "cmd/+", direction: .in, qos: .atMostOnce, localPrefix: "local/", remotePrefix: "remote/"),
            .init(pattern: "", direction: .in, qos: .atLeastOnce, localPrefix: "here/exact", remotePrefix: "there/exact"),
        ])
        #expect(bridge.remoteClientIdentifier == "edge-1" && bridge.remoteUsername == "edge")
        #expect(bridge.remotePassword == "secret with spaces")
        #expect(bridge.cleanSession && bridge.keepAlive == 30)
        #expect(bridge.restartTimeout.base == 2 && bridge.restartTimeout.cap == 20)
        #expect(bridge.protocolVersion == .mqtt5 && !bridge.notifications && !bridge.tryPrivate)
        #expect(bridge.stateTopic == "bridges/cloud/up")
        #expect(bridge.tls == .init(caFile: "/etc/ssl/ca.pem", insecure: true))
    }

    @Test("Defaults are Mosquitto's, and the state topic names the bridge")
    func defaultsAreMosquittos() throws {
        let bridge = try #require(try Support.configuration("connection up\naddress 10.0.0.1\ntopic a/#").bridges.first)
        #expect(bridge.topics == [.init(pattern: "a/#", direction: .out, qos: .atMostOnce)])
        #expect(!bridge.cleanSession && bridge.keepAlive == 60 && bridge.protocolVersion == .mqtt311)
        #expect(bridge.notifications && bridge.tryPrivate && !bridge.roundRobin && bridge.tls == nil)
        #expect(bridge.restartTimeout.base == 5 && bridge.restartTimeout.cap == 30)
        #expect(bridge.stateTopic == "$SYS/broker/connection/up/state")
    }

    @Test("Prefixes map topics both ways")
    func prefixesMapTopics() {
        let topic = BridgeConfiguration.Topic(pattern: "cmd/#", direction: .both, localPrefix: "local/", remotePrefix: "site/7/")
        #expect(topic.localFilter == "local/cmd/#" && topic.remoteFilter == "site/7/cmd/#")
        #expect(topic.remoteTopic(forLocal: "local/cmd/reboot") == "site/7/cmd/reboot")
        #expect(topic.localTopic(forRemote: "site/7/cmd/reboot") == "local/cmd/reboot")
    }

    @Test("Several bridges, each with its own keys")
    func severalBridges() throws {
        let configuration = try Support.configuration("""
            connection a
            address host-a
            topic x out
            connection b
            address host-b:1999
            topic y in
            """)
        #expect(configuration.bridges.map(\.name) == ["a", "b"])
        #expect(configuration.bridges.map(\.addresses) == [[.init(host: "host-a")], [.init(host: "host-b", port: 1999)]])
    }

    @Test("A bad bridge line names the file, the line and the key", arguments: [
        ("topic a/# out", 1, "topic"),
        ("connection a\naddress h\ntopic a/# sideways", 3, "topic"),
        ("connection a\naddress h\ntopic a/# out 3", 3, "topic"),
        ("connection a\naddress h\ntopic a/# out 1 only-local", 3, "topic"),
        ("connection a\naddress h\ntopic \"\" out", 3, "topic"),
        ("connection a\naddress h\ntopic a out 1 pre/+/ remote/", 3, "topic"),
        ("connection a\naddress h:99999\ntopic a", 2, "address"),
        ("connection a\naddress h\ntopic a\nbridge_protocol_version mqttv31", 4, "bridge_protocol_version"),
        ("connection a\naddress h\ntopic a\nrestart_timeout 30 5", 4, "restart_timeout"),
        ("connection a\naddress h\ntopic a\nbridge_alpn h2", 4, "bridge_alpn"),
        ("connection a\naddress h\ntopic a\nstart_type lazy", 4, "start_type"),
        ("connection a\ntopic a", 1, "connection"),
        ("connection a\naddress h", 1, "connection"),
        ("connection a\naddress h\ntopic a\nconnection a", 4, "connection"),
        ("connection a\naddress h\ntopic a\nbridge_certfile c.pem\nbridge_cafile ca.pem", 1, "connection"),
    ])
    func badBridgeLinesAreErrors(text: String, line: Int, key: String) throws {
        let error = try #require(Support.error(text))
        #expect(error.line == line, "\(error)")
        #expect(error.key == key, "\(error)")
        #expect("\(error)".hasPrefix("test.conf:\(line):"))
    }

    @Test("A # after the pattern starts a comment")
    func hashAfterThePatternIsAComment() throws {
        let bridge = try #require(try Support.configuration("connection a\naddress h\ntopic # both 1 # everything").bridges.first)
        #expect(bridge.topics == [.init(pattern: "#", direction: .both, qos: .atLeastOnce)])
    }
}
