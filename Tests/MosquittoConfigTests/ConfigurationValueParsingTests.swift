import MQTTBroker
import MQTTBridge
import MosquittoConfig
import Testing

@Suite("Configuration value parsing")
struct ConfigurationValueParsingTests {
    typealias Support = ConfigurationTestSupport

    @Test(
        "persistent_client_expiration accepts Mosquitto's units",
        arguments: [
            ("1h", 3600),
            ("36h", 36 * 3600),
            ("2d", 2 * 86_400),
            ("14d", 14 * 86_400),
            ("1w", 7 * 86_400),
            ("3m", 3 * 30 * 86_400),
            ("1y", 365 * 86_400),
        ]
    )
    func persistentClientExpirationUnits(value: String, seconds: Int) throws {
        let configuration = try Support.configuration("persistent_client_expiration \(value)")
        #expect(configuration.persistentClientExpiration == .seconds(seconds))
    }

    @Test(
        "persistent_client_expiration rejects other forms",
        arguments: ["5s", "10", "d", "0d", "-1d", "1.5d", "1D", "abc", "99999999999999999y"]
    )
    func persistentClientExpirationRejectsOtherForms(value: String) {
        let error = Support.error("persistent_client_expiration \(value)")
        #expect(error?.kind == .invalidValue)
        #expect(error?.description == "test.conf:1: key 'persistent_client_expiration': expected a positive number followed by h, d, w, m or y (e.g. 14d), got '\(value)'")
    }

    @Test(
        "Booleans accept true/false and 1/0 like Mosquitto",
        arguments: [("true", true), ("false", false), ("1", true), ("0", false)]
    )
    func booleanValues(text: String, value: Bool) throws {
        let configuration = try Support.configuration("queue_qos0_messages \(text)")
        #expect(configuration.queueQoS0Messages == value)
    }

    @Test("allow_duplicate_messages chooses one copy per matching subscription", arguments: [("true", true), ("false", false)])
    func allowDuplicateMessages(text: String, value: Bool) throws {
        let configuration = try Support.configuration("allow_duplicate_messages \(text)")
        #expect(configuration.copyPerSubscription == value)
    }

    @Test("Other boolean spellings are rejected", arguments: ["yes", "no", "True", "FALSE", "on", "2"])
    func otherBooleanSpellingsAreRejected(text: String) {
        let error = Support.error("retain_available \(text)")
        #expect(error?.kind == .invalidValue)
        #expect(error?.description == "test.conf:1: key 'retain_available': expected true or false, got '\(text)'")
    }

    @Test("max_connections -1 (or 0) means unlimited", arguments: ["-1", "-5", "0"])
    func maxConnectionsUnlimited(value: String) throws {
        let configuration = try Support.configuration("max_connections \(value)")
        #expect(configuration.maxConnections == nil)
        #expect(configuration.listeners.first?.maxConnections == nil)
    }

    @Test("max_connections with a positive value limits the listener")
    func maxConnectionsPositive() throws {
        let configuration = try Support.configuration("listener 1883\nmax_connections 250")
        #expect(configuration.listeners.first?.maxConnections == 250)
    }

    @Test("Queue and in-flight limits map negative values to unlimited")
    func negativeLimitsMeanUnlimited() throws {
        let configuration = try Support.configuration("""
            max_inflight_messages -1
            max_queued_messages -1
            max_queued_bytes -1
            """)
        #expect(configuration.maxInflightMessages == 0)
        #expect(configuration.maxQueuedMessages == 0)
        #expect(configuration.maxQueuedBytes == nil)
    }

    @Test("Zero means unlimited for the counting limits")
    func zeroMeansUnlimited() throws {
        let configuration = try Support.configuration("""
            max_inflight_messages 0
            max_queued_messages 0
            max_queued_bytes 0
            max_packet_size 0
            message_size_limit 0
            """)
        #expect(configuration.maxInflightMessages == 0)
        #expect(configuration.maxQueuedMessages == 0)
        #expect(configuration.maxQueuedBytes == nil)
        #expect(configuration.maxPacketSize == nil)
        #expect(configuration.messageSizeLimit == nil)
    }

    @Test("max_inflight_messages 65535 means unlimited, as in Mosquitto")
    func maxInflightMessages65535IsUnlimited() throws {
        #expect(try Support.configuration("max_inflight_messages 65535").maxInflightMessages == 0)
        #expect(try Support.configuration("max_inflight_messages 1").maxInflightMessages == 1)
        #expect(Support.error("max_inflight_messages 65536")?.kind == .invalidValue)
    }

