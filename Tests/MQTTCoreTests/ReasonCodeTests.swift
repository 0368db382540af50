import MQTTCore
import NIOCore
import Testing

@Suite("Reason codes")
struct ReasonCodeTests {
    /// MQTT 3.1.1 §3.2.2.3, Table 3.1: the CONNACK return codes and the v5 reason each reads as.
    @Test("A 3.1.1 CONNACK return code reads as its v5 reason", arguments: [
        (0x00, ReasonCode.success),
        (0x01, .unsupportedProtocolVersion),
        (0x02, .clientIdentifierNotValid),
        (0x03, .serverUnavailable),
        (0x04, .badUserNameOrPassword),
        (0x05, .notAuthorized),
    ] as [(UInt8, ReasonCode)])
    func fromV3(code: UInt8, reason: ReasonCode) {
        #expect(ReasonCode.fromConnectReturnCodeV3(code) == reason)
        #expect(reason.connectReturnCodeV3 == code, "and back")
    }

    @Test("Reserved 3.1.1 return codes 6–255 read as not authorized", arguments: [0x06, 0x7F, 0x80, 0x87, 0xFF] as [UInt8])
    func reservedV3Codes(code: UInt8) {
        #expect(ReasonCode.fromConnectReturnCodeV3(code) == .notAuthorized)
    }

    @Test("A v5 CONNACK reason becomes the nearest 3.1.1 return code", arguments: [
        (ReasonCode.success, 0x00),
        (.unsupportedProtocolVersion, 0x01),
        (.clientIdentifierNotValid, 0x02),
        (.serverUnavailable, 0x03),
        (.serverBusy, 0x03),
        (.serverShuttingDown, 0x03),
        (.useAnotherServer, 0x03),
        (.serverMoved, 0x03),
        (.connectionRateExceeded, 0x03),
        (.badUserNameOrPassword, 0x04),
        (.badAuthenticationMethod, 0x04),
        (.notAuthorized, 0x05),
        (.banned, 0x05),
        (.unspecifiedError, 0x05),
        (.malformedPacket, 0x05),
        (.protocolError, 0x05),
        (.implementationSpecificError, 0x05),
        (.packetTooLarge, 0x05),
        (.quotaExceeded, 0x05),
        (.payloadFormatInvalid, 0x05),
        (.retainNotSupported, 0x05),
        (.qosNotSupported, 0x05),
    ] as [(ReasonCode, UInt8)])
    func toV3(reason: ReasonCode, code: UInt8) throws {
        #expect(reason.connectReturnCodeV3 == code)
        // And that is what a 3.1.1 CONNACK carries on the wire.
        let bytes = Wire.encode(.connack(ConnAckPacket(reasonCode: reason)), version: .v3_1_1)
        #expect(bytes == [0x20, 0x02, 0x00, code])
    }

    @Test("A v5 CONNACK carries the reason code byte unchanged", arguments: [0x00, 0x80, 0x84, 0x87, 0x8A, 0x9F, 0xFE] as [UInt8])
    func v5ConnackCarriesRawCode(code: UInt8) throws {
        let packet = MQTTPacket.connack(ConnAckPacket(reasonCode: ReasonCode(rawValue: code)))
        #expect(Wire.encode(packet, version: .v5) == [0x20, 0x03, 0x00, code, 0x00])
        #expect(try Wire.roundTrip(packet, version: .v5) == packet)
    }

    @Test("Named codes have the spec's byte values")
    func namedValues() {
        let table: [(ReasonCode, UInt8)] = [
            (.success, 0x00), (.normalDisconnection, 0x00), (.grantedQoS0, 0x00), (.grantedQoS1, 0x01),
            (.grantedQoS2, 0x02), (.disconnectWithWillMessage, 0x04), (.noMatchingSubscribers, 0x10),
            (.noSubscriptionExisted, 0x11), (.continueAuthentication, 0x18), (.reAuthenticate, 0x19),
            (.unspecifiedError, 0x80), (.malformedPacket, 0x81), (.protocolError, 0x82),
            (.implementationSpecificError, 0x83), (.unsupportedProtocolVersion, 0x84),
            (.clientIdentifierNotValid, 0x85), (.badUserNameOrPassword, 0x86), (.notAuthorized, 0x87),
            (.serverUnavailable, 0x88), (.serverBusy, 0x89), (.banned, 0x8A), (.serverShuttingDown, 0x8B),
            (.badAuthenticationMethod, 0x8C), (.keepAliveTimeout, 0x8D), (.sessionTakenOver, 0x8E),
            (.topicFilterInvalid, 0x8F), (.topicNameInvalid, 0x90), (.packetIdentifierInUse, 0x91),
            (.packetIdentifierNotFound, 0x92), (.receiveMaximumExceeded, 0x93), (.topicAliasInvalid, 0x94),
            (.packetTooLarge, 0x95), (.messageRateTooHigh, 0x96), (.quotaExceeded, 0x97),
            (.administrativeAction, 0x98), (.payloadFormatInvalid, 0x99), (.retainNotSupported, 0x9A),
            (.qosNotSupported, 0x9B), (.useAnotherServer, 0x9C), (.serverMoved, 0x9D),
            (.sharedSubscriptionsNotSupported, 0x9E), (.connectionRateExceeded, 0x9F), (.maximumConnectTime, 0xA0),
            (.subscriptionIdentifiersNotSupported, 0xA1), (.wildcardSubscriptionsNotSupported, 0xA2),
        ]
        for (reason, value) in table {
            #expect(reason.rawValue == value, "\(reason)")
        }
    }

