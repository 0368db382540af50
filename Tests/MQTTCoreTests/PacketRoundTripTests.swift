import MQTTCore
import NIOCore
import Testing

/// One packet to send through encode → frame → decode at one protocol version.
struct RoundTripCase: Sendable, CustomTestStringConvertible {
    var name: String
    var packet: MQTTPacket
    var version: ProtocolVersion

    var testDescription: String { "\(name) @ \(version)" }
}

/// Builders for the round-trip table. A CONNECT carries its own protocol level, so it is built
/// per version; every other packet is the same value at each level where it exists.
private enum Samples {
    static let payload = Wire.buffer([0x00, 0xFF, 0x10, 0x80, 0x7F])

    static func userProperties(_ pairs: (String, String)...) -> MQTTProperties {
        var properties = MQTTProperties()
        properties.userProperties = pairs.map { UserProperty($0.0, $0.1) }
        return properties
    }

    static func connects(_ version: ProtocolVersion) -> [(String, ConnectPacket)] {
        var cases: [(String, ConnectPacket)] = [
            ("CONNECT minimal", ConnectPacket(protocolVersion: version, clientIdentifier: "client-1")),
            ("CONNECT persistent session, keep alive 0, empty client id",
             ConnectPacket(protocolVersion: version, cleanStart: false, keepAlive: 0, clientIdentifier: "")),
            ("CONNECT keep alive 65535", ConnectPacket(protocolVersion: version, keepAlive: .max, clientIdentifier: "k")),
            ("CONNECT with user name", ConnectPacket(protocolVersion: version, clientIdentifier: "c", username: "alice")),
            ("CONNECT with user name and password",
             ConnectPacket(protocolVersion: version, clientIdentifier: "c", username: "alice", password: Wire.buffer("s3cr3t"))),
            ("CONNECT with user name and empty password",
             ConnectPacket(protocolVersion: version, clientIdentifier: "c", username: "", password: Wire.buffer([]))),
            ("CONNECT non-ASCII client id", ConnectPacket(protocolVersion: version, clientIdentifier: "clïent-ß-€-😀")),
        ]
        for qos in QoS.allCases {
            for retain in [false, true] {
                cases.append((
                    "CONNECT with will \(qos) retain \(retain)",
                    ConnectPacket(
                        protocolVersion: version, clientIdentifier: "c",
                        will: Will(topic: "clients/c/status", payload: Wire.buffer("gone"), qos: qos, retain: retain))
                ))
            }
        }
        cases.append((
            "CONNECT with will, user name and password",
            ConnectPacket(
                protocolVersion: version, cleanStart: false, keepAlive: 30, clientIdentifier: "everything",
                will: Will(topic: "w", payload: payload, qos: .exactlyOnce, retain: true),
                username: "u", password: payload)
        ))
        if version != .v5 {
            cases.append((
                "CONNECT from a Mosquitto bridge (try_private flag on the level)",
                ConnectPacket(protocolVersion: version, cleanStart: false, clientIdentifier: "bridge", isBridge: true)
            ))
        }
        cases.append((
            "CONNECT with will with an empty payload",
            ConnectPacket(protocolVersion: version, clientIdentifier: "c", will: Will(topic: "w", payload: Wire.buffer([])))
        ))
        if version == .v5 {
            var properties = MQTTProperties()
            properties.sessionExpiryInterval = 0xFFFF_FFFF
            properties.receiveMaximum = 10
            properties.maximumPacketSize = 1024
            properties.topicAliasMaximum = 5
            properties.requestResponseInformation = 1
            properties.requestProblemInformation = 0
            properties.authenticationMethod = "SCRAM-SHA-1"
            properties.authenticationData = Wire.buffer([1, 2, 3])
            properties.userProperties = [UserProperty("a", "1"), UserProperty("a", "2")]
            var willProperties = MQTTProperties()
            willProperties.willDelayInterval = 30
            willProperties.payloadFormatIndicator = 1
            willProperties.messageExpiryInterval = 3600
            willProperties.contentType = "text/plain"
            willProperties.responseTopic = "replies/c"
            willProperties.correlationData = Wire.buffer([9, 8, 7])
            willProperties.userProperties = [UserProperty("why", "crash")]
            cases.append((
                "CONNECT v5 password without user name",
                ConnectPacket(protocolVersion: version, clientIdentifier: "c", password: Wire.buffer("token"))
            ))
            cases.append((
                "CONNECT v5 with properties and will properties",
                ConnectPacket(
                    protocolVersion: version, clientIdentifier: "c",
                    will: Will(topic: "w/x", payload: Wire.buffer("bye"), qos: .atLeastOnce, properties: willProperties),
                    username: "u", password: Wire.buffer("p"), properties: properties)
            ))
        }
        return cases
    }

