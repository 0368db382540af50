import MQTTBroker
extension ParleyConfiguration {
    /// Every configuration key Parley accepts, in documentation order. This is the
    /// single source of truth for parsing, for `config/parley.conf` and for the README's
    /// configuration table (see ``ConfigurationKey/markdownTable(_:)``).
    ///
    /// Keys with ``ConfigurationKey/Support/ignored`` are accepted so that existing
    /// Mosquitto files keep working; their values are validated and a warning is
    /// reported. Real Mosquitto keys missing here are listed in
    /// ``unsupportedMosquittoKeys`` and rejected with
    /// ``ConfigurationError/Kind/unsupportedKey``.
    public static let supportedKeys: [ConfigurationKey] = listenerKeys + securityKeys
        + limitKeys + loggingKeys + persistenceKeys + bridgeKeys + ignoredKeys

    static let keysByName: [String: ConfigurationKey] = Dictionary(
        supportedKeys.map { ($0.name, $0) },
        uniquingKeysWith: { first, _ in first }
    )

    // MARK: - Listeners

    private static let listenerKeys: [ConfigurationKey] = [
        ConfigurationKey(
            "listener", default: "(none)",
            "Start a listener block: `listener PORT [ADDRESS]`, or `listener 0 PATH` for a Unix socket. Without any, Parley listens on 0.0.0.0:1883."
        ) { state, line throws(ConfigurationError) in
            try state.beginListener(line)
        },
        ConfigurationKey(
            "protocol", scope: .listener, default: "mqtt",
            "Protocol of the current listener: `mqtt`, or `websockets` (MQTT over WebSocket, subprotocol `mqtt`, any path)."
        ) { state, line throws(ConfigurationError) in
            let word = try line.singleArgument(expected: "mqtt or websockets")
            guard let value = ListenerProtocol(rawValue: word) else {
                throw line.invalidValue(expected: "mqtt or websockets", got: word)
            }
            try state.setProtocol(value, line: line)
        },
        ConfigurationKey(
            "max_connections", scope: .listener, default: "-1",
            "Maximum simultaneous clients on the listener; -1 means unlimited."
        ) { state, line throws(ConfigurationError) in
            let value = try line.integer(in: Int.min...Int.max, expected: "an integer (-1 for unlimited)")
            state.setMaxConnections(value > 0 ? value : nil)
        },
        ConfigurationKey(
            "max_topic_alias", scope: .listener, default: "10",
            "Topic aliases an MQTT v5 client may create; 0 disables topic aliases."
        ) { state, line throws(ConfigurationError) in
            state.setMaxTopicAlias(UInt16(try line.integer(in: 0...65535)))
        },
        ConfigurationKey(
            "port", scope: .defaultListener, default: "1883",
            "Legacy: port of the default listener (prefer `listener`)."
        ) { state, line throws(ConfigurationError) in
            let port = try line.integer(
                in: ListenerConfiguration.validPorts,
                expected: "a port number between 1 and 65535"
            )
            if let first = state.firstLineOfKey[line.key] {
                state.warn(line, "key 'port' is set more than once (first on line \(first)); the last value is used")
            } else {
                state.firstLineOfKey[line.key] = line.number
            }
            state.withLegacyDefaultListener(line) { $0.port = port }
        },
        ConfigurationKey(
            "bind_address", scope: .defaultListener, default: "(all interfaces)",
            "Legacy: address the default listener binds to (prefer `listener PORT ADDRESS`)."
        ) { state, line throws(ConfigurationError) in
            let address = try line.singleArgument(expected: "an IP address or host name")
            try state.claimSingleUse(line)
            state.withLegacyDefaultListener(line) { $0.host = address }
        },
        ConfigurationKey(
            "http_listener", default: "8080",
            "Parley only: `http_listener PORT [ADDRESS]` serves the chat page there (all interfaces without an address)."
        ) { state, line throws(ConfigurationError) in
            let expected = "a port number between 1 and 65535, optionally followed by an address"
            let words = Array(line.argumentsBeforeComment)
            guard let portWord = words.first else { throw line.missingValue(expected: expected) }
            guard words.count <= 2, let port = Int(portWord), ListenerConfiguration.validPorts.contains(port) else {
                throw line.invalidValue(expected: expected, got: words.joined(separator: " "))
            }
            try state.claimSingleUse(line)
            state.configuration.httpListener = HTTPListenerConfiguration(port: port, host: words.count == 2 ? words[1] : nil)
        },
    ]

    // MARK: - Security

