import MQTTBroker
/// One configuration key Parley understands: its documentation and how it is applied.
///
/// All keys live in ``ParleyConfiguration/supportedKeys``; the README's configuration
/// table and `config/parley.conf` are generated from / checked against that table.
public struct ConfigurationKey: Sendable {
    /// Where a key takes effect.
    public enum Scope: String, Sendable, Equatable, CaseIterable {
        /// Applies to the whole broker, wherever it appears in the file.
        case global
        /// Applies to the current `listener` block; before the first `listener` line it
        /// sets the default for all listeners.
        case listener
        /// Configures the default listener (legacy `port` / `bind_address`).
        case defaultListener
        /// Applies to the bridge of the last `connection` line.
        case bridge
    }

    /// Whether Parley acts on the key.
    public enum Support: String, Sendable, Equatable, CaseIterable {
        /// Parsed and honoured (or stored for a component that honours it).
        case supported
        /// Accepted for Mosquitto compatibility; the value is validated, then ignored
        /// with a warning.
        case ignored
    }

    /// The key as written in the file, e.g. `max_connections`.
    public let name: String
    public let scope: Scope
    public let support: Support
    /// The default as it would be written in the file (e.g. `20`, `true`,
    /// `error warning notice information`), or a parenthesised description when the
    /// default cannot be written as a value (e.g. `(none)`, `(never)`).
    public let defaultValue: String
    /// One-line explanation.
    public let summary: String

    typealias Apply = @Sendable (inout ConfigurationParseState, ConfigurationLine) throws(ConfigurationError) -> Void
    let apply: Apply

    init(
        _ name: String,
        scope: Scope = .global,
        support: Support = .supported,
        default defaultValue: String,
        _ summary: String,
        apply: @escaping Apply
    ) {
        self.name = name
        self.scope = scope
        self.support = support
        self.defaultValue = defaultValue
        self.summary = summary
        self.apply = apply
    }

    /// Whether ``defaultValue`` is a literal value that can be written after the key.
    public var defaultIsLiteral: Bool { !defaultValue.hasPrefix("(") }

    /// A Markdown table (`Key | Scope | Default | Description`) of `keys`, for the README.
    public static func markdownTable(_ keys: [ConfigurationKey]) -> String {
        var rows = [
            "| Key | Scope | Default | Description |",
            "| --- | --- | --- | --- |",
        ]
        for key in keys {
            let defaultText = key.defaultIsLiteral ? "`\(key.defaultValue)`" : key.defaultValue
            var summary = key.support == .ignored ? "Ignored (warning). \(key.summary)" : key.summary
            // A bare `|` would end the cell, even inside backticks.
            summary = summary.replacingOccurrences(of: "|", with: "\\|")
            rows.append("| `\(key.name)` | \(key.scope.rawValue) | \(defaultText) | \(summary) |")
        }
        return rows.joined(separator: "\n") + "\n"
    }
}
