import MQTTCore
import NIOCore
import Testing

/// The places an MQTT 5 property set appears, one per packet (and the will inside CONNECT).
enum PropertyCarrier: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case connect, connack, publish, will, puback, pubrec, pubrel, pubcomp, subscribe, suback, unsubscribe, unsuback, disconnect, auth

    var testDescription: String { rawValue.uppercased() }

    /// A v5 packet carrying `properties` in this place and nothing else unusual.
    func packet(carrying properties: MQTTProperties) -> MQTTPacket {
        switch self {
        case .connect:
            .connect(ConnectPacket(protocolVersion: .v5, clientIdentifier: "c", properties: properties))
        case .will:
            .connect(ConnectPacket(
                protocolVersion: .v5, clientIdentifier: "c",
                will: Will(topic: "w", payload: Wire.buffer("x"), properties: properties)))
        case .connack: .connack(ConnAckPacket(properties: properties))
        case .publish:
            .publish(PublishPacket(topic: "t", payload: Wire.buffer("p"), qos: .atLeastOnce, packetIdentifier: 1, properties: properties))
        case .puback: .puback(PublishResponsePacket(packetIdentifier: 1, properties: properties))
        case .pubrec: .pubrec(PublishResponsePacket(packetIdentifier: 1, properties: properties))
        case .pubrel: .pubrel(PublishResponsePacket(packetIdentifier: 1, properties: properties))
        case .pubcomp: .pubcomp(PublishResponsePacket(packetIdentifier: 1, properties: properties))
        case .subscribe: .subscribe(SubscribePacket(packetIdentifier: 1, subscriptions: [.init(topicFilter: "t")], properties: properties))
        case .suback: .suback(SubAckPacket(packetIdentifier: 1, reasonCodes: [.grantedQoS0], properties: properties))
        case .unsubscribe: .unsubscribe(UnsubscribePacket(packetIdentifier: 1, topicFilters: ["t"], properties: properties))
        case .unsuback: .unsuback(UnsubAckPacket(packetIdentifier: 1, reasonCodes: [.success], properties: properties))
        case .disconnect: .disconnect(DisconnectPacket(properties: properties))
        case .auth: .auth(AuthPacket(reasonCode: .continueAuthentication, properties: properties))
        }
    }

    /// The source's context flag for this place.
    var context: PropertyIdentifier.Contexts {
        switch self {
        case .connect: .connect
        case .connack: .connack
        case .publish: .publish
        case .will: .will
        case .puback, .pubrec, .pubrel, .pubcomp: .publishResponse
        case .subscribe: .subscribe
        case .suback: .suback
        case .unsubscribe: .unsubscribe
        case .unsuback: .unsuback
        case .disconnect: .disconnect
        case .auth: .auth
        }
    }
}

/// MQTT 5.0 §2.2.2.2, Table 2-4, written out independently of the source.
func specCarriers(_ identifier: PropertyIdentifier) -> Set<PropertyCarrier> {
    let publishResponses: Set<PropertyCarrier> = [.puback, .pubrec, .pubrel, .pubcomp]
    switch identifier {
    case .payloadFormatIndicator, .messageExpiryInterval, .contentType, .responseTopic, .correlationData:
        return [.publish, .will]
    case .subscriptionIdentifier: return [.publish, .subscribe]
    case .sessionExpiryInterval: return [.connect, .connack, .disconnect]
    case .assignedClientIdentifier, .serverKeepAlive, .responseInformation, .maximumQoS, .retainAvailable,
        .wildcardSubscriptionAvailable, .subscriptionIdentifierAvailable, .sharedSubscriptionAvailable:
        return [.connack]
    case .authenticationMethod, .authenticationData: return [.connect, .connack, .auth]
    case .requestProblemInformation, .requestResponseInformation: return [.connect]
    case .willDelayInterval: return [.will]
    case .serverReference: return [.connack, .disconnect]
    case .reasonString: return publishResponses.union([.connack, .suback, .unsuback, .disconnect, .auth])
    case .receiveMaximum, .topicAliasMaximum, .maximumPacketSize: return [.connect, .connack]
    case .topicAlias: return [.publish]
    case .userProperty: return Set(PropertyCarrier.allCases)
    }
}