    private static let securityKeys: [ConfigurationKey] = tlsKeys + [
        ConfigurationKey(
            "per_listener_settings", default: "false",
            "`true` gives each listener its own `allow_anonymous`, `password_file` and `acl_file` (lines before the first `listener` go to the default listener)."
        ) { state, line throws(ConfigurationError) in
            state.configuration.perListenerSettings = try line.boolean()
        },
        ConfigurationKey(
            "allow_anonymous", scope: .listener, default: "false",
            "Allow clients that connect without a username. `true` without a config file, and in local-only mode (a file without listeners: 127.0.0.1:1883 only, as Mosquitto 2.0)."
        ) { state, line throws(ConfigurationError) in
            state.addSecurityEdit(.allowAnonymous(try line.boolean()), line: line)
        },
        ConfigurationKey(
            "password_file", scope: .listener, default: "(none)",
            "A `mosquitto_passwd` / `parley passwd` file: clients with a user name must be listed with the right password. Re-read on SIGHUP."
        ) { state, line throws(ConfigurationError) in
            state.addSecurityEdit(.passwordFile(try line.text(expected: "a file path")), line: line)
        },
        ConfigurationKey(
            "acl_file", scope: .listener, default: "(none)",
            "A Mosquitto ACL file (`user`, `topic`, `pattern` lines) checked on publish, subscribe and every delivery. Re-read on SIGHUP."
        ) { state, line throws(ConfigurationError) in
            state.addSecurityEdit(.aclFile(try line.text(expected: "a file path")), line: line)
        },
    ]

    // MARK: - TLS

    private static func tlsPath(_ name: String, _ summary: String) -> ConfigurationKey {
        ConfigurationKey(name, scope: .listener, default: "(none)", summary) { state, line throws(ConfigurationError) in
            try state.setTLS(try line.text(expected: "a file path"), line: line)
        }
    }

    private static func tlsFlag(_ name: String, _ summary: String) -> ConfigurationKey {
        ConfigurationKey(name, scope: .listener, default: "false", summary) { state, line throws(ConfigurationError) in
            try state.setTLS(try line.boolean() ? "true" : "false", line: line)
        }
    }

    private static let tlsKeys: [ConfigurationKey] = [
        tlsPath("certfile", "PEM server certificate (chain) of a TLS listener; with `keyfile` it turns TLS on. Re-read on SIGHUP."),
        tlsPath("keyfile", "PEM private key of `certfile`. Re-read on SIGHUP."),
        tlsPath("cafile", "PEM certificates of the authorities that sign client certificates."),
        tlsPath("capath", "A folder of PEM CA certificates, instead of or beside `cafile`."),
        tlsFlag("require_certificate", "Clients must present a certificate signed by `cafile`/`capath`."),
        tlsFlag("use_identity_as_username", "The client certificate's Common Name is the user name (the password file is not consulted)."),
        tlsFlag("use_subject_as_username", "The client certificate's subject (RFC 2253, `CN=...,O=...`) is the user name."),
        ConfigurationKey(
            "tls_version", scope: .listener, default: "tlsv1.2",
            "Lowest TLS version accepted: tlsv1.1, tlsv1.2 or tlsv1.3."
        ) { state, line throws(ConfigurationError) in
            let expected = ListenerTLSConfiguration.Version.allCases.map(\.rawValue).joined(separator: ", ")
            let word = try line.singleArgument(expected: expected)
            guard ListenerTLSConfiguration.Version(rawValue: word) != nil else { throw line.invalidValue(expected: expected, got: word) }
            try state.setTLS(word, line: line)
        },
        ConfigurationKey(
            "ciphers", scope: .listener, default: "(BoringSSL's defaults)",
            "OpenSSL cipher list for TLS 1.2 connections."
        ) { state, line throws(ConfigurationError) in
            try state.setTLS(try line.singleArgument(expected: "an OpenSSL cipher list"), line: line)
        },
    ]

    // MARK: - Limits and behaviour

