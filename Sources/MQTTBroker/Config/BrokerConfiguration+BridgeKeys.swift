import MQTTCore

extension BrokerConfiguration {
    /// Mosquitto's bridge keys: `connection NAME` starts a bridge, the keys after it configure it.
    static let bridgeKeys: [ConfigurationKey] = [
        ConfigurationKey(
            "connection", default: "(none)",
            "Start a bridge block: `connection NAME`. The bridge keys below apply to the last one."
        ) { state, line throws(ConfigurationError) in
            try state.beginBridge(line)
        },
        ConfigurationKey(
            "address", scope: .bridge, default: "(none)",
            "Remote broker(s): `address HOST[:PORT] [HOST[:PORT] ...]` (port 1883 by default); later ones are fallbacks."
        ) { state, line throws(ConfigurationError) in
            let addresses = try parseAddresses(line)
            try state.withBridge(line) { $0.addresses = addresses }
        },
        ConfigurationKey(
            "addresses", scope: .bridge, default: "(none)", "Same as `address`."
        ) { state, line throws(ConfigurationError) in
            let addresses = try parseAddresses(line)
            try state.withBridge(line) { $0.addresses = addresses }
        },
        ConfigurationKey(
            "round_robin", scope: .bridge, default: "false",
            "true: after a lost link try the next address; false: always go back to the first one that answers."
        ) { state, line throws(ConfigurationError) in
            let value = try line.boolean()
            try state.withBridge(line) { $0.roundRobin = value }
        },
        ConfigurationKey(
            "topic", scope: .bridge, default: "(none)",
            "`topic PATTERN [in|out|both] [QOS] [LOCAL_PREFIX REMOTE_PREFIX]`, repeatable; `\"\"` is an empty pattern or prefix."
        ) { state, line throws(ConfigurationError) in
            let topic = try parseTopic(line)
            try state.withBridge(line) { $0.topics.append(topic) }
        },
        ConfigurationKey(
            "remote_clientid", scope: .bridge, default: "(parley-bridge-NAME)",
            "Client id at the remote broker (`clientid` is accepted too)."
        ) { state, line throws(ConfigurationError) in
            let value = try line.singleArgument(expected: "a client id")
            try state.withBridge(line) { $0.remoteClientIdentifier = value }
        },
        ConfigurationKey("clientid", scope: .bridge, default: "(parley-bridge-NAME)", "Old name of `remote_clientid`.") {
            state, line throws(ConfigurationError) in
            let value = try line.singleArgument(expected: "a client id")
            try state.withBridge(line) { $0.remoteClientIdentifier = value }
        },
        ConfigurationKey("remote_username", scope: .bridge, default: "(none)", "User name at the remote broker (`username` too).") {
            state, line throws(ConfigurationError) in
            let value = try line.singleArgument(expected: "a user name")
            try state.withBridge(line) { $0.remoteUsername = value }
        },
        ConfigurationKey("username", scope: .bridge, default: "(none)", "Old name of `remote_username`.") {
            state, line throws(ConfigurationError) in
            let value = try line.singleArgument(expected: "a user name")
            try state.withBridge(line) { $0.remoteUsername = value }
        },
        ConfigurationKey("remote_password", scope: .bridge, default: "(none)", "Password at the remote broker (`password` too).") {
            state, line throws(ConfigurationError) in
            let value = try line.text(expected: "a password")
            try state.withBridge(line) { $0.remotePassword = value }
        },
        ConfigurationKey("password", scope: .bridge, default: "(none)", "Old name of `remote_password`.") {
            state, line throws(ConfigurationError) in
            let value = try line.text(expected: "a password")
            try state.withBridge(line) { $0.remotePassword = value }
        },
        ConfigurationKey(
            "cleansession", scope: .bridge, default: "false",
            "false keeps the bridge's session at the remote, so messages in flight survive a lost link."
        ) { state, line throws(ConfigurationError) in
            let value = try line.boolean()
            try state.withBridge(line) { $0.cleanSession = value }
        },
        ConfigurationKey("keepalive_interval", scope: .bridge, default: "60", "Keep-alive of the bridge's connection, in seconds.") {
            state, line throws(ConfigurationError) in
            let value = try line.integer(in: 5...65535)
            try state.withBridge(line) { $0.keepAlive = value }
        },
        ConfigurationKey(
            "restart_timeout", scope: .bridge, default: "5 30",
            "Seconds before reconnecting: `BASE` (constant) or `BASE CAP` (doubling from BASE to CAP, with jitter)."
        ) { state, line throws(ConfigurationError) in
            let expected = "BASE or BASE CAP, in seconds (1 to 3600)"
            let words = Array(line.argumentsBeforeComment)
            guard !words.isEmpty else { throw line.missingValue(expected: expected) }
            let numbers = words.compactMap(Int.init)
            guard words.count <= 2, numbers.count == words.count, numbers.allSatisfy({ (1...3600).contains($0) }),
                numbers.count == 1 || numbers[0] <= numbers[1]
            else { throw line.invalidValue(expected: expected, got: words.joined(separator: " ")) }
            try state.withBridge(line) { $0.restartTimeout = (numbers[0], numbers.count == 2 ? numbers[1] : nil) }
        },
        ConfigurationKey(
            "bridge_protocol_version", scope: .bridge, default: "mqttv311",
            "`mqttv311` or `mqttv50` (MQTT 5: No Local keeps messages from coming back)."
        ) { state, line throws(ConfigurationError) in
            let word = try line.singleArgument(expected: "mqttv311 or mqttv50")
            guard let version = BridgeConfiguration.ProtocolVersion(rawValue: word) else {
                if word == "mqttv31" { throw line.unsupportedValue(word, detail: "MQTT 3.1 bridges") }
                throw line.invalidValue(expected: "mqttv311 or mqttv50", got: word)
            }
            try state.withBridge(line) { $0.protocolVersion = version }
        },
        ConfigurationKey(
            "notifications", scope: .bridge, default: "true",
            "Publish the link state, retained: `1` up, `0` down (also the will at the remote)."
        ) { state, line throws(ConfigurationError) in
            let value = try line.boolean()
            try state.withBridge(line) { $0.notifications = value }
        },
        ConfigurationKey(
            "notification_topic", scope: .bridge, default: "($SYS/broker/connection/NAME/state)",
            "Topic of the link state."
        ) { state, line throws(ConfigurationError) in
            let topic = try line.singleArgument(expected: "a topic")
            do {
                try TopicValidation.validateTopicName(topic)
            } catch {
                throw line.invalidValue(expected: "a topic name without wildcards", got: topic)
            }
            try state.withBridge(line) { $0.notificationTopic = topic }
        },
        ConfigurationKey(
            "try_private", scope: .bridge, default: "true",
            "MQTT 3.1.1 bridges: keep messages the bridge sent from coming back (see the README's bridge section)."
        ) { state, line throws(ConfigurationError) in
            let value = try line.boolean()
            try state.withBridge(line) { $0.tryPrivate = value }
        },
        ConfigurationKey("bridge_cafile", scope: .bridge, default: "(none)", "CA certificates to check the remote broker with (TLS).") {
            state, line throws(ConfigurationError) in
            let path = try line.text(expected: "a file path")
            try state.withBridge(line) { $0.tls = ($0.tls ?? .init()).with { $0.caFile = path } }
        },
        ConfigurationKey("bridge_capath", scope: .bridge, default: "(none)", "Folder of CA certificates (TLS).") {
            state, line throws(ConfigurationError) in
            let path = try line.text(expected: "a folder path")
            try state.withBridge(line) { $0.tls = ($0.tls ?? .init()).with { $0.caPath = path } }
        },
        ConfigurationKey("bridge_certfile", scope: .bridge, default: "(none)", "Client certificate for the remote broker (TLS).") {
            state, line throws(ConfigurationError) in
            let path = try line.text(expected: "a file path")
            try state.withBridge(line) { $0.tls = ($0.tls ?? .init()).with { $0.certificateFile = path } }
        },
        ConfigurationKey("bridge_keyfile", scope: .bridge, default: "(none)", "Key of the client certificate (TLS).") {
            state, line throws(ConfigurationError) in
            let path = try line.text(expected: "a file path")
            try state.withBridge(line) { $0.tls = ($0.tls ?? .init()).with { $0.keyFile = path } }
        },
        ConfigurationKey("bridge_insecure", scope: .bridge, default: "false", "Skip the remote's host name check (TLS; tests only).") {
            state, line throws(ConfigurationError) in
            let value = try line.boolean()
            // Only a check to relax: `false` alone does not turn TLS on.
            try state.withBridge(line) { bridge in
                if value || bridge.tls != nil { bridge.tls = (bridge.tls ?? .init()).with { $0.insecure = value } }
            }
        },
    ]

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
    fileprivate func with(_ change: (inout Self) -> Void) -> Self {
        var copy = self
        change(&copy)
        return copy
    }
}