    @Test("isFailure is true from 0x80", arguments: [(0x00, false), (0x02, false), (0x7F, false), (0x80, true), (0xA2, true), (0xFF, true)] as [(UInt8, Bool)])
    func isFailure(raw: UInt8, failure: Bool) {
        #expect(ReasonCode(rawValue: raw).isFailure == failure)
    }

    @Test("granted(_:) is the SUBACK code for each QoS", arguments: QoS.allCases)
    func granted(qos: QoS) {
        #expect(ReasonCode.granted(qos).rawValue == qos.rawValue)
        #expect(!ReasonCode.granted(qos).isFailure)
    }

    @Test("description is two upper-case hex digits", arguments: [
        (0x00, "0x00"), (0x04, "0x04"), (0x0F, "0x0F"), (0x10, "0x10"), (0x87, "0x87"), (0xA2, "0xA2"), (0xFF, "0xFF"),
    ] as [(UInt8, String)])
    func description(raw: UInt8, text: String) {
        #expect(ReasonCode(rawValue: raw).description == text)
    }

    @Test("Aliases for 0x00 are equal")
    func aliases() {
        #expect(ReasonCode.success == .normalDisconnection)
        #expect(ReasonCode.success == .grantedQoS0)
        #expect(ReasonCode.granted(.atMostOnce) == .success)
    }
}

@Suite("Protocol versions, QoS and packet types")
struct ProtocolBasicsTests {
    @Test("Protocol levels, names and descriptions")
    func versions() {
        #expect(ProtocolVersion(rawValue: 3) == .v3_1)
        #expect(ProtocolVersion(rawValue: 4) == .v3_1_1)
        #expect(ProtocolVersion(rawValue: 5) == .v5)
        #expect(ProtocolVersion(rawValue: 2) == nil)
        #expect(ProtocolVersion(rawValue: 6) == nil)
        #expect(ProtocolVersion.v3_1.protocolName == "MQIsdp")
        #expect(ProtocolVersion.v3_1_1.protocolName == "MQTT")
        #expect(ProtocolVersion.v5.protocolName == "MQTT")
        #expect(!ProtocolVersion.v3_1.hasProperties)
        #expect(!ProtocolVersion.v3_1_1.hasProperties)
        #expect(ProtocolVersion.v5.hasProperties)
        #expect(ProtocolVersion.v3_1 < .v3_1_1 && ProtocolVersion.v3_1_1 < .v5)
        #expect(allVersions.map(\.description) == ["3.1", "3.1.1", "5.0"])
    }

    @Test("QoS order and description")
    func qos() {
        #expect(QoS.allCases == [.atMostOnce, .atLeastOnce, .exactlyOnce])
        #expect(QoS.atMostOnce < .atLeastOnce && QoS.atLeastOnce < .exactlyOnce)
        #expect(QoS(rawValue: 3) == nil)
        #expect(QoS.exactlyOnce.description == "QoS 2")
    }

    @Test("Packet types have the spec's numbers and names")
    func packetTypes() {
        let table: [(PacketType, UInt8, String)] = [
            (.connect, 1, "CONNECT"), (.connack, 2, "CONNACK"), (.publish, 3, "PUBLISH"), (.puback, 4, "PUBACK"),
            (.pubrec, 5, "PUBREC"), (.pubrel, 6, "PUBREL"), (.pubcomp, 7, "PUBCOMP"), (.subscribe, 8, "SUBSCRIBE"),
            (.suback, 9, "SUBACK"), (.unsubscribe, 10, "UNSUBSCRIBE"), (.unsuback, 11, "UNSUBACK"),
            (.pingreq, 12, "PINGREQ"), (.pingresp, 13, "PINGRESP"), (.disconnect, 14, "DISCONNECT"), (.auth, 15, "AUTH"),
        ]
        for (type, value, name) in table {
            #expect(type.rawValue == value)
            #expect(type.description == name)
        }
        #expect(PacketType(rawValue: 0) == nil)
    }
}