    /// Packets other than CONNECT that exist at every level and carry nothing v5-only.
    static let common: [(String, MQTTPacket)] = [
        ("CONNACK accepted", .connack(ConnAckPacket())),
        ("CONNACK unacceptable protocol version", .connack(ConnAckPacket(reasonCode: .unsupportedProtocolVersion))),
        ("CONNACK identifier rejected", .connack(ConnAckPacket(reasonCode: .clientIdentifierNotValid))),
        ("CONNACK server unavailable", .connack(ConnAckPacket(reasonCode: .serverUnavailable))),
        ("CONNACK bad user name or password", .connack(ConnAckPacket(reasonCode: .badUserNameOrPassword))),
        ("CONNACK not authorized", .connack(ConnAckPacket(reasonCode: .notAuthorized))),
        ("PUBLISH QoS 0", .publish(PublishPacket(topic: "a/b", payload: Wire.buffer("hello")))),
        ("PUBLISH QoS 0 retained", .publish(PublishPacket(topic: "a/b", payload: Wire.buffer("hello"), retain: true))),
        ("PUBLISH QoS 0 empty payload", .publish(PublishPacket(topic: "a", payload: Wire.buffer([])))),
        ("PUBLISH QoS 1", .publish(PublishPacket(topic: "a/b", payload: payload, qos: .atLeastOnce, packetIdentifier: 1))),
        ("PUBLISH QoS 1 DUP", .publish(PublishPacket(topic: "a/b", payload: payload, qos: .atLeastOnce, duplicate: true, packetIdentifier: 2))),
        ("PUBLISH QoS 1 DUP retained", .publish(PublishPacket(topic: "a/b", payload: payload, qos: .atLeastOnce, retain: true, duplicate: true, packetIdentifier: 0xFFFF))),
        ("PUBLISH QoS 2", .publish(PublishPacket(topic: "a/b", payload: payload, qos: .exactlyOnce, packetIdentifier: 0x1234))),
        ("PUBLISH QoS 2 DUP retained", .publish(PublishPacket(topic: "a/b", payload: payload, qos: .exactlyOnce, retain: true, duplicate: true, packetIdentifier: 7))),
        ("PUBLISH leading slash, empty levels", .publish(PublishPacket(topic: "/a//b/", payload: payload))),
        ("PUBLISH $SYS topic", .publish(PublishPacket(topic: "$SYS/broker/uptime", payload: Wire.buffer("1")))),
        ("PUBLISH non-ASCII topic", .publish(PublishPacket(topic: "température/°C/日本", payload: Wire.buffer("21")))),
        ("PUBLISH 200-byte payload (two-byte remaining length)", .publish(PublishPacket(topic: "t", payload: Wire.buffer([UInt8](repeating: 0xAB, count: 200))))),
        ("PUBACK", .puback(PublishResponsePacket(packetIdentifier: 1))),
        ("PUBREC", .pubrec(PublishResponsePacket(packetIdentifier: 0x8000))),
        ("PUBREL", .pubrel(PublishResponsePacket(packetIdentifier: 0xFFFF))),
        ("PUBCOMP", .pubcomp(PublishResponsePacket(packetIdentifier: 42))),
        ("SUBSCRIBE one filter", .subscribe(SubscribePacket(packetIdentifier: 1, subscriptions: [.init(topicFilter: "a/b")]))),
        ("SUBSCRIBE each QoS", .subscribe(SubscribePacket(packetIdentifier: 9, subscriptions: [
            .init(topicFilter: "a/+", options: .init(qos: .atMostOnce)),
            .init(topicFilter: "#", options: .init(qos: .atLeastOnce)),
            .init(topicFilter: "$SYS/#", options: .init(qos: .exactlyOnce)),
            .init(topicFilter: "$share/group/x/+/y", options: .init(qos: .atLeastOnce)),
        ]))),
        ("SUBACK granted and failed", .suback(SubAckPacket(packetIdentifier: 9, reasonCodes: [.grantedQoS0, .grantedQoS1, .grantedQoS2, .unspecifiedError]))),
        ("UNSUBSCRIBE", .unsubscribe(UnsubscribePacket(packetIdentifier: 3, topicFilters: ["a/b", "#", "+/x"]))),
        ("PINGREQ", .pingreq),
        ("PINGRESP", .pingresp),
        ("DISCONNECT", .disconnect(DisconnectPacket())),
    ]