    private static let limitKeys: [ConfigurationKey] = [
        ConfigurationKey(
            "max_keepalive", default: "65535",
            "Largest keepalive (seconds) clients may use; 0 allows keepalive 0 (no checks)."
        ) { state, line throws(ConfigurationError) in
            state.configuration.maxKeepalive = UInt16(try line.integer(in: 0...65535))
        },
        ConfigurationKey(
            "max_packet_size", default: "0",
            "Largest packet (bytes) accepted from clients; 0 means no limit, otherwise at least 20."
        ) { state, line throws(ConfigurationError) in
            let maximum = Int(BrokerConfiguration.protocolMaximumPacketSize)
            let expected = "0 (no limit) or an integer between 20 and \(maximum)"
            let value = try line.integer(in: 0...Int.max, expected: expected)
            switch value {
            case 0:
                state.configuration.maxPacketSize = nil
            case 20...maximum:
                state.configuration.maxPacketSize = UInt32(value)
            case (maximum + 1)...:
                state.warn(line, "key 'max_packet_size': \(value) exceeds the MQTT maximum of \(maximum) bytes; no limit applies")
                state.configuration.maxPacketSize = nil
            default:
                throw line.invalidValue(expected: expected, got: String(value))
            }
        },
        ConfigurationKey(
            "message_size_limit", default: "0",
            "Largest PUBLISH payload (bytes) accepted; 0 means no limit. Prefer `max_packet_size`."
        ) { state, line throws(ConfigurationError) in
            let value = try line.integer(in: 0...Int(BrokerConfiguration.protocolMaximumPayloadSize))
            state.configuration.messageSizeLimit = value == 0 ? nil : UInt32(value)
        },
        ConfigurationKey(
            "max_inflight_messages", default: "20",
            "Outgoing QoS 1/2 messages in flight per client; 0 means unlimited."
        ) { state, line throws(ConfigurationError) in
            let value = try line.integer(in: Int.min...65535, expected: "an integer between 0 and 65535 (0 = unlimited)")
            // As in Mosquitto, negative values and 65535 mean "unlimited".
            state.configuration.maxInflightMessages = (value < 0 || value == 65535) ? 0 : value
        },
        ConfigurationKey(
            "max_queued_messages", default: "1000",
            "QoS 1/2 messages queued per client beyond those in flight; 0 means unlimited."
        ) { state, line throws(ConfigurationError) in
            let value = try line.integer(in: Int.min...Int.max, expected: "an integer (0 = unlimited)")
            state.configuration.maxQueuedMessages = max(value, 0)
        },
        ConfigurationKey(
            "max_queued_bytes", default: "0",
            "Bytes queued per client beyond those in flight; 0 means unlimited."
        ) { state, line throws(ConfigurationError) in
            let value = try line.integer(in: Int.min...Int.max, expected: "an integer (0 = unlimited)")
            state.configuration.maxQueuedBytes = value > 0 ? value : nil
        },
        ConfigurationKey(
            "memory_limit", default: "0",
            "Bytes of resident memory above which new PUBLISHes are refused (v5: PUBACK/PUBREC 0x97 Quota exceeded; 3.1.1: dropped) until it falls back; 0 means no limit."
        ) { state, line throws(ConfigurationError) in
            let value = try line.integer(in: 0...Int.max, expected: "a number of bytes (0 = no limit)")
            state.configuration.memoryLimit = value > 0 ? value : nil
        },
        ConfigurationKey(
            "queue_qos0_messages", default: "false",
            "Also queue QoS 0 messages for disconnected persistent clients."
        ) { state, line throws(ConfigurationError) in
            state.configuration.queueQoS0Messages = try line.boolean()
        },
        ConfigurationKey(
            "allow_duplicate_messages", default: "false",
            "Parley's default; Mosquitto 2.0 always behaves as `true`. `false`: a message matching several subscriptions of one client goes out once, with every matching MQTT v5 Subscription Identifier. `true`: once per subscription, each copy with its own identifier, which libmosquitto 2.0 clients (`mosquitto_sub`, Debian 12's library) need: they drop the connection on a PUBLISH with two identifiers. With `persistence`, a restart brings back at least one copy of each unacknowledged message per session, not one per subscription."
        ) { state, line throws(ConfigurationError) in
            state.configuration.copyPerSubscription = try line.boolean()
        },
        ConfigurationKey(
            "retain_available", default: "true",
            "Support retained messages (advertised to MQTT v5 clients as Retain Available)."
        ) { state, line throws(ConfigurationError) in
            state.configuration.retainAvailable = try line.boolean()
        },
        ConfigurationKey(
            "persistent_client_expiration", default: "(never)",
            "Remove disconnected persistent sessions after this long: a number followed by h, d, w, m (30 days) or y (365 days)."
        ) { state, line throws(ConfigurationError) in
            state.configuration.persistentClientExpiration = try parseExpiration(line)
        },
        ConfigurationKey(
            "sys_interval", default: "10",
            "Seconds between $SYS topic updates; 0 disables $SYS."
        ) { state, line throws(ConfigurationError) in
            state.configuration.sysInterval = try line.integer(in: 0...65535)
        },
        ConfigurationKey(
            "threads", default: "0",
            "Parley only: event loop threads serving clients; 0 means one per core."
        ) { state, line throws(ConfigurationError) in
            state.configuration.threads = try line.integer(in: 0...1024)
        },
    ]

