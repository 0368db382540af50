import MQTTBridge
import MQTTBroker
import MQTTCore

extension ParleyConfiguration {
    /// Mosquitto's bridge keys: `connection NAME` starts a bridge, the keys after it configure it.
    static let bridgeKeys: [ConfigurationKey] = [
        ConfigurationKey(
            "connection", default: "(none)",
            "Start a bridge block: `connection NAME`. The bridge keys below apply to the last one."
        ) { state, line throws(ConfigurationError) in
            try state.beginBridge(line)
        },
        bridgeKey(
            "address", default: "(none)",
            "Remote broker(s): `address HOST[:PORT] [HOST[:PORT] ...]` (port 1883 by default); later ones are fallbacks.",
            read: parseAddresses
        ) { $0.addresses = $1 },
        bridgeKey("addresses", default: "(none)", "Same as `address`.", read: parseAddresses) { $0.addresses = $1 },
        bridgeKey(
            "round_robin", default: "false",
            "true: after a lost link try the next address; false: always go back to the first one that answers.",
            read: boolean
        ) { $0.roundRobin = $1 },
        bridgeKey(
            "topic", default: "(none)",
            "`topic PATTERN [in|out|both] [QOS] [LOCAL_PREFIX REMOTE_PREFIX]`, repeatable; `\"\"` is an empty pattern or prefix.",
            read: parseTopic
        ) { $0.topics.append($1) },
        bridgeKey(
            "remote_clientid", default: "(parley-bridge-NAME)", "Client id at the remote broker (`clientid` is accepted too).",
            read: word("a client id")
        ) { $0.remoteClientIdentifier = $1 },
        bridgeKey("clientid", default: "(parley-bridge-NAME)", "Old name of `remote_clientid`.", read: word("a client id")) {
            $0.remoteClientIdentifier = $1
        },
        bridgeKey(
            "remote_username", default: "(none)", "User name at the remote broker (`username` too).", read: word("a user name")
        ) { $0.remoteUsername = $1 },
        bridgeKey("username", default: "(none)", "Old name of `remote_username`.", read: word("a user name")) { $0.remoteUsername = $1 },
        bridgeKey("remote_password", default: "(none)", "Password at the remote broker (`password` too).", read: text("a password")) {
            $0.remotePassword = $1
        },
        bridgeKey("password", default: "(none)", "Old name of `remote_password`.", read: text("a password")) { $0.remotePassword = $1 },
        bridgeKey(
            "cleansession", default: "false",
            "false keeps the bridge's session at the remote, so messages in flight survive a lost link.",
            read: boolean
        ) { $0.cleanSession = $1 },
        bridgeKey(
            "keepalive_interval", default: "60", "Keep-alive of the bridge's connection, in seconds.",
            read: { line throws(ConfigurationError) in try line.integer(in: 5...65535) }
        ) { $0.keepAlive = $1 },
        bridgeKey(
            "restart_timeout", default: "5 30",
            "Seconds before reconnecting: `BASE` (constant) or `BASE CAP` (doubling from BASE to CAP, with jitter).",
            read: parseRestartTimeout
        ) { $0.restartTimeout = $1 },
        bridgeKey(
            "bridge_protocol_version", default: "mqttv311",
            "`mqttv311` or `mqttv50` (MQTT 5: No Local keeps messages from coming back).",
            read: parseProtocolVersion
        ) { $0.protocolVersion = $1 },
        bridgeKey(
            "notifications", default: "true", "Publish the link state, retained: `1` up, `0` down (also the will at the remote).",
            read: boolean
        ) { $0.notifications = $1 },
        bridgeKey(
            "notification_topic", default: "($SYS/broker/connection/NAME/state)", "Topic of the link state.",
            read: parseTopicName
        ) { $0.notificationTopic = $1 },
        bridgeKey(
            "try_private", default: "true",
            "MQTT 3.1.1 bridges: keep messages the bridge sent from coming back (see the README's bridge section).",
            read: boolean
        ) { $0.tryPrivate = $1 },
        bridgeKey("bridge_cafile", default: "(none)", "CA certificates to check the remote broker with (TLS).", read: text("a file path")) {
            $0.tls = ($0.tls ?? .init()).with(\.caFile, $1)
        },
        bridgeKey("bridge_capath", default: "(none)", "Folder of CA certificates (TLS).", read: text("a folder path")) {
            $0.tls = ($0.tls ?? .init()).with(\.caPath, $1)
        },
        bridgeKey("bridge_certfile", default: "(none)", "Client certificate for the remote broker (TLS).", read: text("a file path")) {
            $0.tls = ($0.tls ?? .init()).with(\.certificateFile, $1)
        },
        bridgeKey("bridge_keyfile", default: "(none)", "Key of the client certificate (TLS).", read: text("a file path")) {
            $0.tls = ($0.tls ?? .init()).with(\.keyFile, $1)
        },
        bridgeKey("bridge_insecure", default: "false", "Skip the remote's host name check (TLS; tests only).", read: boolean) {
            // Only a check to relax: `false` alone does not turn TLS on.
            if $1 || $0.tls != nil { $0.tls = ($0.tls ?? .init()).with(\.insecure, $1) }
        },
    ]

