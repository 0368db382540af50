/// Why a peer's bytes could not be accepted, with the reason code to report.
///
/// This is the one place where decoding and protocol failures are mapped to MQTT reason codes:
/// every check that rejects input throws one of these factory values, so the broker never has
/// to guess which code a failure deserves.
public struct MQTTProtocolError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The reason code a v5 peer is told (DISCONNECT or CONNACK); 3.1.1 peers are disconnected.
    public var reasonCode: ReasonCode
    /// What was wrong, in words for a log line.
    public var message: String

    public init(_ reasonCode: ReasonCode, _ message: String) {
        self.reasonCode = reasonCode
        self.message = message
    }

    public static func malformed(_ message: String) -> Self { .init(.malformedPacket, message) }
    public static func protocolViolation(_ message: String) -> Self { .init(.protocolError, message) }
    public static func packetTooLarge(size: Int, limit: Int) -> Self {
        .init(.packetTooLarge, "packet of \(size) bytes exceeds the maximum packet size of \(limit)")
    }
    public static func topicNameInvalid(_ message: String) -> Self { .init(.topicNameInvalid, message) }
    public static func topicFilterInvalid(_ message: String) -> Self { .init(.topicFilterInvalid, message) }

    public var description: String { "\(message) (reason \(reasonCode))" }
}