    /// Packets that round-trip at 3.1.1 and 5 but not 3.1, which has no Session Present flag.
    static let fromV311: [(String, MQTTPacket)] = [
        ("CONNACK accepted, session present", .connack(ConnAckPacket(sessionPresent: true))),
    ]

    /// Packets that exist only as written here at 3.1 and 3.1.1.
    static let v3Only: [(String, MQTTPacket)] = [
        ("UNSUBACK", .unsuback(UnsubAckPacket(packetIdentifier: 3))),
    ]

    /// Packets and fields only MQTT 5 has.
    static var v5Only: [(String, MQTTPacket)] {
        var publishProperties = MQTTProperties()
        publishProperties.payloadFormatIndicator = 1
        publishProperties.messageExpiryInterval = 120
        publishProperties.contentType = "application/json"
        publishProperties.responseTopic = "reply/to/me"
        publishProperties.correlationData = Wire.buffer([0xDE, 0xAD])
        publishProperties.subscriptionIdentifiers = [1, 127, 128, 16_383, 16_384, 268_435_455]
        publishProperties.topicAlias = 3
        publishProperties.userProperties = [UserProperty("k", "v"), UserProperty("k", "v"), UserProperty("", "")]

        var aliasOnly = MQTTProperties()
        aliasOnly.topicAlias = 65535

        var connackProperties = MQTTProperties()
        connackProperties.sessionExpiryInterval = 300
        connackProperties.assignedClientIdentifier = "auto-1"
        connackProperties.serverKeepAlive = 20
        connackProperties.authenticationMethod = "m"
        connackProperties.authenticationData = Wire.buffer([0])
        connackProperties.responseInformation = "resp/"
        connackProperties.serverReference = "other:1883"
        connackProperties.reasonString = "welcome"
        connackProperties.receiveMaximum = 65535
        connackProperties.topicAliasMaximum = 0
        connackProperties.maximumQoS = 1
        connackProperties.retainAvailable = 0
        connackProperties.userProperties = [UserProperty("x", "y")]
        connackProperties.maximumPacketSize = 268_435_460
        connackProperties.wildcardSubscriptionAvailable = 0
        connackProperties.subscriptionIdentifierAvailable = 1
        connackProperties.sharedSubscriptionAvailable = 0

        var reason = MQTTProperties()
        reason.reasonString = "because"
        reason.userProperties = [UserProperty("trace", "1")]

        var subscribeProperties = MQTTProperties()
        subscribeProperties.subscriptionIdentifiers = [300]
        subscribeProperties.userProperties = [UserProperty("s", "t")]

        var disconnectProperties = MQTTProperties()
        disconnectProperties.sessionExpiryInterval = 0
        disconnectProperties.serverReference = "elsewhere"
        disconnectProperties.reasonString = "bye"
        disconnectProperties.userProperties = [UserProperty("a", "b")]

        var authProperties = MQTTProperties()
        authProperties.authenticationMethod = "SCRAM-SHA-256"
        authProperties.authenticationData = Wire.buffer([1, 2, 3, 4])
        authProperties.reasonString = "step"
        authProperties.userProperties = [UserProperty("u", "p")]

        // Every combination of the v5 subscription options, one entry each.
        var everyOption: [SubscribePacket.Subscription] = []
        for qos in QoS.allCases {
            for noLocal in [false, true] {
                for retainAsPublished in [false, true] {
                    for handling in [SubscriptionOptions.RetainHandling.sendOnSubscribe, .sendOnSubscribeIfNew, .doNotSend] {
                        everyOption.append(.init(
                            topicFilter: "f/\(qos.rawValue)/\(noLocal)/\(retainAsPublished)/\(handling.rawValue)",
                            options: .init(qos: qos, noLocal: noLocal, retainAsPublished: retainAsPublished, retainHandling: handling)))
                    }
                }
            }
        }

        var responses: [(String, MQTTPacket)] = []
        let kinds: [(String, (PublishResponsePacket) -> MQTTPacket)] = [
            ("PUBACK", MQTTPacket.puback), ("PUBREC", MQTTPacket.pubrec), ("PUBREL", MQTTPacket.pubrel), ("PUBCOMP", MQTTPacket.pubcomp),
        ]
        for (name, make) in kinds {
            // Each with reason codes its type defines (MQTT 5 §3.4.2.1–§3.7.2.1).
            let isRelease = name == "PUBREL" || name == "PUBCOMP"
            let other: ReasonCode = isRelease ? .packetIdentifierNotFound : .noMatchingSubscribers
            let failure: ReasonCode = isRelease ? .packetIdentifierNotFound : .packetIdentifierInUse
            responses.append(("\(name) with reason code", make(PublishResponsePacket(packetIdentifier: 5, reasonCode: other))))
            responses.append(("\(name) failure reason code", make(PublishResponsePacket(packetIdentifier: 5, reasonCode: failure))))
            responses.append(("\(name) success with properties", make(PublishResponsePacket(packetIdentifier: 5, properties: reason))))
            let withProperties: ReasonCode = isRelease ? .packetIdentifierNotFound : .quotaExceeded
            responses.append(("\(name) reason code and properties", make(PublishResponsePacket(packetIdentifier: 5, reasonCode: withProperties, properties: reason))))
        }

        return responses + [
            ("PUBLISH with every PUBLISH property", .publish(PublishPacket(topic: "a/b", payload: payload, qos: .atLeastOnce, packetIdentifier: 10, properties: publishProperties))),
            ("PUBLISH empty topic with topic alias", .publish(PublishPacket(topic: "", payload: payload, properties: aliasOnly))),
            ("CONNACK with every CONNACK property", .connack(ConnAckPacket(sessionPresent: true, properties: connackProperties))),
            ("CONNACK v5-only reason code", .connack(ConnAckPacket(reasonCode: .serverBusy))),
            ("CONNACK reason code this build does not name", .connack(ConnAckPacket(reasonCode: ReasonCode(rawValue: 0xFE)))),
            ("SUBSCRIBE every option combination", .subscribe(SubscribePacket(packetIdentifier: 77, subscriptions: everyOption))),
            ("SUBSCRIBE with subscription identifier", .subscribe(SubscribePacket(
                packetIdentifier: 78, subscriptions: [.init(topicFilter: "a/#", options: .init(qos: .exactlyOnce, noLocal: true))],
                properties: subscribeProperties))),
            ("SUBACK v5 reason codes", .suback(SubAckPacket(
                packetIdentifier: 78,
                reasonCodes: [.grantedQoS2, .notAuthorized, .topicFilterInvalid, .sharedSubscriptionsNotSupported, .wildcardSubscriptionsNotSupported],
                properties: reason))),
            ("UNSUBSCRIBE with user property", .unsubscribe(UnsubscribePacket(packetIdentifier: 4, topicFilters: ["x"], properties: userProperties(("a", "b"))))),
            ("UNSUBACK no reason codes", .unsuback(UnsubAckPacket(packetIdentifier: 4))),
            ("UNSUBACK reason codes", .unsuback(UnsubAckPacket(packetIdentifier: 4, reasonCodes: [.success, .noSubscriptionExisted, .notAuthorized], properties: reason))),
            ("DISCONNECT with will message", .disconnect(DisconnectPacket(reasonCode: .disconnectWithWillMessage))),
            ("DISCONNECT server shutting down with properties", .disconnect(DisconnectPacket(reasonCode: .serverShuttingDown, properties: disconnectProperties))),
            ("DISCONNECT normal with properties", .disconnect(DisconnectPacket(properties: userProperties(("k", "v"))))),
            ("AUTH success, empty", .auth(AuthPacket())),
            ("AUTH continue", .auth(AuthPacket(reasonCode: .continueAuthentication, properties: authProperties))),
            ("AUTH re-authenticate without properties", .auth(AuthPacket(reasonCode: .reAuthenticate))),
            ("AUTH success with properties", .auth(AuthPacket(properties: authProperties))),
        ]
    }

