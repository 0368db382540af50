/// Mutable state while the lines of one configuration file are applied.
///
/// Listener bookkeeping follows Mosquitto: keys before the first `listener` line belong
/// to the "default listener" context, which Parley treats as file-level defaults that
/// every listener inherits unless its own block overrides them. `port` and
/// `bind_address` configure a separate default listener that exists in addition to the
/// `listener` blocks.
struct ConfigurationParseState: Sendable {
    struct PendingListener: Sendable {
        var listener: ListenerConfiguration
        /// Line that created the listener (`listener`, or the first `port` /
        /// `bind_address` line for the default listener).
        var line: Int
        var key: String
        var setsMaxConnections = false
        var setsMaxTopicAlias = false
    }

    let file: String
    var configuration: BrokerConfiguration
    var warnings: [ConfigurationWarning] = []

    /// Listeners from `listener` lines, in file order.
    var explicitListeners: [PendingListener] = []
    /// The listener configured by the legacy `port` / `bind_address` keys, if any.
    var legacyDefaultListener: PendingListener?
    /// Index into `explicitListeners` of the block being configured; `nil` before the
    /// first `listener` line.
    var currentListenerIndex: Int?

    var logTypesSeen = false
    var logDestinationsSeen = false
    /// A destination was requested since the last `log_dest none`, even if it was one
    /// Parley ignores (used to fall back to stderr instead of logging nowhere).
    var logDestinationRequested = false
    var lastLogDestinationLine = 0
    var logFileLine: Int?

    /// First line of single-valued keys that Mosquitto refuses to see twice.
    var firstLineOfKey: [String: Int] = [:]

    /// The `connection` line of each bridge, for diagnostics at the end of the file.
    var bridgeLines: [Int] = []

    init(file: String) {
        self.file = file
        var configuration = BrokerConfiguration.fileDefaults
        configuration.listeners = []
        self.configuration = configuration
    }

    mutating func warn(_ line: ConfigurationLine, _ message: String) {
        warnings.append(line.warning(message))
    }

    /// Rejects a second occurrence of a key whose value Mosquitto does not allow to be
    /// redefined (paths and names).
    mutating func claimSingleUse(_ line: ConfigurationLine) throws(ConfigurationError) {
        if let first = firstLineOfKey[line.key] {
            throw line.error(
                .invalidValue,
                "key '\(line.key)' is set more than once (first on line \(first))"
            )
        }
        firstLineOfKey[line.key] = line.number
    }

    // MARK: - Listeners

    mutating func beginListener(_ line: ConfigurationLine) throws(ConfigurationError) {
        let expected = "a port number between 1 and 65535, optionally followed by an address"
        let words = line.argumentsBeforeComment
        guard let portWord = words.first else { throw line.missingValue(expected: expected) }
        guard words.count <= 2 else {
            throw line.invalidValue(expected: expected, got: words.joined(separator: " "))
        }
        let host = words.count == 2 ? words[words.startIndex + 1] : nil
        if portWord == "0", let host {
            throw line.unsupportedValue("0 \(host)", detail: "Unix socket listeners")
        }
        guard let port = Int(portWord), ListenerConfiguration.validPorts.contains(port) else {
            throw line.invalidValue(expected: expected, got: portWord)
        }
        let listener = ListenerConfiguration(port: port, host: host)
        for existing in explicitListeners where existing.listener.conflicts(with: listener) {
            throw Self.duplicatePortError(line: line, port: port, existing: existing)
        }
        explicitListeners.append(PendingListener(listener: listener, line: line.number, key: line.key))
        currentListenerIndex = explicitListeners.count - 1
    }

    private static func duplicatePortError(
        line: ConfigurationLine,
        port: Int,
        existing: PendingListener
    ) -> ConfigurationError {
        let what = existing.listener.isDefaultListener ? "the default listener" : "the listener"
        return line.error(
            .invalidValue,
            "key '\(line.key)': port \(port) is already used by \(what) on line \(existing.line)"
        )
    }

    /// The default listener configured by `port` / `bind_address`, created on first use.
    mutating func withLegacyDefaultListener(
        _ line: ConfigurationLine,
        _ body: (inout ListenerConfiguration) -> Void
    ) {
        var pending = legacyDefaultListener ?? PendingListener(
            listener: ListenerConfiguration(
                port: BrokerConfiguration.defaultPort,
                isDefaultListener: true
            ),
            line: line.number,
            key: line.key
        )
        body(&pending.listener)
        legacyDefaultListener = pending
    }

    mutating func setMaxConnections(_ value: Int?) {
        if let index = currentListenerIndex {
            explicitListeners[index].listener.maxConnections = value
            explicitListeners[index].setsMaxConnections = true
        } else {
            configuration.maxConnections = value
        }
    }

    mutating func setMaxTopicAlias(_ value: UInt16) {
        if let index = currentListenerIndex {
            explicitListeners[index].listener.maxTopicAlias = value
            explicitListeners[index].setsMaxTopicAlias = true
        } else {
            configuration.maxTopicAlias = value
        }
    }

    mutating func setProtocol(_ value: ListenerProtocol) {
        if let index = currentListenerIndex {
            explicitListeners[index].listener.protocolName = value
        }
        // Before any `listener` line the protocol belongs to the default listener,
        // which always speaks MQTT (the only protocol Parley has).
    }