    @Test("Zero disables keepalive limits, $SYS and topic aliases")
    func zeroDisablesFeatures() throws {
        let configuration = try Support.configuration("max_keepalive 0\nsys_interval 0\nmax_topic_alias 0")
        #expect(configuration.maxKeepalive == 0)
        #expect(configuration.sysInterval == 0)
        #expect(configuration.maxTopicAlias == 0)
        #expect(configuration.listeners.first?.maxTopicAlias == 0)
    }

    @Test(
        "Integer keys check their range",
        arguments: [
            ("max_keepalive 65536", "an integer between 0 and 65535", "65536"),
            ("max_keepalive -1", "an integer between 0 and 65535", "-1"),
            ("max_topic_alias 70000", "an integer between 0 and 65535", "70000"),
            ("sys_interval -1", "an integer between 0 and 65535", "-1"),
            ("sys_interval 12s", "an integer between 0 and 65535", "12s"),
            ("message_size_limit 268435456", "an integer between 0 and 268435455", "268435456"),
            ("max_packet_size 19", "0 (no limit) or an integer between 20 and 268435460", "19"),
            ("max_packet_size -1", "0 (no limit) or an integer between 20 and 268435460", "-1"),
            ("port 0", "a port number between 1 and 65535", "0"),
            ("max_connections many", "an integer (-1 for unlimited)", "many"),
            ("max_queued_messages 1e3", "an integer (0 = unlimited)", "1e3"),
            ("max_keepalive 10 20", "an integer between 0 and 65535", "10 20"),
        ]
    )
    func integerRangesAreChecked(text: String, expected: String, got: String) {
        let error = Support.error(text)
        let key = String(text.prefix { $0 != " " })
        #expect(error?.kind == .invalidValue)
        #expect(error?.description == "test.conf:1: key '\(key)': expected \(expected), got '\(got)'")
    }

    @Test("Integer limits accept their extremes")
    func integerLimitsAcceptExtremes() throws {
        let configuration = try Support.configuration("""
            max_keepalive 65535
            max_packet_size 20
            message_size_limit 268435455
            sys_interval 65535
            max_topic_alias 65535
            """)
        #expect(configuration.maxKeepalive == 65535)
        #expect(configuration.maxPacketSize == 20)
        #expect(configuration.messageSizeLimit == 268_435_455)
        #expect(configuration.sysInterval == 65535)
        #expect(configuration.maxTopicAlias == 65535)
    }

    @Test("A max_packet_size above the protocol maximum warns and means no limit")
    func oversizedMaxPacketSizeWarns() throws {
        let (configuration, warnings) = try Support.parse("max_packet_size 300000000")
        #expect(configuration.maxPacketSize == nil)
        #expect(warnings.map(\.key) == ["max_packet_size"])
    }

