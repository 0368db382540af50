import MQTTBroker
import MQTTBridge
import MosquittoConfig
import Testing

@Suite("Listener configuration")
struct ListenerConfigurationParsingTests {
    typealias Support = ConfigurationTestSupport

    @Test("Without listener lines the broker listens on 127.0.0.1:1883 only (Mosquitto's local-only mode)")
    func noListenerLinesMeansLocalOnly() throws {
        let configuration = try Support.configuration("max_keepalive 60")
        #expect(configuration.listeners == [
            ListenerConfiguration(port: 1883, host: "127.0.0.1", isDefaultListener: true),
        ])
        #expect(configuration.isLocalOnly)
        #expect(!(try Support.configuration("port 1883").isLocalOnly))
    }

    @Test("Listener lines replace the default listener")
    func listenerLinesReplaceTheDefaultListener() throws {
        let configuration = try Support.configuration("""
            listener 1884
            listener 1885 127.0.0.1
            listener 1886 ::1
            """)
        #expect(configuration.listeners == [
            ListenerConfiguration(port: 1884),
            ListenerConfiguration(port: 1885, host: "127.0.0.1"),
            ListenerConfiguration(port: 1886, host: "::1"),
        ])
    }

    @Test("http_listener sets where the chat is served, apart from the MQTT listeners")
    func httpListenerSetsTheChatAddress() throws {
        #expect(try Support.configuration("max_keepalive 60").httpListener == HTTPListenerConfiguration(port: 8080, host: nil))
        let configuration = try Support.configuration("""
            listener 1883
            http_listener 8081 127.0.0.1
            """)
        #expect(configuration.httpListener == HTTPListenerConfiguration(port: 8081, host: "127.0.0.1"))
        #expect(configuration.listeners == [ListenerConfiguration(port: 1883)])
    }

    @Test("A bad http_listener line names the file, line and key", arguments: [
        "http_listener 99999", "http_listener", "http_listener 80 a b", "http_listener 80\nhttp_listener 81",
    ])
    func badHTTPListenerIsAnError(text: String) throws {
        let error = try #require(Support.error("listener 1883\n" + text))
        #expect("\(error)".hasPrefix("test.conf:"))
        #expect("\(error)".contains("http_listener"))
    }

    @Test("Listener-scoped keys apply to the block they appear in")
    func listenerScopedKeysApplyToTheirBlock() throws {
        let configuration = try Support.configuration("""
            listener 1883
            max_connections 10
            max_topic_alias 0
            listener 1884
            max_connections 20
            listener 1885
            """)
        #expect(configuration.listeners.map(\.maxConnections) == [10, 20, nil])
        #expect(configuration.listeners.map(\.maxTopicAlias) == [0, 10, 10])
        #expect(configuration.maxConnections == nil)
        #expect(configuration.maxTopicAlias == 10)
    }

    @Test("Listener-scoped keys before any listener line become every listener's default")
    func listenerScopedKeysBeforeListenersAreInherited() throws {
        let configuration = try Support.configuration("""
            max_connections 100
            max_topic_alias 3
            listener 1883
            listener 1884
            max_connections -1
            max_topic_alias 7
            """)
        #expect(configuration.maxConnections == 100)
        #expect(configuration.maxTopicAlias == 3)
        #expect(configuration.listeners.map(\.maxConnections) == [100, nil])
        #expect(configuration.listeners.map(\.maxTopicAlias) == [3, 7])
    }

    @Test("Global keys inside a listener block still apply globally")
    func globalKeysInsideListenerBlockApplyGlobally() throws {
        let configuration = try Support.configuration("""
            listener 1883
            allow_anonymous true
            max_keepalive 30
            """)
        #expect(configuration.allowAnonymous)
        #expect(configuration.maxKeepalive == 30)
    }

    @Test("The legacy port and bind_address keys configure the default listener")
    func legacyKeysConfigureTheDefaultListener() throws {
        let configuration = try Support.configuration("""
            port 1884
            bind_address 127.0.0.1
            max_connections 5
            """)
        #expect(configuration.listeners == [
            ListenerConfiguration(port: 1884, host: "127.0.0.1", maxConnections: 5, isDefaultListener: true),
        ])
    }

    @Test("bind_address alone keeps port 1883")
    func bindAddressAloneKeepsDefaultPort() throws {
        let configuration = try Support.configuration("bind_address 10.0.0.1")
        #expect(configuration.listeners == [
            ListenerConfiguration(port: 1883, host: "10.0.0.1", isDefaultListener: true),
        ])
    }

    @Test("The legacy default listener is kept next to listener blocks, as in Mosquitto")
    func legacyDefaultListenerCoexistsWithListenerBlocks() throws {
        let configuration = try Support.configuration("""
            port 1884
            listener 8883
            """)
        #expect(configuration.listeners == [
            ListenerConfiguration(port: 8883),
            ListenerConfiguration(port: 1884, isDefaultListener: true),
        ])
    }

    @Test("Repeating port warns and uses the last value")
    func repeatedPortWarnsAndLastWins() throws {
        let (configuration, warnings) = try Support.parse("port 1884\nport 1885")
        #expect(configuration.listeners.map(\.port) == [1885])
        #expect(warnings.map(\.line) == [2])
    }

    @Test("protocol mqtt is accepted")
    func protocolMqttIsAccepted() throws {
        let configuration = try Support.configuration("protocol mqtt\nlistener 1884\nprotocol mqtt")
        #expect(configuration.listeners.map(\.protocolName) == [.mqtt])
    }

    @Test("protocol websockets makes the current listener a WebSocket listener")
    func protocolWebsockets() throws {
        let configuration = try Support.configuration("listener 1883\nlistener 8080\nprotocol websockets")
        #expect(configuration.listeners.map(\.protocolName) == [.mqtt, .websockets])
        #expect(Support.error("protocol websockets")?.line == 1, "the default listener speaks MQTT")
        #expect(Support.error("listener 0 /tmp/s\nprotocol websockets")?.line == 2)
    }

    @Test("listener 0 PATH is a Unix socket; the same path twice is an error")
    func unixSocketListener() throws {
        let configuration = try Support.configuration("listener 0 /run/parley dir/mqtt.sock\nlistener 1883")
        #expect(configuration.listeners[0] == .unixSocket("/run/parley dir/mqtt.sock"))
        #expect(configuration.listeners[0].displayName == "/run/parley dir/mqtt.sock")
        let error = Support.error("listener 0 /a.sock\nlistener 0 /a.sock")
        #expect(error?.description == "test.conf:2: key 'listener': socket /a.sock is already used by the listener on line 1")
    }

    @Test("TLS keys configure the listener they follow")
    func tlsKeys() throws {
        let configuration = try Support.configuration("""
            listener 1883
            listener 8883
            certfile /etc/c.pem
            keyfile /etc/k.pem
            cafile /etc/ca.pem
            require_certificate true
            use_identity_as_username true
            tls_version tlsv1.3
            ciphers ECDHE-RSA-AES128-GCM-SHA256
            """)
        #expect(configuration.listeners[0].tls == nil)
        #expect(configuration.listeners[1].tls == ListenerTLSConfiguration(
            certificateFile: "/etc/c.pem", keyFile: "/etc/k.pem", caFile: "/etc/ca.pem", requireCertificate: true,
            useIdentityAsUsername: true, minimumVersion: .tlsv1_3, ciphers: "ECDHE-RSA-AES128-GCM-SHA256"))
    }

    @Test("Incomplete TLS settings are errors naming the first TLS line")
    func incompleteTLS() {
        #expect(Support.error("listener 8883\ncertfile /c")?.description
            == "test.conf:2: TLS on the listener on line 1 needs both 'certfile' and 'keyfile'")
        #expect(Support.error("listener 8883\nkeyfile /k\ncertfile /c\nrequire_certificate true")?.message
            == "client certificates on the listener on line 1 need 'cafile' or 'capath'")
        #expect(Support.error("listener 8883\ntls_version tlsv1")?.kind == .invalidValue)
        #expect(Support.error("listener 8883\ncertfile /c\ncertfile /d")?.line == 3)
        let (plain, warnings) = try! Support.parse("listener 1883\ncafile /ca.pem")
        #expect(plain.listeners[0].tls == nil)
        #expect(warnings.map(\.line) == [2])
    }

    @Test(
        "A port used twice on overlapping addresses is an error",
        arguments: [
            ("listener 1883\nlistener 1883", 2, "listener"),
            ("listener 1883 127.0.0.1\nlistener 1883 127.0.0.1", 2, "listener"),
            ("listener 1883\nlistener 1883 127.0.0.1", 2, "listener"),
            ("listener 1883 127.0.0.1\nlistener 1883 0.0.0.0", 2, "listener"),
            ("listener 1883\nmax_keepalive 5\nlistener 1884\nlistener 1883 ::", 4, "listener"),
            ("port 1883\nlistener 1883", 1, "port"),
            ("listener 1884 10.0.0.1\nbind_address 10.0.0.1\nport 1884", 2, "bind_address"),
        ]
    )
    func duplicateListenerPortIsAnError(text: String, line: Int, key: String) {
        let error = Support.error(text)
        #expect(error?.kind == .invalidValue)
        #expect(error?.line == line)
        #expect(error?.key == key)
        #expect(error?.message.contains("already used") == true)
    }

    @Test("The duplicate listener error names both lines")
    func duplicateListenerErrorNamesBothLines() {
        let error = Support.error("listener 1883\n\nlistener 1883")
        #expect(error?.description == "test.conf:3: key 'listener': port 1883 is already used by the listener on line 1")
    }

    @Test("The same port on different specific addresses is allowed")
    func samePortOnDistinctAddressesIsAllowed() throws {
        let configuration = try Support.configuration("listener 1883 127.0.0.1\nlistener 1883 ::1")
        #expect(configuration.listeners.count == 2)
    }

    @Test(
        "Malformed listener lines are rejected",
        arguments: [
            ("listener", ConfigurationError.Kind.missingValue),
            ("listener abc", .invalidValue),
            ("listener 0", .missingValue),
            ("listener 65536", .invalidValue),
            ("listener -1", .invalidValue),
            ("listener 1883 127.0.0.1 extra", .invalidValue),
        ]
    )
    func malformedListenerLinesAreRejected(text: String, kind: ConfigurationError.Kind) {
        let error = Support.error(text)
        #expect(error?.kind == kind)
        #expect(error?.key == "listener")
        #expect(error?.line == 1)
    }

    @Test("A comment after the listener address is ignored")
    func commentAfterListenerAddressIsIgnored() throws {
        let configuration = try Support.configuration("listener 1883 127.0.0.1 # loopback only")
        #expect(configuration.listeners == [ListenerConfiguration(port: 1883, host: "127.0.0.1")])
    }

    @Test("overridePort replaces the implicit default listener")
    func overridePortReplacesImplicitDefaultListener() {
        var configuration = BrokerConfiguration()
        configuration.overridePort(1884, host: nil)
        #expect(configuration.listeners == [ListenerConfiguration(port: 1884, isDefaultListener: true)])
    }

    @Test("overridePort replaces the legacy default listener but keeps listener blocks")
    func overridePortKeepsExplicitListeners() throws {
        var configuration = try Support.configuration("""
            max_connections 50
            port 1884
            listener 8883
            """)
        configuration.overridePort(2000, host: "127.0.0.1")
        #expect(configuration.listeners == [
            ListenerConfiguration(port: 2000, host: "127.0.0.1", maxConnections: 50, isDefaultListener: true),
            ListenerConfiguration(port: 8883, maxConnections: 50),
        ])
    }

    @Test("overridePort adds a listener when the file only has listener blocks")
    func overridePortAddsListenerNextToBlocks() throws {
        var configuration = try Support.configuration("listener 8883")
        configuration.overridePort(1883, host: nil)
        #expect(configuration.listeners.map(\.port) == [1883, 8883])
    }
}