    /// A key of the current bridge: `read` parses the line, `store` puts the value in place.
    private static func bridgeKey<Value: Sendable>(
        _ name: String, default defaultValue: String, _ summary: String,
        read: @escaping @Sendable (ConfigurationLine) throws(ConfigurationError) -> Value,
        store: @escaping @Sendable (inout BridgeConfiguration, Value) -> Void
    ) -> ConfigurationKey {
        ConfigurationKey(name, scope: .bridge, default: defaultValue, summary) { state, line throws(ConfigurationError) in
            let value = try read(line)
            try state.withBridge(line) { store(&$0, value) }
        }
    }

    private static let boolean: @Sendable (ConfigurationLine) throws(ConfigurationError) -> Bool = { line throws(ConfigurationError) in
        try line.boolean()
    }

    private static func word(_ expected: String) -> @Sendable (ConfigurationLine) throws(ConfigurationError) -> String {
        { line throws(ConfigurationError) in try line.singleArgument(expected: expected) }
    }

    private static func text(_ expected: String) -> @Sendable (ConfigurationLine) throws(ConfigurationError) -> String {
        { line throws(ConfigurationError) in try line.text(expected: expected) }
    }

    private static func parseRestartTimeout(_ line: ConfigurationLine) throws(ConfigurationError) -> (base: Int, cap: Int?) {
        let expected = "BASE or BASE CAP, in seconds (1 to 3600)"
        let words = Array(line.argumentsBeforeComment)
        guard !words.isEmpty else { throw line.missingValue(expected: expected) }
        let numbers = words.compactMap(Int.init)
        guard words.count <= 2, numbers.count == words.count, numbers.allSatisfy({ (1...3600).contains($0) }),
            numbers.count == 1 || numbers[0] <= numbers[1]
        else { throw line.invalidValue(expected: expected, got: words.joined(separator: " ")) }
        return (numbers[0], numbers.count == 2 ? numbers[1] : nil)
    }

    private static func parseProtocolVersion(_ line: ConfigurationLine) throws(ConfigurationError) -> BridgeConfiguration.ProtocolVersion {
        let word = try line.singleArgument(expected: "mqttv311 or mqttv50")
        guard let version = BridgeConfiguration.ProtocolVersion(rawValue: word) else {
            if word == "mqttv31" { throw line.unsupportedValue(word, detail: "MQTT 3.1 bridges") }
            throw line.invalidValue(expected: "mqttv311 or mqttv50", got: word)
        }
        return version
    }

    private static func parseTopicName(_ line: ConfigurationLine) throws(ConfigurationError) -> String {
        let topic = try line.singleArgument(expected: "a topic")
        do {
            try TopicValidation.validateTopicName(topic)
        } catch {
            throw line.invalidValue(expected: "a topic name without wildcards", got: topic)
        }
        return topic
    }

