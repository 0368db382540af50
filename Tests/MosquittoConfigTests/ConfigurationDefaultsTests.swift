import MQTTBroker
import MQTTBridge
import MosquittoConfig
import Testing

@Suite("Broker configuration defaults and key table")
struct BrokerConfigurationDefaultsTests {
    typealias Support = ConfigurationTestSupport

    @Test("Defaults without a configuration file match Mosquitto's")
    func defaultsWithoutConfigurationFile() {
        let configuration = ParleyConfiguration()
        #expect(configuration.listeners == [ListenerConfiguration(port: 1883, host: nil, isDefaultListener: true)])
        #expect(configuration.listeners.first?.protocolName == .mqtt)
        #expect(configuration.listeners.first?.maxConnections == nil)
        #expect(configuration.listeners.first?.maxTopicAlias == 10)
        #expect(configuration.allowAnonymous == true)
        #expect(configuration.maxConnections == nil)
        #expect(configuration.maxKeepalive == 65535)
        #expect(configuration.maxPacketSize == nil)
        #expect(configuration.messageSizeLimit == nil)
        #expect(configuration.maxInflightMessages == 20)
        #expect(configuration.maxQueuedMessages == 1000)
        #expect(configuration.maxQueuedBytes == nil)
        #expect(configuration.queueQoS0Messages == false)
        #expect(configuration.copyPerSubscription == false)
        #expect(configuration.retainAvailable == true)
        #expect(configuration.sysInterval == 10)
        #expect(configuration.persistentClientExpiration == nil)
        #expect(configuration.maxTopicAlias == 10)
        #expect(configuration.logTypes == [.error, .warning, .notice, .information])
        #expect(configuration.logDestinations == [.stderr])
        #expect(configuration.persistence == false)
        #expect(configuration.user == nil)
    }

    @Test("A configuration file that opens a listener disallows anonymous clients unless it allows them")
    func configurationFileDefaultsToNoAnonymousClients() throws {
        #expect(try Support.configuration("listener 1883\nmax_keepalive 10").allowAnonymous == false)
        #expect(try Support.configuration("port 1884").allowAnonymous == false)
        #expect(try Support.configuration("listener 1883\nallow_anonymous true").allowAnonymous == true)
    }

    @Test("A file without listeners is local-only: 127.0.0.1:1883, anonymous clients allowed unless refused")
    func localOnlyMode() throws {
        var expected = ParleyConfiguration()
        expected.listeners = [ListenerConfiguration(port: 1883, host: "127.0.0.1", isDefaultListener: true)]
        expected.isLocalOnly = true
        #expect(ParleyConfiguration.fileDefaults == expected)
        #expect(try Support.configuration("max_keepalive 10") == { var c = expected; c.maxKeepalive = 10; return c }())
        #expect(try Support.configuration("allow_anonymous false").allowAnonymous == false)

        var opened = try Support.configuration("max_keepalive 10")
        opened.overridePort(1884, host: nil)
        #expect(!opened.isLocalOnly && !opened.allowAnonymous, "-p opens the broker as a listener line would")
        var loopback = try Support.configuration("max_keepalive 10")
        loopback.overridePort(1884, host: "127.0.0.1")
        #expect(loopback.allowAnonymous)
    }

    @Test(
        "Writing a key's documented default changes nothing",
        // `port` opens a listener and `allow_anonymous`'s default is that of files which do:
        // both leave local-only mode, tested above.
        arguments: ParleyConfiguration.supportedKeys.filter(\.defaultIsLiteral).map(\.name)
            .filter { $0 != "port" && $0 != "allow_anonymous" }
    )
    func documentedDefaultRoundTrips(name: String) throws {
        let key = try #require(ParleyConfiguration.supportedKeys.first { $0.name == name })
        if key.scope == .bridge {
            let bridge = "connection b\naddress h\ntopic t\n"
            #expect(try Support.configuration(bridge + "\(key.name) \(key.defaultValue)") == Support.configuration(bridge))
        } else {
            #expect(try Support.parsesToFileDefaults("\(key.name) \(key.defaultValue)"))
        }
    }

    @Test("Every key appears exactly once in the key table")
    func keyNamesAreUnique() {
        let names = ParleyConfiguration.supportedKeys.map(\.name)
        #expect(Set(names).count == names.count)
    }

    @Test("No key is both supported and listed as unsupported")
    func supportedAndUnsupportedKeysAreDisjoint() {
        for key in ParleyConfiguration.supportedKeys {
            #expect(!ParleyConfiguration.isUnsupportedMosquittoKey(key.name), "\(key.name)")
        }
    }

    @Test("Every key has documentation and a default")
    func everyKeyIsDocumented() {
        for key in ParleyConfiguration.supportedKeys {
            #expect(!key.summary.isEmpty, "\(key.name)")
            #expect(!key.defaultValue.isEmpty, "\(key.name)")
            #expect(!key.summary.contains("\n"), "\(key.name)")
        }
    }

    @Test("The key table covers the settings the broker reads")
    func keyTableCoversSettings() {
        let names = Set(ParleyConfiguration.supportedKeys.map(\.name))
        let expected: Set<String> = [
            "listener", "protocol", "max_connections", "max_topic_alias", "port", "bind_address",
            "allow_anonymous", "max_keepalive", "max_packet_size",
            "message_size_limit", "max_inflight_messages", "max_queued_messages", "max_queued_bytes",
            "queue_qos0_messages", "retain_available", "persistent_client_expiration", "sys_interval",
            "log_type", "log_dest", "persistence", "user",
        ]
        #expect(expected.isSubset(of: names))
    }

    @Test("The Markdown table has a row per key")
    func markdownTableHasRowPerKey() {
        let table = ConfigurationKey.markdownTable(ParleyConfiguration.supportedKeys)
        let lines = table.split(separator: "\n")
        #expect(lines.first == "| Key | Scope | Default | Description |")
        #expect(lines.count == ParleyConfiguration.supportedKeys.count + 2)
        #expect(table.contains("| `max_inflight_messages` | global | `20` |"))
        #expect(table.contains("| `max_connections` | listener | `-1` |"))
        #expect(table.contains("| `user` | global | (none) | Ignored (warning)."))
        for line in lines {
            // Four cells: five unescaped bars (`topic`'s summary has `in|out|both`).
            let bars = zip(line, [" "] + line).filter { $0 == "|" && $1 != "\\" }.count
            #expect(bars == 5, "\(line)")
        }
    }
}