    static var allCases: [RoundTripCase] {
        var cases: [RoundTripCase] = []
        for version in allVersions {
            cases += connects(version).map { RoundTripCase(name: $0.0, packet: .connect($0.1), version: version) }
            cases += common.map { RoundTripCase(name: $0.0, packet: $0.1, version: version) }
        }
        for version in [ProtocolVersion.v3_1_1, .v5] {
            cases += fromV311.map { RoundTripCase(name: $0.0, packet: $0.1, version: version) }
        }
        for version in v3Versions {
            cases += v3Only.map { RoundTripCase(name: $0.0, packet: $0.1, version: version) }
        }
        cases += v5Only.map { RoundTripCase(name: $0.0, packet: $0.1, version: .v5) }
        return cases
    }
}

@Suite("Packet round trips")
struct PacketRoundTripTests {
    @Test("encode → frame → decode gives back the packet", arguments: Samples.allCases)
    func roundTrip(_ testCase: RoundTripCase) throws {
        let decoded = try Wire.roundTrip(testCase.packet, version: testCase.version)
        #expect(decoded == testCase.packet)
        #expect(decoded.type == testCase.packet.type)
    }

    @Test("Re-encoding a decoded packet gives the same bytes", arguments: Samples.allCases)
    func reencodingIsStable(_ testCase: RoundTripCase) throws {
        let bytes = Wire.encode(testCase.packet, version: testCase.version)
        let decoded = try Wire.decode(bytes, version: testCase.version)
        #expect(Wire.encode(decoded, version: testCase.version) == bytes)
    }

