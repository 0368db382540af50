import MQTTBroker
/// Where log messages go (Mosquitto's `log_dest` key).
///
/// Only destinations Parley can actually write to are represented. In a configuration
/// file, `log_dest syslog`, `log_dest topic` and `log_dest dlt` are accepted with a
/// warning and left out; if that leaves no destination at all, Parley falls back to
/// ``stderr`` (again with a warning) rather than silently logging nowhere.
/// `log_dest none` produces an empty list, which means logging is disabled.
public enum LogDestination: Sendable, Equatable, Hashable {
    case stdout
    case stderr
    /// Append to the file at this path.
    case file(String)
}