    // MARK: - Logging

    mutating func addLogTypes(_ types: [LogTypeDirective]) {
        if !logTypesSeen {
            // The first log_type line replaces the defaults; later lines accumulate.
            configuration.logTypes = []
            logTypesSeen = true
        }
        for type in types {
            switch type {
            case .none: configuration.logTypes = []
            case .all: configuration.logTypes = Set(LogType.allCases)
            case .type(let type): configuration.logTypes.insert(type)
            }
        }
    }

    enum LogTypeDirective: Sendable {
        case none, all
        case type(LogType)
    }

    mutating func beginLogDestinationLine(_ line: ConfigurationLine) {
        if !logDestinationsSeen {
            // The first log_dest line replaces the default; later lines accumulate.
            configuration.logDestinations = []
            logDestinationsSeen = true
        }
        lastLogDestinationLine = line.number
    }

    mutating func clearLogDestinations() {
        configuration.logDestinations = []
        logDestinationRequested = false
    }

    /// A destination Parley cannot write to (syslog, topic, dlt) was requested.
    mutating func noteIgnoredLogDestination() {
        logDestinationRequested = true
    }

    mutating func addLogDestination(_ destination: LogDestination) {
        logDestinationRequested = true
        if !configuration.logDestinations.contains(destination) {
            configuration.logDestinations.append(destination)
        }
    }

    // MARK: - Bridges

    mutating func beginBridge(_ line: ConfigurationLine) throws(ConfigurationError) {
        let name = try line.singleArgument(expected: "a bridge name")
        if let index = configuration.bridges.firstIndex(where: { $0.name == name }) {
            throw line.error(.invalidValue, "key 'connection': a bridge named '\(name)' already starts on line \(bridgeLines[index])")
        }
        configuration.bridges.append(BridgeConfiguration(name: name))
        bridgeLines.append(line.number)
    }

    /// Applies a bridge key to the bridge of the last `connection` line.
    mutating func withBridge(
        _ line: ConfigurationLine, _ body: (inout BridgeConfiguration) throws(ConfigurationError) -> Void
    ) throws(ConfigurationError) {
        guard !configuration.bridges.isEmpty else {
            throw line.error(.invalidValue, "key '\(line.key)' configures a bridge and must follow a 'connection' line")
        }
        try body(&configuration.bridges[configuration.bridges.count - 1])
    }

    private func checkBridges() throws(ConfigurationError) {
        for (bridge, line) in zip(configuration.bridges, bridgeLines) {
            func fail(_ message: String) -> ConfigurationError {
                ConfigurationError(kind: .missingValue, file: file, line: line, key: "connection", message: "bridge '\(bridge.name)': \(message)")
            }
            if bridge.addresses.isEmpty { throw fail("no 'address' line") }
            if bridge.topics.isEmpty { throw fail("no 'topic' line") }
            if let tls = bridge.tls, (tls.certificateFile == nil) != (tls.keyFile == nil) {
                throw fail("'bridge_certfile' and 'bridge_keyfile' go together")
            }
            if let tls = bridge.tls, tls.caFile == nil && tls.caPath == nil {
                throw fail("TLS needs 'bridge_cafile' or 'bridge_capath'")
            }
        }
    }

    // MARK: - Finishing

    mutating func finish() throws(ConfigurationError) -> (BrokerConfiguration, [ConfigurationWarning]) {
        try checkBridges()
        var listeners: [ListenerConfiguration] = []
        for pending in explicitListeners {
            var listener = pending.listener
            if !pending.setsMaxConnections { listener.maxConnections = configuration.maxConnections }
            if !pending.setsMaxTopicAlias { listener.maxTopicAlias = configuration.maxTopicAlias }
            listeners.append(listener)
        }

        if let legacy = legacyDefaultListener {
            for existing in explicitListeners where existing.listener.conflicts(with: legacy.listener) {
                throw ConfigurationError(
                    kind: .invalidValue,
                    file: file,
                    line: legacy.line,
                    key: legacy.key,
                    message: "key '\(legacy.key)': port \(legacy.listener.port) of the default listener "
                        + "is already used by the listener on line \(existing.line)"
                )
            }
            // Mosquitto adds the default listener after the explicit ones.
            listeners.append(defaultListener(from: legacy.listener))
        } else if listeners.isEmpty {
            listeners.append(defaultListener(from: ListenerConfiguration(
                port: BrokerConfiguration.defaultPort,
                isDefaultListener: true
            )))
        }
        configuration.listeners = listeners

        if logDestinationRequested && configuration.logDestinations.isEmpty {
            warnings.append(ConfigurationWarning(
                file: file,
                line: lastLogDestinationLine,
                key: "log_dest",
                message: "none of the configured log destinations is supported by Parley; logging to stderr"
            ))
            configuration.logDestinations = [.stderr]
        }
        return (configuration, warnings)
    }

    private func defaultListener(from listener: ListenerConfiguration) -> ListenerConfiguration {
        var listener = listener
        listener.maxConnections = configuration.maxConnections
        listener.maxTopicAlias = configuration.maxTopicAlias
        return listener
    }
}
