import MQTTBridge
import MQTTBroker
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
    var configuration: ParleyConfiguration
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

    /// `allow_anonymous`, `password_file` and `acl_file` lines with the listener block they
    /// appeared in (nil before the first `listener`): whether they are global or per listener
    /// depends on `per_listener_settings`, which may come anywhere in the file.
    var securityEdits: [(block: Int?, line: ConfigurationLine, edit: SecurityEdit)] = []

    enum SecurityEdit: Sendable {
        case allowAnonymous(Bool)
        case passwordFile(String)
        case aclFile(String)
    }

    init(file: String) {
        self.file = file
        var configuration = ParleyConfiguration.fileDefaults
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
        let expected = "a port number between 1 and 65535, optionally followed by an address, or 0 and a socket path"
        let words = line.argumentsBeforeComment
        guard let portWord = words.first else { throw line.missingValue(expected: expected) }
        let listener: ListenerConfiguration
        if portWord == "0" {
            // `listener 0 PATH`: a Unix socket; the path is the rest of the line.
            let path = String(ConfigurationLine.trim(Substring(line.remainder).dropFirst(1)))
            guard !path.isEmpty else { throw line.missingValue(expected: "a Unix socket path after port 0") }
            listener = .unixSocket(path)
        } else {
            guard words.count <= 2 else {
                throw line.invalidValue(expected: expected, got: words.joined(separator: " "))
            }
            let host = words.count == 2 ? words[words.startIndex + 1] : nil
            guard let port = Int(portWord), ListenerConfiguration.validPorts.contains(port) else {
                throw line.invalidValue(expected: expected, got: portWord)
            }
            listener = ListenerConfiguration(port: port, host: host)
        }
        for existing in explicitListeners where existing.listener.conflicts(with: listener) {
            throw Self.duplicatePortError(line: line, listener: listener, existing: existing)
        }
        explicitListeners.append(PendingListener(listener: listener, line: line.number, key: line.key))
        currentListenerIndex = explicitListeners.count - 1
    }

    private static func duplicatePortError(
        line: ConfigurationLine,
        listener: ListenerConfiguration,
        existing: PendingListener
    ) -> ConfigurationError {
        let what = existing.listener.isDefaultListener ? "the default listener" : "the listener"
        let endpoint = listener.unixSocketPath.map { "socket \($0)" } ?? "port \(listener.port)"
        return line.error(
            .invalidValue,
            "key '\(line.key)': \(endpoint) is already used by \(what) on line \(existing.line)"
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

    mutating func setProtocol(_ value: ListenerProtocol, line: ConfigurationLine) throws(ConfigurationError) {
        guard let index = currentListenerIndex else {
            if value != .mqtt {
                throw line.error(.invalidValue, "key 'protocol': the default listener speaks MQTT; put 'protocol \(value.rawValue)' after a 'listener' line")
            }
            return
        }
        if value == .websockets, explicitListeners[index].listener.unixSocketPath != nil {
            throw line.error(.invalidValue, "key 'protocol': a Unix socket listener speaks plain MQTT")
        }
        explicitListeners[index].listener.protocolName = value
    }

    // MARK: - TLS

    /// TLS lines per listener block (nil: before the first `listener`, for the default
    /// listener), by key; the values were validated by the key table.
    var tlsLines: [Int?: [String: (value: String, line: ConfigurationLine)]] = [:]

    mutating func setTLS(_ value: String, line: ConfigurationLine) throws(ConfigurationError) {
        if let previous = tlsLines[currentListenerIndex]?[line.key] {
            throw line.error(.invalidValue, "key '\(line.key)' is set more than once for this listener (first on line \(previous.line.number))")
        }
        tlsLines[currentListenerIndex, default: [:]][line.key] = (value, line)
    }

    /// The TLS settings of one block, or nil when it has none.
    private mutating func tlsConfiguration(block: Int?, listenerName: String) throws(ConfigurationError) -> ListenerTLSConfiguration? {
        guard let lines = tlsLines[block], !lines.isEmpty else { return nil }
        func failure(_ message: String) -> ConfigurationError {
            let first = lines.values.map(\.line).min { $0.number < $1.number }!
            return first.error(.missingValue, message)
        }
        if lines["certfile"] == nil && lines["keyfile"] == nil {
            // Without a certificate the listener is plain: other TLS keys have nothing to act on.
            for (_, line) in lines.values.sorted(by: { $0.line.number < $1.line.number }) {
                warn(line, "key '\(line.key)' is ignored: \(listenerName) has no 'certfile' and 'keyfile', so no TLS")
            }
            return nil
        }
        guard let certificate = lines["certfile"]?.value, let key = lines["keyfile"]?.value else {
            throw failure("TLS on \(listenerName) needs both 'certfile' and 'keyfile'")
        }
        var tls = ListenerTLSConfiguration(certificateFile: certificate, keyFile: key)
        tls.caFile = lines["cafile"]?.value
        tls.caPath = lines["capath"]?.value
        tls.requireCertificate = lines["require_certificate"]?.value == "true"
        tls.useIdentityAsUsername = lines["use_identity_as_username"]?.value == "true"
        tls.useSubjectAsUsername = lines["use_subject_as_username"]?.value == "true"
        tls.minimumVersion = lines["tls_version"].flatMap { ListenerTLSConfiguration.Version(rawValue: $0.value) }
        tls.ciphers = lines["ciphers"]?.value
        if (tls.requireCertificate || tls.certificateNamesUser) && tls.caFile == nil && tls.caPath == nil {
            throw failure("client certificates on \(listenerName) need 'cafile' or 'capath'")
        }
        return tls
    }

    // MARK: - Includes

    /// Set by `include_dir`; the parser reads that folder's files before the next line.
    var pendingInclude: (path: String, line: ConfigurationLine)?
    /// Whether the lines being applied come from an included file (which may not include).
    var inIncludedFile = false

    // MARK: - Process

    var pidFile: String?

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

    mutating func addSecurityEdit(_ edit: SecurityEdit, line: ConfigurationLine) {
        securityEdits.append((currentListenerIndex, line, edit))
    }

    /// Applies the security lines: all to `configuration.security`, or, per listener, each to
    /// its block's listener (lines before the first `listener` go to the default listener).
    private mutating func applySecurityEdits(to listeners: inout [ListenerConfiguration]) throws(ConfigurationError) {
        var seen: [String: ConfigurationLine] = [:]
        for (block, line, edit) in securityEdits {
            let scope = configuration.perListenerSettings ? block.map { "\($0)" } ?? "default" : "global"
            let slot = "\(scope) \(line.key)"
            if let first = seen[slot], line.key != "allow_anonymous" {
                throw line.error(.invalidValue, "key '\(line.key)' is set more than once for the same listener (first on line \(first.number))")
            }
            seen[slot] = line
            func apply(_ settings: inout SecuritySettings) {
                switch edit {
                case .allowAnonymous(let value): settings.allowAnonymous = value
                case .passwordFile(let path): settings.passwordFile = path
                case .aclFile(let path): settings.aclFile = path
                }
            }
            if !configuration.perListenerSettings {
                apply(&configuration.security)
            } else if let block {
                var settings = listeners[block].security ?? SecuritySettings()
                apply(&settings)
                listeners[block].security = settings
            } else {
                apply(&configuration.security)
            }
        }
        guard configuration.perListenerSettings else { return }
        for index in listeners.indices where listeners[index].security == nil {
            // The default listener takes the lines written before any `listener`; the others
            // start from Mosquitto's defaults (anonymous clients refused), never from a
            // neighbour's settings.
            listeners[index].security = listeners[index].isDefaultListener ? configuration.security : SecuritySettings()
        }
    }

    mutating func finish() throws(ConfigurationError) -> (ParleyConfiguration, [ConfigurationWarning]) {
        try checkBridges()
        var listeners: [ListenerConfiguration] = []
        for (index, pending) in explicitListeners.enumerated() {
            var listener = pending.listener
            listener.tls = try tlsConfiguration(block: index, listenerName: "the listener on line \(pending.line)")
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
            var listener = defaultListener(from: legacy.listener)
            listener.tls = try tlsConfiguration(block: nil, listenerName: "the default listener")
            listeners.append(listener)
        } else if listeners.isEmpty {
            var listener = defaultListener(from: ListenerConfiguration(
                port: BrokerConfiguration.defaultPort,
                host: BrokerConfiguration.localOnlyHost,
                isDefaultListener: true
            ))
            listener.tls = try tlsConfiguration(block: nil, listenerName: "the default listener")
            listeners.append(listener)
        } else if let lines = tlsLines[nil], let first = lines.values.map(\.line).min(by: { $0.number < $1.number }) {
            throw first.error(.invalidValue, "key '\(first.key)' comes before any 'listener' line, and there is no default listener to apply it to")
        }
        // Anonymous clients: allowed in local-only mode, refused once a listener is opened,
        // unless an `allow_anonymous` line says otherwise (applied next).
        configuration.isLocalOnly = explicitListeners.isEmpty && legacyDefaultListener == nil
        configuration.security.allowAnonymous = configuration.isLocalOnly
        try applySecurityEdits(to: &listeners)
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