    /// Mosquitto's duration syntax: a positive integer and one unit letter.
    private static func parseExpiration(_ line: ConfigurationLine) throws(ConfigurationError) -> Duration {
        let expected = "a positive number followed by h, d, w, m or y (e.g. 14d)"
        let word = try line.singleArgument(expected: expected)
        let secondsPerUnit: [Character: Int] = [
            "h": 3600,
            "d": 86_400,
            "w": 7 * 86_400,
            "m": 30 * 86_400,
            "y": 365 * 86_400,
        ]
        guard let unit = word.last, let multiplier = secondsPerUnit[unit],
              let count = Int(word.dropLast()), count > 0
        else {
            throw line.invalidValue(expected: expected, got: word)
        }
        let (seconds, overflow) = count.multipliedReportingOverflow(by: multiplier)
        guard !overflow else { throw line.invalidValue(expected: expected, got: word) }
        return .seconds(seconds)
    }

    // MARK: - Logging

    private static let loggingKeys: [ConfigurationKey] = [
        ConfigurationKey(
            "log_type", default: "error warning notice information",
            "Log categories: error, warning, notice, information, subscribe, unsubscribe, websockets, debug, internal, all or none. Repeatable."
        ) { state, line throws(ConfigurationError) in
            let expected = "one or more of " + (LogType.allCases.map(\.rawValue) + ["all", "none"]).joined(separator: ", ")
            let words = line.argumentsBeforeComment
            guard !words.isEmpty else { throw line.missingValue(expected: expected) }
            var directives: [ConfigurationParseState.LogTypeDirective] = []
            for word in words {
                switch word {
                case "none": directives.append(.none)
                case "all": directives.append(.all)
                default:
                    guard let type = LogType(rawValue: word) else {
                        throw line.invalidValue(expected: expected, got: word)
                    }
                    directives.append(.type(type))
                }
            }
            state.addLogTypes(directives)
        },
        ConfigurationKey(
            "log_dest", default: "stderr",
            "Log destination: stdout, stderr, `file PATH` or none (syslog and topic are ignored). Repeatable."
        ) { state, line throws(ConfigurationError) in
            let expected = "stdout, stderr, file PATH, syslog, topic or none"
            guard let first = line.arguments.first else { throw line.missingValue(expected: expected) }
            state.beginLogDestinationLine(line)
            if first == "file" {
                let path = String(ConfigurationLine.trim(line.remainder.dropFirst(first.count)))
                guard !path.isEmpty else { throw line.missingValue(expected: "a file path after 'file'") }
                if let previous = state.logFileLine {
                    throw line.error(
                        .invalidValue,
                        "key 'log_dest': only one file destination is allowed (first on line \(previous))"
                    )
                }
                state.logFileLine = line.number
                state.addLogDestination(.file(path))
                return
            }
            switch try line.singleArgument(expected: expected) {
            case "stdout": state.addLogDestination(.stdout)
            case "stderr": state.addLogDestination(.stderr)
            case "none": state.clearLogDestinations()
            case let ignored where ["syslog", "topic", "dlt"].contains(ignored):
                state.noteIgnoredLogDestination()
                state.warn(line, "key 'log_dest': destination '\(ignored)' is not supported by Parley; ignored")
            case let other:
                throw line.invalidValue(expected: expected, got: other)
            }
        },
    ]

    // MARK: - Persistence and process