    @Test("The fixed header's type nibble matches the packet type", arguments: Samples.allCases)
    func typeNibbleMatchesPacketType(_ testCase: RoundTripCase) throws {
        let bytes = Wire.encode(testCase.packet, version: testCase.version)
        let first = try #require(bytes.first)
        #expect(first >> 4 == testCase.packet.type.rawValue)
    }

    @Test("A CONNECT announces its own level whatever the connection's version", arguments: allVersions, allVersions)
    func connectCarriesItsOwnVersion(packetVersion: ProtocolVersion, connectionVersion: ProtocolVersion) throws {
        let connect = ConnectPacket(protocolVersion: packetVersion, clientIdentifier: "c", username: "u")
        let bytes = Wire.encode(.connect(connect), version: connectionVersion)
        let decoded = try Wire.decode(bytes, version: connectionVersion)
        #expect(decoded == .connect(connect))
        // Same bytes whichever version the encoder was asked for: the packet's level wins.
        #expect(bytes == Wire.encode(.connect(connect), version: packetVersion))
        let frame = try Wire.frame(bytes)
        #expect(ConnectPacket.peekProtocolLevel(in: frame.body) == packetVersion.rawValue)
    }

    @Test("peekProtocolLevel needs the name length and the whole name")
    func peekProtocolLevelOnTruncatedBodies() {
        #expect(ConnectPacket.peekProtocolLevel(in: Wire.buffer([])) == nil)
        #expect(ConnectPacket.peekProtocolLevel(in: Wire.buffer([0x00])) == nil)
        #expect(ConnectPacket.peekProtocolLevel(in: Wire.buffer([0x00, 0x04, 0x4D, 0x51, 0x54, 0x54])) == nil)
        #expect(ConnectPacket.peekProtocolLevel(in: Wire.buffer([0x00, 0x04, 0x4D, 0x51, 0x54, 0x54, 0x07])) == 7)
        // Even when the name is wrong, the level is reported so the broker can answer in kind.
        #expect(ConnectPacket.peekProtocolLevel(in: Wire.buffer([0x00, 0x01, 0x58, 0x05, 0xFF])) == 5)
    }

    @Test("Several packets written into one buffer are framed and decoded in order")
    func manyPacketsInOneBuffer() throws {
        let packets = Samples.common
        var buffer = ByteBuffer()
        for (_, packet) in packets { packet.encode(into: &buffer, version: .v3_1_1) }
        var decoder = MQTTFrameDecoder()
        var decoded: [MQTTPacket] = []
        while let frame = try decoder.decode(buffer: &buffer) {
            decoded.append(try MQTTPacket.decode(frame, version: .v3_1_1))
        }
        #expect(buffer.readableBytes == 0)
        #expect(decoded == packets.map(\.1))
    }
}

@Suite("What 3.1 and 3.1.1 cannot carry")
struct V3LossyEncodingTests {
    static var richProperties: MQTTProperties {
        var properties = MQTTProperties()
        properties.reasonString = "dropped"
        properties.userProperties = [UserProperty("dropped", "too")]
        return properties
    }

    @Test("PUBLISH properties are not written before v5", arguments: v3Versions)
    func publishPropertiesDropped(version: ProtocolVersion) throws {
        var properties = MQTTProperties()
        properties.messageExpiryInterval = 10
        properties.userProperties = [UserProperty("a", "b")]
        let rich = PublishPacket(topic: "t", payload: Wire.buffer("x"), qos: .atLeastOnce, packetIdentifier: 1, properties: properties)
        var plain = rich
        plain.properties = .none
        #expect(Wire.encode(.publish(rich), version: version) == Wire.encode(.publish(plain), version: version))
        #expect(try Wire.roundTrip(.publish(rich), version: version) == .publish(plain))
    }

