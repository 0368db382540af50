/// The protocol level a client announced in CONNECT; it fixes how every later packet on that
/// connection is read and written.
public enum ProtocolVersion: UInt8, Sendable, Hashable, Comparable, CustomStringConvertible {
    /// MQTT 3.1, protocol name `MQIsdp`.
    case v3_1 = 3
    /// MQTT 3.1.1, protocol name `MQTT`.
    case v3_1_1 = 4
    /// MQTT 5.0, protocol name `MQTT`.
    case v5 = 5

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }

    /// Whether packets carry properties and reason codes.
    @inlinable public var hasProperties: Bool { self == .v5 }

    /// The protocol name a CONNECT at this level must carry.
    public var protocolName: String { self == .v3_1 ? "MQIsdp" : "MQTT" }

    public var description: String {
        switch self {
        case .v3_1: "3.1"
        case .v3_1_1: "3.1.1"
        case .v5: "5.0"
        }
    }
}