    private static let persistenceKeys: [ConfigurationKey] = [
        ConfigurationKey(
            "include_dir", default: "(none)",
            "Also read every `*.conf` file in this folder, sorted by name, as if written here (main file only)."
        ) { state, line throws(ConfigurationError) in
            let path = try line.text(expected: "a folder")
            if state.inIncludedFile {
                state.warn(line, "key 'include_dir' is ignored in an included file (as in Mosquitto)")
                return
            }
            state.pendingInclude = (path, line)
        },
        ConfigurationKey(
            "pid_file", default: "(none)",
            "`parley serve` writes its process id to this file and removes it when it stops."
        ) { state, line throws(ConfigurationError) in
            let path = try line.text(expected: "a file path")
            try state.claimSingleUse(line)
            state.configuration.pidFile = path
        },
        ConfigurationKey(
            "persistence", default: "false",
            "Keep retained messages and persistent sessions (with their queued and in-flight messages) on disk: each change is written before it is acknowledged, so nothing acknowledged is lost when the broker is killed."
        ) { state, line throws(ConfigurationError) in
            try applyPersistence(&state, line)
        },
        ConfigurationKey(
            "persistence_location", default: "(current directory)",
            "Folder of the persistence file; created if missing."
        ) { state, line throws(ConfigurationError) in
            state.configuration.persistenceSettings.location = try line.text(expected: "a folder")
        },
        ConfigurationKey(
            "persistence_file", default: "parley.db",
            "Name of the persistence file in `persistence_location`. Parley's own format: the default differs from Mosquitto's `mosquitto.db` so the two never read each other's file."
        ) { state, line throws(ConfigurationError) in
            let name = try line.text(expected: "a file name")
            guard !name.contains("/") else { throw line.invalidValue(expected: "a file name without '/'", got: name) }
            state.configuration.persistenceSettings.fileName = name
        },
        ConfigurationKey(
            "persistence_fsync", default: "false",
            "Parley key: also sync every group of changes to disk before acknowledging it, so acknowledged messages survive a power cut (slower)."
        ) { state, line throws(ConfigurationError) in
            state.configuration.persistenceSettings.fsync = try line.boolean()
        },
        ConfigurationKey(
            "retained_persistence", default: "false",
            "Mosquitto's alias for `persistence`."
        ) { state, line throws(ConfigurationError) in
            try applyPersistence(&state, line)
        },
        ConfigurationKey(
            "user", support: .ignored, default: "(none)",
            "User to switch to when started as root. Stored, but Parley does not switch users."
        ) { state, line throws(ConfigurationError) in
            let name = try line.text(expected: "a user name")
            try state.claimSingleUse(line)
            state.configuration.user = name
            state.warn(line, "key 'user' is ignored: Parley does not switch users; run it as the intended user")
        },
    ]

    private static func applyPersistence(
        _ state: inout ConfigurationParseState,
        _ line: ConfigurationLine
    ) throws(ConfigurationError) {
        state.configuration.persistence = try line.boolean()
    }

    // MARK: - Accepted but ignored

    private enum IgnoredValue {
        case boolean, integer, text
    }

    private static func ignoredKey(
        _ name: String,
        default defaultValue: String,
        _ summary: String,
        value: IgnoredValue,
        reason: String
    ) -> ConfigurationKey {
        ConfigurationKey(name, support: .ignored, default: defaultValue, summary) { state, line throws(ConfigurationError) in
            switch value {
            case .boolean: _ = try line.boolean()
            case .integer: _ = try line.integer(in: Int.min...Int.max, expected: "an integer")
            case .text: _ = try line.text(expected: "a value")
            }
            state.warn(line, "key '\(name)' is ignored: \(reason)")
        }
    }

    private static let ignoredKeys: [ConfigurationKey] = [
        ignoredKey("autosave_interval", default: "1800", "Seconds between persistence database saves.",
                   value: .integer, reason: "Parley stores every change as it happens; there is no periodic save"),
        ignoredKey("autosave_on_changes", default: "false", "Count changes instead of seconds for `autosave_interval`.",
                   value: .boolean, reason: "Parley stores every change as it happens; there is no periodic save"),
        ignoredKey("connection_messages", default: "true", "Log client connects and disconnects.",
                   value: .boolean, reason: "not configurable in Parley yet"),
        ignoredKey("log_timestamp", default: "true", "Prefix log lines with a timestamp.",
                   value: .boolean, reason: "Parley's log format is not configurable yet"),
        ignoredKey("log_timestamp_format", default: "(none)", "strftime format for log timestamps.",
                   value: .text, reason: "Parley's log format is not configurable yet"),
        ignoredKey("log_facility", default: "(daemon)", "Syslog facility local0-local7.",
                   value: .integer, reason: "Parley does not log to syslog"),
        ignoredKey("set_tcp_nodelay", default: "false", "Disable Nagle's algorithm on client sockets.",
                   value: .boolean, reason: "not configurable in Parley yet"),
        ignoredKey("max_inflight_bytes", default: "0", "Byte limit for outgoing QoS 1/2 messages in flight.",
                   value: .integer, reason: "only `max_inflight_messages` is implemented"),
        ignoredKey("retry_interval", default: "20", "Removed in Mosquitto 2.0.",
                   value: .integer, reason: "it was removed in Mosquitto 2.0"),
        ignoredKey("store_clean_interval", default: "10", "Removed in Mosquitto 1.5.",
                   value: .integer, reason: "it was removed in Mosquitto 1.5"),
    ]
}