/// Properties with only `identifier` set, to a value that is not a default.
func sampleProperties(_ identifier: PropertyIdentifier) -> MQTTProperties {
    var p = MQTTProperties()
    switch identifier {
    case .payloadFormatIndicator: p.payloadFormatIndicator = 1
    case .messageExpiryInterval: p.messageExpiryInterval = 0xDEAD_BEEF
    case .contentType: p.contentType = "text/plain; charset=utf-8"
    case .responseTopic: p.responseTopic = "responses/client-1"
    case .correlationData: p.correlationData = Wire.buffer([0x00, 0x01, 0xFF])
    case .subscriptionIdentifier: p.subscriptionIdentifiers = [268_435_455]
    case .sessionExpiryInterval: p.sessionExpiryInterval = 0xFFFF_FFFF
    case .assignedClientIdentifier: p.assignedClientIdentifier = "auto-7F3A"
    case .serverKeepAlive: p.serverKeepAlive = 0xABCD
    case .authenticationMethod: p.authenticationMethod = "SCRAM-SHA-1"
    case .authenticationData: p.authenticationData = Wire.buffer([1, 2, 3, 4, 5])
    case .requestProblemInformation: p.requestProblemInformation = 0
    case .willDelayInterval: p.willDelayInterval = 86_400
    case .requestResponseInformation: p.requestResponseInformation = 1
    case .responseInformation: p.responseInformation = "reply/"
    case .serverReference: p.serverReference = "broker2.example:1883"
    case .reasonString: p.reasonString = "a reason ✓"
    case .receiveMaximum: p.receiveMaximum = 0xFFFF
    case .topicAliasMaximum: p.topicAliasMaximum = 10
    case .topicAlias: p.topicAlias = 0x0102
    case .maximumQoS: p.maximumQoS = 1
    case .retainAvailable: p.retainAvailable = 0
    case .userProperty: p.userProperties = [UserProperty("name", "value")]
    case .maximumPacketSize: p.maximumPacketSize = 0x0102_0304
    case .wildcardSubscriptionAvailable: p.wildcardSubscriptionAvailable = 0
    case .subscriptionIdentifierAvailable: p.subscriptionIdentifierAvailable = 1
    case .sharedSubscriptionAvailable: p.sharedSubscriptionAvailable = 0
    }
    return p
}

@Suite("MQTT 5 properties")
struct PropertyTests {
    @Test("Each property identifier has the spec's byte value")
    func identifierBytes() {
        let expected: [PropertyIdentifier: UInt8] = [
            .payloadFormatIndicator: 0x01, .messageExpiryInterval: 0x02, .contentType: 0x03, .responseTopic: 0x08,
            .correlationData: 0x09, .subscriptionIdentifier: 0x0B, .sessionExpiryInterval: 0x11,
            .assignedClientIdentifier: 0x12, .serverKeepAlive: 0x13, .authenticationMethod: 0x15,
            .authenticationData: 0x16, .requestProblemInformation: 0x17, .willDelayInterval: 0x18,
            .requestResponseInformation: 0x19, .responseInformation: 0x1A, .serverReference: 0x1C,
            .reasonString: 0x1F, .receiveMaximum: 0x21, .topicAliasMaximum: 0x22, .topicAlias: 0x23,
            .maximumQoS: 0x24, .retainAvailable: 0x25, .userProperty: 0x26, .maximumPacketSize: 0x27,
            .wildcardSubscriptionAvailable: 0x28, .subscriptionIdentifierAvailable: 0x29,
            .sharedSubscriptionAvailable: 0x2A,
        ]
        #expect(PropertyIdentifier.allCases.count == expected.count)
        for identifier in PropertyIdentifier.allCases {
            #expect(identifier.rawValue == expected[identifier], "\(identifier)")
        }
    }