    @Test("Acknowledgement reason codes and properties are not written before v5", arguments: v3Versions)
    func responseReasonDropped(version: ProtocolVersion) throws {
        let rich = PublishResponsePacket(packetIdentifier: 9, reasonCode: .notAuthorized, properties: Self.richProperties)
        #expect(Wire.encode(.puback(rich), version: version) == [0x40, 0x02, 0x00, 0x09])
        #expect(Wire.encode(.pubrel(rich), version: version) == [0x62, 0x02, 0x00, 0x09])
        #expect(try Wire.roundTrip(.pubrec(rich), version: version) == .pubrec(PublishResponsePacket(packetIdentifier: 9)))
    }

    @Test("SUBACK failure codes collapse to 0x80 before v5", arguments: v3Versions)
    func subackFailuresCollapse(version: ProtocolVersion) throws {
        let rich = SubAckPacket(
            packetIdentifier: 2, reasonCodes: [.grantedQoS1, .notAuthorized, .topicFilterInvalid, .grantedQoS2],
            properties: Self.richProperties)
        #expect(Wire.encode(.suback(rich), version: version) == [0x90, 0x06, 0x00, 0x02, 0x01, 0x80, 0x80, 0x02])
        let decoded = try Wire.roundTrip(.suback(rich), version: version)
        #expect(decoded == .suback(SubAckPacket(packetIdentifier: 2, reasonCodes: [.grantedQoS1, .unspecifiedError, .unspecifiedError, .grantedQoS2])))
    }

    @Test("UNSUBACK reason codes are not written before v5", arguments: v3Versions)
    func unsubackCodesDropped(version: ProtocolVersion) throws {
        let rich = UnsubAckPacket(packetIdentifier: 2, reasonCodes: [.success, .noSubscriptionExisted], properties: Self.richProperties)
        #expect(Wire.encode(.unsuback(rich), version: version) == [0xB0, 0x02, 0x00, 0x02])
    }

    @Test("DISCONNECT reason and properties are not written before v5", arguments: v3Versions)
    func disconnectReasonDropped(version: ProtocolVersion) throws {
        let rich = DisconnectPacket(reasonCode: .serverShuttingDown, properties: Self.richProperties)
        #expect(Wire.encode(.disconnect(rich), version: version) == [0xE0, 0x00])
        #expect(try Wire.roundTrip(.disconnect(rich), version: version) == .disconnect(DisconnectPacket()))
    }

    @Test("CONNECT properties and will properties are not written before v5", arguments: v3Versions)
    func connectPropertiesDropped(version: ProtocolVersion) throws {
        var properties = MQTTProperties()
        properties.sessionExpiryInterval = 60
        var willProperties = MQTTProperties()
        willProperties.willDelayInterval = 5
        let rich = ConnectPacket(
            protocolVersion: version, clientIdentifier: "c",
            will: Will(topic: "w", payload: Wire.buffer("x"), properties: willProperties), properties: properties)
        let plain = ConnectPacket(protocolVersion: version, clientIdentifier: "c", will: Will(topic: "w", payload: Wire.buffer("x")))
        #expect(Wire.encode(.connect(rich), version: version) == Wire.encode(.connect(plain), version: version))
    }

    @Test("A 3.1 CONNACK never sets the reserved first byte (3.1 has no Session Present)")
    func v31ConnackHasNoSessionPresent() throws {
        let packet = MQTTPacket.connack(ConnAckPacket(sessionPresent: true))
        #expect(Wire.encode(packet, version: .v3_1) == [0x20, 0x02, 0x00, 0x00])
        #expect(Wire.encode(packet, version: .v3_1_1) == [0x20, 0x02, 0x01, 0x00])
        #expect(Wire.encode(packet, version: .v5) == [0x20, 0x03, 0x01, 0x00, 0x00])
    }

    @Test("CONNACK v5 reasons become their 3.1.1 return code", arguments: v3Versions)
    func connackReasonMapped(version: ProtocolVersion) throws {
        let rich = ConnAckPacket(reasonCode: .serverBusy, properties: Self.richProperties)
        #expect(Wire.encode(.connack(rich), version: version) == [0x20, 0x02, 0x00, 0x03])
        #expect(try Wire.roundTrip(.connack(rich), version: version) == .connack(ConnAckPacket(reasonCode: .serverUnavailable)))
    }
}
