/// The options byte of one SUBSCRIBE entry (MQTT 5 §3.8.3.1; only `qos` exists before v5).
public struct SubscriptionOptions: Sendable, Hashable {
    /// When retained messages are sent at subscribe time.
    public enum RetainHandling: UInt8, Sendable, Hashable {
        case sendOnSubscribe = 0
        case sendOnSubscribeIfNew = 1
        case doNotSend = 2
    }

    public var qos: QoS
    public var noLocal: Bool
    public var retainAsPublished: Bool
    public var retainHandling: RetainHandling

    public init(qos: QoS = .atMostOnce, noLocal: Bool = false, retainAsPublished: Bool = false, retainHandling: RetainHandling = .sendOnSubscribe) {
        self.qos = qos
        self.noLocal = noLocal
        self.retainAsPublished = retainAsPublished
        self.retainHandling = retainHandling
    }

    var byte: UInt8 {
        qos.rawValue | (noLocal ? 0x04 : 0) | (retainAsPublished ? 0x08 : 0) | (retainHandling.rawValue << 4)
    }

    init(byte: UInt8, version: ProtocolVersion) throws(MQTTProtocolError) {
        let reservedMask: UInt8 = version.hasProperties ? 0xC0 : 0xFC
        guard byte & reservedMask == 0 else { throw .malformed("SUBSCRIBE options reserved bits set") }
        guard let qos = QoS(rawValue: byte & 0x03) else { throw .malformed("SUBSCRIBE with QoS 3") }
        guard let handling = RetainHandling(rawValue: (byte >> 4) & 0x03) else {
            throw .protocolViolation("SUBSCRIBE with retain handling 3")
        }
        self.init(qos: qos, noLocal: byte & 0x04 != 0, retainAsPublished: byte & 0x08 != 0, retainHandling: handling)
    }
}
