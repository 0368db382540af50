import MQTTBroker
import MQTTBridge
import MosquittoConfig
import Testing

@Suite("Configuration errors and warnings")
struct ConfigurationDiagnosticsTests {
    typealias Support = ConfigurationTestSupport

    @Test(
        "Each error kind names the file, line and key",
        arguments: [
            ("# header\nmax_keepalive 10\nmaximum_keepalive 10", ConfigurationError.Kind.unknownKey, 3, "maximum_keepalive",
             "test.conf:3: unknown configuration key 'maximum_keepalive'"),
            ("\n\ncrlfile /etc/ssl/crl.pem", .unsupportedKey, 3, "crlfile",
             "test.conf:3: key 'crlfile' is not supported by Parley yet"),
            ("listener 1883\nmax_keepalive abc", .invalidValue, 2, "max_keepalive",
             "test.conf:2: key 'max_keepalive': expected an integer between 0 and 65535, got 'abc'"),
            ("sys_interval", .missingValue, 1, "sys_interval",
             "test.conf:1: key 'sys_interval': missing value, expected an integer between 0 and 65535"),
            ("listener 8080\nprotocol mqtts", .invalidValue, 2, "protocol",
             "test.conf:2: key 'protocol': expected mqtt or websockets, got 'mqtts'"),
        ]
    )
    func errorKindsNameFileLineAndKey(
        text: String,
        kind: ConfigurationError.Kind,
        line: Int,
        key: String,
        description: String
    ) {
        let error = Support.error(text)
        #expect(error?.kind == kind)
        #expect(error?.file == Support.fileName)
        #expect(error?.line == line)
        #expect(error?.key == key)
        #expect(error?.description == description)
    }

    @Test(
        "Real Mosquitto keys Parley lacks are 'not supported yet', not unknown",
        arguments: [
            "crlfile /etc/crl.pem", "dhparamfile /etc/dh.pem", "ciphers_tls1.3 TLS_AES_128_GCM_SHA256",
            "bridge_alpn h2", "start_type lazy", "local_clientid edge", "bridge_outgoing_retain false",
            "auth_plugin /usr/lib/auth.so",
            "auth_opt_backends mysql", "plugin /usr/lib/dynsec.so", "plugin_opt_config_file x",
            "http_dir /var/www", "mount_point tenant/",
            "psk_file /etc/psk", "max_qos 1", "socket_domain ipv4",
            "allow_zero_length_clientid false", "auto_id_prefix auto-", "upgrade_outgoing_qos true",
        ]
    )
    func realMosquittoKeysAreUnsupported(text: String) {
        let key = String(text.prefix { $0 != " " })
        let error = Support.error("listener 1883\n\(text)")
        #expect(error?.kind == .unsupportedKey)
        #expect(error?.line == 2)
        #expect(error?.key == key)
        #expect(error?.description == "test.conf:2: key '\(key)' is not supported by Parley yet")
    }

    @Test("A key without a value is a missing-value error", arguments: [
        "allow_anonymous", "max_connections", "log_type", "log_dest",
        "persistent_client_expiration", "protocol", "port", "bind_address", "user", "pid_file",
    ])
    func keyWithoutValueIsMissingValue(key: String) {
        let error = Support.error("\(key)   ")
        #expect(error?.kind == .missingValue)
        #expect(error?.key == key)
        #expect(error?.line == 1)
    }

    @Test("Parsing stops at the first error")
    func parsingStopsAtFirstError() {
        let error = Support.error("bogus_one 1\nbogus_two 2")
        #expect(error?.line == 1)
        #expect(error?.key == "bogus_one")
    }

    /// One sample line per key that Parley accepts but ignores.
    static let ignoredKeySamples: [String] = [
        "user mosquitto",
        "autosave_interval 1800",
        "autosave_on_changes false",
        "connection_messages true",
        "log_timestamp true",
        "log_timestamp_format %Y-%m-%dT%H:%M:%S",
        "log_facility 5",
        "set_tcp_nodelay true",
        "max_inflight_bytes 0",
        "retry_interval 20",
        "store_clean_interval 10",
    ]

    @Test("Ignored Mosquitto keys produce a warning, not an error", arguments: ignoredKeySamples)
    func ignoredKeysWarn(text: String) throws {
        let key = String(text.prefix { $0 != " " })
        let (configuration, warnings) = try Support.parse("# comment\n\(text)")
        #expect(warnings.count == 1)
        let warning = try #require(warnings.first)
        #expect(warning.file == Support.fileName)
        #expect(warning.line == 2)
        #expect(warning.key == key)
        #expect(warning.description.hasPrefix("test.conf:2: key '\(key)' is ignored"))

        var expected = ParleyConfiguration.fileDefaults
        if key == "user" { expected.user = "mosquitto" }
        #expect(configuration == expected)
    }

    @Test("The ignored-key samples cover every ignored key in the table")
    func ignoredKeySamplesCoverTable() {
        let sampled = Set(Self.ignoredKeySamples.map { String($0.prefix { $0 != " " }) })
        let ignored = Set(ParleyConfiguration.supportedKeys.filter { $0.support == .ignored }.map(\.name))
        #expect(sampled == ignored)
    }

    @Test("Ignored keys still validate their values")
    func ignoredKeysValidateValues() {
        #expect(Support.error("set_tcp_nodelay maybe")?.kind == .invalidValue)
        #expect(Support.error("autosave_interval often")?.kind == .invalidValue)
    }

    @Test("A clean configuration produces no warnings")
    func cleanConfigurationHasNoWarnings() throws {
        let (_, warnings) = try Support.parse("listener 1883\nallow_anonymous true\nlog_dest stdout")
        #expect(warnings.isEmpty)
    }
}