    @Test("log_type lines accumulate after replacing the defaults")
    func logTypesAccumulate() throws {
        #expect(try Support.configuration("log_type debug").logTypes == [.debug])
        #expect(try Support.configuration("log_type error\nlog_type subscribe unsubscribe").logTypes
            == [.error, .subscribe, .unsubscribe])
        #expect(try Support.configuration("log_type all").logTypes == Set(LogType.allCases))
        #expect(try Support.configuration("log_type all\nlog_type none").logTypes.isEmpty)
        #expect(try Support.configuration("log_type none\nlog_type websockets").logTypes == [.websockets])
    }

    @Test("Unknown log types are rejected")
    func unknownLogTypesAreRejected() {
        let error = Support.error("log_type error verbose")
        #expect(error?.kind == .invalidValue)
        #expect(error?.message.hasSuffix("got 'verbose'") == true)
    }

    @Test("log_dest lines accumulate after replacing the default")
    func logDestinationsAccumulate() throws {
        #expect(try Support.configuration("log_dest stdout").logDestinations == [.stdout])
        #expect(try Support.configuration("log_dest stdout\nlog_dest stderr\nlog_dest stdout").logDestinations
            == [.stdout, .stderr])
        #expect(try Support.configuration("log_dest stdout\nlog_dest none").logDestinations.isEmpty)
        #expect(try Support.configuration("log_dest file /var/log/parley.log").logDestinations
            == [.file("/var/log/parley.log")])
    }

    @Test("Unsupported log destinations warn and fall back to stderr when nothing else is left")
    func unsupportedLogDestinationsFallBackToStderr() throws {
        let (configuration, warnings) = try Support.parse("log_dest syslog\nlog_dest topic")
        #expect(configuration.logDestinations == [.stderr])
        #expect(warnings.map(\.line) == [1, 2, 2])
        #expect(warnings.allSatisfy { $0.key == "log_dest" })

        let (mixed, mixedWarnings) = try Support.parse("log_dest syslog\nlog_dest stdout")
        #expect(mixed.logDestinations == [.stdout])
        #expect(mixedWarnings.count == 1)
    }

    @Test("Only one log file destination is allowed")
    func onlyOneLogFile() {
        let error = Support.error("log_dest file /a.log\nlog_dest file /b.log")
        #expect(error?.kind == .invalidValue)
        #expect(error?.line == 2)
        #expect(Support.error("log_dest file")?.kind == .missingValue)
        #expect(Support.error("log_dest console")?.kind == .invalidValue)
    }

    @Test("Single-valued keys may not be set twice")
    func singleValuedKeysMayNotBeSetTwice() {
        let error = Support.error("user a\nuser b")
        #expect(error?.kind == .invalidValue)
        #expect(error?.description == "test.conf:2: key 'user' is set more than once (first on line 1)")
    }

    @Test("persistence turns on the store in persistence_location, whichever order the keys come in")
    func persistenceKeys() throws {
        let (configuration, warnings) = try Support.parse("""
            persistence_file state.db
            persistence true
            persistence_location /var/lib/parley/
            persistence_fsync true
            """)
        #expect(warnings.isEmpty)
        #expect(configuration.persistence)
        #expect(configuration.broker.persistence == PersistenceSettings(location: "/var/lib/parley/", fileName: "state.db", fsync: true))
        let off = try Support.parse("persistence false\npersistence_location /tmp")
        #expect(off.0.broker.persistence == nil)
        #expect(off.1.isEmpty)
        #expect(try Support.parse("persistence true").0.broker.persistence == PersistenceSettings(location: "", fileName: "parley.db"))
        #expect(Support.error("persistence_file a/b.db")?.kind == .invalidValue)
        let autosave = try Support.parse("autosave_interval 60").1
        #expect(autosave.first?.message.contains("every change as it happens") == true)
    }

    @Test("memory_limit is a number of bytes; 0 means no limit")
    func memoryLimit() throws {
        #expect(try Support.configuration("memory_limit 104857600").memoryLimit == 104_857_600)
        #expect(try Support.configuration("memory_limit 0").memoryLimit == nil)
        #expect(Support.error("memory_limit -5")?.kind == .invalidValue)
    }

    @Test("Security keys are global unless per_listener_settings is true")
    func securityKeysScope() throws {
        let global = try Support.configuration("""
            allow_anonymous true
            listener 1884
            password_file /etc/p
            acl_file /etc/a
            """)
        #expect(global.security == SecuritySettings(allowAnonymous: true, passwordFile: "/etc/p", aclFile: "/etc/a"))
        #expect(global.broker.security(forListener: 0) == global.security)

        let perListener = try Support.configuration("""
            listener 1883 127.0.0.1
            allow_anonymous true
            listener 8883
            password_file /etc/p
            acl_file /etc/a
            per_listener_settings true
            """)
        #expect(perListener.perListenerSettings)
        #expect(perListener.broker.security(forListener: 0) == SecuritySettings(allowAnonymous: true))
        #expect(perListener.broker.security(forListener: 1) == SecuritySettings(allowAnonymous: false, passwordFile: "/etc/p", aclFile: "/etc/a"))
    }

    @Test("Per listener, lines before the first listener belong to the default listener only")
    func securityKeysBeforeFirstListener() throws {
        let configuration = try Support.configuration("per_listener_settings true\nallow_anonymous true\nport 1883\nlistener 1884\n")
        let defaultIndex = try #require(configuration.listeners.firstIndex { $0.isDefaultListener })
        #expect(configuration.broker.security(forListener: defaultIndex).allowAnonymous)
        #expect(!configuration.broker.security(forListener: defaultIndex == 0 ? 1 : 0).allowAnonymous)
    }

    @Test("A password file given twice for one listener is an error naming both lines")
    func passwordFileTwice() {
        let error = Support.error("password_file /a\npassword_file /b")
        #expect(error?.line == 2)
        #expect(error?.message.contains("first on line 1") == true)
    }
}