    private static func parseAddresses(_ line: ConfigurationLine) throws(ConfigurationError) -> [BridgeConfiguration.Address] {
        let expected = "HOST[:PORT] ..."
        let words = line.argumentsBeforeComment
        guard !words.isEmpty else { throw line.missingValue(expected: expected) }
        var addresses: [BridgeConfiguration.Address] = []
        for word in words {
            guard let address = address(word) else { throw line.invalidValue(expected: expected, got: word) }
            addresses.append(address)
        }
        return addresses
    }

    /// `host`, `host:port`, `[v6]:port` or a bare IPv6 address.
    private static func address(_ word: String) -> BridgeConfiguration.Address? {
        if word.hasPrefix("["), let close = word.firstIndex(of: "]") {
            let host = String(word[word.index(after: word.startIndex)..<close])
            let rest = word[word.index(after: close)...]
            if rest.isEmpty { return host.isEmpty ? nil : .init(host: host) }
            guard rest.first == ":", let port = Int(rest.dropFirst()), ListenerConfiguration.validPorts.contains(port), !host.isEmpty else {
                return nil
            }
            return .init(host: host, port: port)
        }
        let colons = word.filter { $0 == ":" }.count
        if colons == 1, let colon = word.firstIndex(of: ":") {
            let host = String(word[..<colon])
            guard !host.isEmpty, let port = Int(word[word.index(after: colon)...]), ListenerConfiguration.validPorts.contains(port) else {
                return nil
            }
            return .init(host: host, port: port)
        }
        return word.isEmpty ? nil : .init(host: word)
    }

    private static func parseTopic(_ line: ConfigurationLine) throws(ConfigurationError) -> BridgeConfiguration.Topic {
        let expected = "PATTERN [in|out|both] [QOS] [LOCAL_PREFIX REMOTE_PREFIX]"
        // The pattern may be `#` itself; a `#` word after it starts a comment.
        guard let first = line.arguments.first else { throw line.missingValue(expected: expected) }
        let rest = line.arguments.dropFirst()
        let words = ([first] + rest.prefix { !$0.hasPrefix("#") }).map { $0 == "\"\"" ? "" : $0 }
        guard words.count <= 5, words.count != 4 else {
            throw line.invalidValue(expected: expected, got: words.joined(separator: " "))
        }
        var topic = BridgeConfiguration.Topic(pattern: words[0])
        if words.count > 1 {
            guard let direction = BridgeConfiguration.Direction(rawValue: words[1]) else {
                throw line.invalidValue(expected: "in, out or both", got: words[1])
            }
            topic.direction = direction
        }
        if words.count > 2 {
            guard let level = Int(words[2]), let qos = QoS(rawValue: UInt8(clamping: level)), (0...2).contains(level) else {
                throw line.invalidValue(expected: "QoS 0, 1 or 2", got: words[2])
            }
            topic.qos = qos
        }
        if words.count == 5 {
            topic.localPrefix = words[3]
            topic.remotePrefix = words[4]
            for prefix in [topic.localPrefix, topic.remotePrefix] where prefix.contains("+") || prefix.contains("#") {
                throw line.invalidValue(expected: "prefixes without wildcards", got: prefix)
            }
        }
        if topic.pattern.isEmpty && topic.localPrefix.isEmpty && topic.remotePrefix.isEmpty {
            throw line.invalidValue(expected: "a pattern, or an empty pattern with prefixes", got: "\"\"")
        }
        for filter in [topic.localFilter, topic.remoteFilter] {
            do {
                try TopicValidation.validateTopicFilter(filter)
            } catch {
                throw line.invalidValue(expected: "a topic filter once prefixed", got: filter)
            }
        }
        return topic
    }
}

extension BridgeConfiguration.TLS {
    fileprivate func with<Value>(_ field: WritableKeyPath<Self, Value>, _ value: Value) -> Self {
        var copy = self
        copy[keyPath: field] = value
        return copy
    }
}
