import MQTTCore

/// A connection's will, held by reference: a `Will` with its MQTT 5 properties is about 300
/// bytes, read once when the connection ends, and most clients have none, so the handler keeps
/// a pointer instead of the value.
final class HeldWill {
    let will: Will

    init(_ will: Will) {
        self.will = will
    }
}
