import MQTTBroker
/// A category of log message (Mosquitto's `log_type` key).
///
/// The pseudo values `none` and `all` from the configuration file are not cases:
/// `log_type none` yields an empty set and `log_type all` yields `Set(LogType.allCases)`.
public enum LogType: String, Sendable, Equatable, Hashable, CaseIterable {
    case error
    case warning
    case notice
    case information
    case subscribe
    case unsubscribe
    case websockets
    case debug
    /// Mosquitto's internal diagnostics category; accepted for compatibility.
    case `internal`

    /// The categories logged when no `log_type` line is given.
    public static let defaultTypes: Set<LogType> = [.error, .warning, .notice, .information]
}