    @Test("allowedContexts agrees with the spec's table", arguments: PropertyIdentifier.allCases)
    func allowedContextsMatchSpec(identifier: PropertyIdentifier) {
        for carrier in PropertyCarrier.allCases {
            #expect(
                identifier.allowedContexts.contains(carrier.context) == specCarriers(identifier).contains(carrier),
                "\(identifier) in \(carrier)")
        }
    }

    @Test(
        "A property round-trips where the spec allows it; elsewhere it is a protocol error, malformed on (UN)SUBSCRIBE",
        arguments: PropertyIdentifier.allCases, PropertyCarrier.allCases)
    func propertyInEachPacket(identifier: PropertyIdentifier, carrier: PropertyCarrier) throws {
        let packet = carrier.packet(carrying: sampleProperties(identifier))
        if specCarriers(identifier).contains(carrier) {
            #expect(try Wire.roundTrip(packet, version: .v5) == packet)
        } else {
            let error = try Wire.decodeError(Wire.encode(packet, version: .v5), version: .v5)
            let expected: ReasonCode = carrier == .subscribe || carrier == .unsubscribe ? .malformedPacket : .protocolError
            #expect(error?.reasonCode == expected)
        }
    }

    @Test("Subscription identifiers repeat in PUBLISH, in order, with every VBI width")
    func repeatedSubscriptionIdentifiersInPublish() throws {
        var properties = MQTTProperties()
        properties.subscriptionIdentifiers = [5, 1, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152, 268_435_455, 5]
        let packet = MQTTPacket.publish(PublishPacket(topic: "t", payload: Wire.buffer([]), properties: properties))
        #expect(try Wire.roundTrip(packet, version: .v5) == packet)
    }

    @Test("A subscription identifier is written as a variable byte integer")
    func subscriptionIdentifierEncoding() {
        var properties = MQTTProperties()
        properties.subscriptionIdentifiers = [268_435_455]
        let bytes = Wire.encode(.publish(PublishPacket(topic: "t", payload: Wire.buffer([]), properties: properties)), version: .v5)
        // 30 09 | 00 01 74 | 05 | 0B FF FF FF 7F
        #expect(bytes == [0x30, 0x09, 0x00, 0x01, 0x74, 0x05, 0x0B, 0xFF, 0xFF, 0xFF, 0x7F])
    }

    @Test("User properties keep their order and duplicates", arguments: PropertyCarrier.allCases)
    func userPropertiesKeepOrder(carrier: PropertyCarrier) throws {
        var properties = MQTTProperties()
        properties.userProperties = [
            UserProperty("b", "2"), UserProperty("a", "1"), UserProperty("b", "2"), UserProperty("", ""),
            UserProperty("ключ", "значение"),
        ]
        let packet = carrier.packet(carrying: properties)
        #expect(try Wire.roundTrip(packet, version: .v5) == packet)
    }

    @Test("A property set's length prefix covers large property sets (multi-byte VBI)")
    func largePropertySet() throws {
        var properties = MQTTProperties()
        properties.userProperties = (0..<2000).map { UserProperty("key\($0)", String(repeating: "v", count: $0 % 17)) }
        properties.reasonString = String(repeating: "r", count: 65_535)
        let packet = MQTTPacket.disconnect(DisconnectPacket(reasonCode: .administrativeAction, properties: properties))
        #expect(try Wire.roundTrip(packet, version: .v5) == packet)
    }

    @Test("Empty properties are written as a single zero length byte")
    func emptyPropertiesAreOneZeroByte() {
        // SUBACK v5: 90 04 | 00 01 | 00 (property length) | 00
        #expect(Wire.encode(.suback(SubAckPacket(packetIdentifier: 1, reasonCodes: [.grantedQoS0])), version: .v5)
            == [0x90, 0x04, 0x00, 0x01, 0x00, 0x00])
    }

    @Test("isEmpty and none")
    func emptiness() {
        #expect(MQTTProperties.none.isEmpty)
        #expect(MQTTProperties().isEmpty)
        for identifier in PropertyIdentifier.allCases {
            #expect(!sampleProperties(identifier).isEmpty, "\(identifier)")
        }
        var emptyBinary = MQTTProperties()
        emptyBinary.correlationData = Wire.buffer([])
        #expect(!emptyBinary.isEmpty, "an empty but present correlation data is still a property")
    }

    @Test("A present but empty binary or string property survives the round trip")
    func emptyValuesArePresent() throws {
        var properties = MQTTProperties()
        properties.correlationData = Wire.buffer([])
        properties.contentType = ""
        let packet = MQTTPacket.publish(PublishPacket(topic: "t", payload: Wire.buffer([]), properties: properties))
        #expect(try Wire.roundTrip(packet, version: .v5) == packet)
    }
}
