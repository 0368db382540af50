import MQTTCore
import NIOCore
import Testing

/// One packet written out byte by byte from the MQTT 3.1.1 / 5.0 specifications.
struct PacketFixture: Sendable, CustomTestStringConvertible {
    var name: String
    var version: ProtocolVersion
    var bytes: [UInt8]
    var packet: MQTTPacket

    var testDescription: String { "\(name) @ \(version)" }
}

private func props(_ build: (inout MQTTProperties) -> Void) -> MQTTProperties {
    var properties = MQTTProperties()
    build(&properties)
    return properties
}

/// Byte-exact fixtures. Each array is the whole packet: fixed header, variable header, payload.
/// Lengths in comments are the remaining length (the second byte) broken down by field.
let fixtures: [PacketFixture] = [
    // MARK: 3.1 / 3.1.1 CONNECT (MQTT 3.1.1 §3.1)

    PacketFixture(
        name: "CONNECT 3.1.1 clean session, keep alive 60, client id abc", version: .v3_1_1,
        bytes: [
            0x10, 0x0F,                         // CONNECT, remaining length 15
            0x00, 0x04, 0x4D, 0x51, 0x54, 0x54, // "MQTT"
            0x04,                               // level 4
            0x02,                               // flags: clean session
            0x00, 0x3C,                         // keep alive 60
            0x00, 0x03, 0x61, 0x62, 0x63,       // client id "abc"
        ],
        packet: .connect(ConnectPacket(protocolVersion: .v3_1_1, cleanStart: true, keepAlive: 60, clientIdentifier: "abc"))),
    PacketFixture(
        name: "CONNECT 3.1 MQIsdp level 3", version: .v3_1,
        bytes: [
            0x10, 0x11,                                     // CONNECT, remaining length 17
            0x00, 0x06, 0x4D, 0x51, 0x49, 0x73, 0x64, 0x70, // "MQIsdp"
            0x03,                                           // level 3
            0x02,                                           // clean session
            0x00, 0x3C,                                     // keep alive 60
            0x00, 0x03, 0x61, 0x62, 0x63,                   // "abc"
        ],
        packet: .connect(ConnectPacket(protocolVersion: .v3_1, clientIdentifier: "abc"))),
    PacketFixture(
        name: "CONNECT 3.1.1 will QoS 1 retained, user name, password", version: .v3_1_1,
        bytes: [
            0x10, 0x1D,                         // remaining length 29
            0x00, 0x04, 0x4D, 0x51, 0x54, 0x54, // "MQTT"
            0x04,                               // level 4
            0xEE,                               // user name | password | will retain | will QoS 1 | will | clean
            0x00, 0x0A,                         // keep alive 10
            0x00, 0x01, 0x63,                   // client id "c"
            0x00, 0x03, 0x77, 0x2F, 0x74,       // will topic "w/t"
            0x00, 0x03, 0x62, 0x79, 0x65,       // will payload "bye"
            0x00, 0x01, 0x75,                   // user name "u"
            0x00, 0x01, 0x70,                   // password "p"
        ],
        packet: .connect(ConnectPacket(
            protocolVersion: .v3_1_1, keepAlive: 10, clientIdentifier: "c",
            will: Will(topic: "w/t", payload: Wire.buffer("bye"), qos: .atLeastOnce, retain: true),
            username: "u", password: Wire.buffer("p")))),
    PacketFixture(
        name: "CONNECT 3.1.1 persistent session, empty client id, keep alive 0", version: .v3_1_1,
        bytes: [
            0x10, 0x0C,                         // remaining length 12
            0x00, 0x04, 0x4D, 0x51, 0x54, 0x54, // "MQTT"
            0x04, 0x00,                         // level 4, no flags
            0x00, 0x00,                         // keep alive 0
            0x00, 0x00,                         // client id ""
        ],
        packet: .connect(ConnectPacket(protocolVersion: .v3_1_1, cleanStart: false, keepAlive: 0, clientIdentifier: ""))),

    // MARK: 3.1.1 CONNACK (§3.2)

    PacketFixture(
        name: "CONNACK accepted", version: .v3_1_1,
        bytes: [0x20, 0x02, 0x00, 0x00],
        packet: .connack(ConnAckPacket())),
    PacketFixture(
        name: "CONNACK accepted, session present", version: .v3_1_1,
        bytes: [0x20, 0x02, 0x01, 0x00],
        packet: .connack(ConnAckPacket(sessionPresent: true))),
    PacketFixture(
        name: "CONNACK identifier rejected", version: .v3_1_1,
        bytes: [0x20, 0x02, 0x00, 0x02],
        packet: .connack(ConnAckPacket(reasonCode: .clientIdentifierNotValid))),
    PacketFixture(
        name: "CONNACK not authorized", version: .v3_1_1,
        bytes: [0x20, 0x02, 0x00, 0x05],
        packet: .connack(ConnAckPacket(reasonCode: .notAuthorized))),
    PacketFixture(
        name: "CONNACK 3.1 bad user name or password", version: .v3_1,
        bytes: [0x20, 0x02, 0x00, 0x04],
        packet: .connack(ConnAckPacket(reasonCode: .badUserNameOrPassword))),

    // MARK: 3.1.1 PUBLISH (§3.3)

    PacketFixture(
        name: "PUBLISH QoS 0 a/b hi", version: .v3_1_1,
        bytes: [
            0x30, 0x07,                   // PUBLISH QoS 0, remaining length 7
            0x00, 0x03, 0x61, 0x2F, 0x62, // "a/b"
            0x68, 0x69,                   // payload "hi"
        ],
        packet: .publish(PublishPacket(topic: "a/b", payload: Wire.buffer("hi")))),
    PacketFixture(
        name: "PUBLISH QoS 1 DUP retained id 10", version: .v3_1_1,
        bytes: [
            0x3B, 0x09,                   // PUBLISH DUP | QoS 1 | RETAIN
            0x00, 0x03, 0x61, 0x2F, 0x62, // "a/b"
            0x00, 0x0A,                   // packet id 10
            0x68, 0x69,                   // "hi"
        ],
        packet: .publish(PublishPacket(topic: "a/b", payload: Wire.buffer("hi"), qos: .atLeastOnce, retain: true, duplicate: true, packetIdentifier: 10))),
    PacketFixture(
        name: "PUBLISH QoS 2 id 0x1234 empty payload", version: .v3_1_1,
        bytes: [
            0x34, 0x05,       // PUBLISH QoS 2
            0x00, 0x01, 0x74, // "t"
            0x12, 0x34,       // packet id
        ],
        packet: .publish(PublishPacket(topic: "t", payload: Wire.buffer([]), qos: .exactlyOnce, packetIdentifier: 0x1234))),
    PacketFixture(
        name: "PUBLISH 3.1 QoS 0 retained", version: .v3_1,
        bytes: [0x31, 0x04, 0x00, 0x01, 0x74, 0x21],
        packet: .publish(PublishPacket(topic: "t", payload: Wire.buffer("!"), retain: true))),

    // MARK: 3.1.1 acknowledgements (§3.4–3.7)

    PacketFixture(name: "PUBACK", version: .v3_1_1, bytes: [0x40, 0x02, 0x00, 0x0A],
                  packet: .puback(PublishResponsePacket(packetIdentifier: 10))),
    PacketFixture(name: "PUBREC", version: .v3_1_1, bytes: [0x50, 0x02, 0x00, 0x0A],
                  packet: .pubrec(PublishResponsePacket(packetIdentifier: 10))),
    PacketFixture(name: "PUBREL (flags 0010)", version: .v3_1_1, bytes: [0x62, 0x02, 0x00, 0x0A],
                  packet: .pubrel(PublishResponsePacket(packetIdentifier: 10))),
    PacketFixture(name: "PUBCOMP", version: .v3_1_1, bytes: [0x70, 0x02, 0xFF, 0xFF],
                  packet: .pubcomp(PublishResponsePacket(packetIdentifier: 0xFFFF))),

    // MARK: 3.1.1 SUBSCRIBE / SUBACK / UNSUBSCRIBE / UNSUBACK (§3.8–3.11)

    PacketFixture(
        name: "SUBSCRIBE a/+ QoS 1 and # QoS 0", version: .v3_1_1,
        bytes: [
            0x82, 0x0C,                         // SUBSCRIBE (flags 0010), remaining length 12
            0x00, 0x01,                         // packet id 1
            0x00, 0x03, 0x61, 0x2F, 0x2B, 0x01, // "a/+" QoS 1
            0x00, 0x01, 0x23, 0x00,             // "#" QoS 0
        ],
        packet: .subscribe(SubscribePacket(packetIdentifier: 1, subscriptions: [
            .init(topicFilter: "a/+", options: .init(qos: .atLeastOnce)),
            .init(topicFilter: "#", options: .init(qos: .atMostOnce)),
        ]))),
    PacketFixture(
        name: "SUBACK granted QoS 1 and failure", version: .v3_1_1,
        bytes: [
            0x90, 0x04, // SUBACK, remaining length 4
            0x00, 0x01, // packet id 1
            0x01, 0x80, // granted QoS 1, failure
        ],
        packet: .suback(SubAckPacket(packetIdentifier: 1, reasonCodes: [.grantedQoS1, .unspecifiedError]))),
    PacketFixture(
        name: "UNSUBSCRIBE a/b", version: .v3_1_1,
        bytes: [
            0xA2, 0x07,                   // UNSUBSCRIBE (flags 0010)
            0x00, 0x02,                   // packet id 2
            0x00, 0x03, 0x61, 0x2F, 0x62, // "a/b"
        ],
        packet: .unsubscribe(UnsubscribePacket(packetIdentifier: 2, topicFilters: ["a/b"]))),
    PacketFixture(name: "UNSUBACK", version: .v3_1_1, bytes: [0xB0, 0x02, 0x00, 0x02],
                  packet: .unsuback(UnsubAckPacket(packetIdentifier: 2))),

    // MARK: 3.1.1 PINGREQ / PINGRESP / DISCONNECT (§3.12–3.14)

    PacketFixture(name: "PINGREQ", version: .v3_1_1, bytes: [0xC0, 0x00], packet: .pingreq),
    PacketFixture(name: "PINGRESP", version: .v3_1_1, bytes: [0xD0, 0x00], packet: .pingresp),
    PacketFixture(name: "DISCONNECT", version: .v3_1_1, bytes: [0xE0, 0x00], packet: .disconnect(DisconnectPacket())),
    PacketFixture(name: "PINGREQ 3.1", version: .v3_1, bytes: [0xC0, 0x00], packet: .pingreq),

    // MARK: 5.0 CONNECT (MQTT 5 §3.1)

    PacketFixture(
        name: "CONNECT 5 minimal", version: .v5,
        bytes: [
            0x10, 0x10,                         // remaining length 16
            0x00, 0x04, 0x4D, 0x51, 0x54, 0x54, // "MQTT"
            0x05,                               // level 5
            0x02,                               // clean start
            0x00, 0x3C,                         // keep alive 60
            0x00,                               // property length 0
            0x00, 0x03, 0x61, 0x62, 0x63,       // "abc"
        ],
        packet: .connect(ConnectPacket(protocolVersion: .v5, clientIdentifier: "abc"))),
    PacketFixture(
        name: "CONNECT 5 with properties, will properties, user name, password", version: .v5,
        bytes: [
            0x10, 0x33,                         // remaining length 51
            0x00, 0x04, 0x4D, 0x51, 0x54, 0x54, // "MQTT"
            0x05,                               // level 5
            0xD6,                               // user name | password | will QoS 2 | will | clean start
            0x00, 0x3C,                         // keep alive 60
            0x0F,                               // property length 15
            0x11, 0x00, 0x00, 0x0E, 0x10,       //   session expiry interval 3600
            0x21, 0x00, 0x14,                   //   receive maximum 20
            0x26, 0x00, 0x01, 0x6B, 0x00, 0x01, 0x76, // user property k=v
            0x00, 0x03, 0x61, 0x62, 0x63,       // client id "abc"
            0x07,                               // will property length 7
            0x01, 0x01,                         //   payload format indicator 1
            0x18, 0x00, 0x00, 0x00, 0x05,       //   will delay interval 5
            0x00, 0x01, 0x77,                   // will topic "w"
            0x00, 0x01, 0x78,                   // will payload "x"
            0x00, 0x01, 0x75,                   // user name "u"
            0x00, 0x01, 0x70,                   // password "p"
        ],
        packet: .connect(ConnectPacket(
            protocolVersion: .v5, clientIdentifier: "abc",
            will: Will(topic: "w", payload: Wire.buffer("x"), qos: .exactlyOnce, properties: props {
                $0.payloadFormatIndicator = 1
                $0.willDelayInterval = 5
            }),
            username: "u", password: Wire.buffer("p"),
            properties: props {
                $0.sessionExpiryInterval = 3600
                $0.receiveMaximum = 20
                $0.userProperties = [UserProperty("k", "v")]
            }))),
    PacketFixture(
        name: "CONNECT 5 password without user name", version: .v5,
        bytes: [
            0x10, 0x11,                         // remaining length 17
            0x00, 0x04, 0x4D, 0x51, 0x54, 0x54, // "MQTT"
            0x05, 0x42,                         // level 5; password | clean start
            0x00, 0x00,                         // keep alive 0
            0x00,                               // no properties
            0x00, 0x00,                         // client id ""
            0x00, 0x02, 0xCA, 0xFE,             // password 0xCAFE
        ],
        packet: .connect(ConnectPacket(protocolVersion: .v5, keepAlive: 0, clientIdentifier: "", password: Wire.buffer([0xCA, 0xFE])))),

    // MARK: 5.0 CONNACK (§3.2)

    PacketFixture(
        name: "CONNACK 5 success", version: .v5,
        bytes: [0x20, 0x03, 0x00, 0x00, 0x00], // no session, success, property length 0
        packet: .connack(ConnAckPacket())),
    PacketFixture(
        name: "CONNACK 5 not authorized", version: .v5,
        bytes: [0x20, 0x03, 0x00, 0x87, 0x00],
        packet: .connack(ConnAckPacket(reasonCode: .notAuthorized))),
    PacketFixture(
        name: "CONNACK 5 session present with properties", version: .v5,
        bytes: [
            0x20, 0x0F,                         // remaining length 15
            0x01, 0x00,                         // session present, success
            0x0C,                               // property length 12, in Mosquitto's order:
            0x22, 0x00, 0x0A,                   //   topic alias maximum 10
            0x12, 0x00, 0x02, 0x69, 0x64,       //   assigned client identifier "id"
            0x25, 0x00,                         //   retain available 0
            0x24, 0x01,                         //   maximum QoS 1
        ],
        packet: .connack(ConnAckPacket(sessionPresent: true, properties: props {
            $0.assignedClientIdentifier = "id"
            $0.topicAliasMaximum = 10
            $0.maximumQoS = 1
            $0.retainAvailable = 0
        }))),

    // MARK: 5.0 PUBLISH (§3.3)

    PacketFixture(
        name: "PUBLISH 5 QoS 1 with properties", version: .v5,
        bytes: [
            0x32, 0x17,                         // PUBLISH QoS 1, remaining length 23
            0x00, 0x03, 0x61, 0x2F, 0x62,       // "a/b"
            0x00, 0x01,                         // packet id 1
            0x0D,                               // property length 13
            0x01, 0x01,                         //   payload format indicator 1
            0x02, 0x00, 0x00, 0x00, 0x3C,       //   message expiry 60
            0x0B, 0xAC, 0x02,                   //   subscription identifier 300 (VBI AC 02)
            0x23, 0x00, 0x03,                   //   topic alias 3
            0x68, 0x69,                         // "hi"
        ],
        packet: .publish(PublishPacket(
            topic: "a/b", payload: Wire.buffer("hi"), qos: .atLeastOnce, packetIdentifier: 1,
            properties: props {
                $0.payloadFormatIndicator = 1
                $0.messageExpiryInterval = 60
                $0.subscriptionIdentifiers = [300]
                $0.topicAlias = 3
            }))),
    PacketFixture(
        name: "PUBLISH 5 QoS 0 empty topic with topic alias", version: .v5,
        bytes: [
            0x30, 0x06,       // PUBLISH QoS 0
            0x00, 0x00,       // topic ""
            0x03,             // property length 3
            0x23, 0x00, 0x05, //   topic alias 5
        ],
        packet: .publish(PublishPacket(topic: "", payload: Wire.buffer([]), properties: props { $0.topicAlias = 5 }))),
    PacketFixture(
        name: "PUBLISH 5 QoS 0 no properties", version: .v5,
        bytes: [0x30, 0x05, 0x00, 0x01, 0x74, 0x00, 0x21], // "t", property length 0, "!"
        packet: .publish(PublishPacket(topic: "t", payload: Wire.buffer("!")))),

    // MARK: 5.0 acknowledgements (§3.4–3.7)

    PacketFixture(
        name: "PUBACK 5 success, reason code omitted", version: .v5,
        bytes: [0x40, 0x02, 0x00, 0x01],
        packet: .puback(PublishResponsePacket(packetIdentifier: 1))),
    PacketFixture(
        name: "PUBACK 5 no matching subscribers, properties omitted", version: .v5,
        bytes: [0x40, 0x03, 0x00, 0x01, 0x10],
        packet: .puback(PublishResponsePacket(packetIdentifier: 1, reasonCode: .noMatchingSubscribers))),
    PacketFixture(
        name: "PUBACK 5 unspecified error with reason string", version: .v5,
        bytes: [
            0x40, 0x09,                   // remaining length 9
            0x00, 0x01,                   // packet id 1
            0x80,                         // unspecified error
            0x05,                         // property length 5
            0x1F, 0x00, 0x02, 0x6E, 0x6F, //   reason string "no"
        ],
        packet: .puback(PublishResponsePacket(packetIdentifier: 1, reasonCode: .unspecifiedError, properties: props { $0.reasonString = "no" }))),
    PacketFixture(
        name: "PUBREC 5 quota exceeded", version: .v5,
        bytes: [0x50, 0x03, 0x00, 0x02, 0x97],
        packet: .pubrec(PublishResponsePacket(packetIdentifier: 2, reasonCode: .quotaExceeded))),
    PacketFixture(
        name: "PUBREL 5 packet identifier not found", version: .v5,
        bytes: [0x62, 0x03, 0x00, 0x02, 0x92],
        packet: .pubrel(PublishResponsePacket(packetIdentifier: 2, reasonCode: .packetIdentifierNotFound))),
    PacketFixture(
        name: "PUBCOMP 5 success", version: .v5,
        bytes: [0x70, 0x02, 0x00, 0x02],
        packet: .pubcomp(PublishResponsePacket(packetIdentifier: 2))),

    // MARK: 5.0 SUBSCRIBE / SUBACK / UNSUBSCRIBE / UNSUBACK (§3.8–3.11)

    PacketFixture(
        name: "SUBSCRIBE 5 all options and a subscription identifier", version: .v5,
        bytes: [
            0x82, 0x0B,                   // remaining length 11
            0x00, 0x0A,                   // packet id 10
            0x02,                         // property length 2
            0x0B, 0x05,                   //   subscription identifier 5
            0x00, 0x03, 0x61, 0x2F, 0x23, // "a/#"
            0x2E,                         // retain handling 2 | retain as published | no local | QoS 2
        ],
        packet: .subscribe(SubscribePacket(
            packetIdentifier: 10,
            subscriptions: [.init(topicFilter: "a/#", options: .init(qos: .exactlyOnce, noLocal: true, retainAsPublished: true, retainHandling: .doNotSend))],
            properties: props { $0.subscriptionIdentifiers = [5] }))),
    PacketFixture(
        name: "SUBSCRIBE 5 retain handling 1", version: .v5,
        bytes: [
            0x82, 0x07,             // remaining length 7
            0x00, 0x0B,             // packet id 11
            0x00,                   // no properties
            0x00, 0x01, 0x78,       // "x"
            0x11,                   // retain handling 1 | QoS 1
        ],
        packet: .subscribe(SubscribePacket(
            packetIdentifier: 11, subscriptions: [.init(topicFilter: "x", options: .init(qos: .atLeastOnce, retainHandling: .sendOnSubscribeIfNew))]))),
    PacketFixture(
        name: "SUBACK 5 granted QoS 2 and topic filter invalid", version: .v5,
        bytes: [0x90, 0x05, 0x00, 0x0A, 0x00, 0x02, 0x8F], // id 10, no properties, 02, 8F
        packet: .suback(SubAckPacket(packetIdentifier: 10, reasonCodes: [.grantedQoS2, .topicFilterInvalid]))),
    PacketFixture(
        name: "UNSUBSCRIBE 5", version: .v5,
        bytes: [0xA2, 0x08, 0x00, 0x0B, 0x00, 0x00, 0x03, 0x61, 0x2F, 0x62], // id 11, no properties, "a/b"
        packet: .unsubscribe(UnsubscribePacket(packetIdentifier: 11, topicFilters: ["a/b"]))),
    PacketFixture(
        name: "UNSUBACK 5 success and no subscription existed", version: .v5,
        bytes: [0xB0, 0x05, 0x00, 0x0B, 0x00, 0x00, 0x11],
        packet: .unsuback(UnsubAckPacket(packetIdentifier: 11, reasonCodes: [.success, .noSubscriptionExisted]))),

    // MARK: 5.0 PINGREQ / PINGRESP / DISCONNECT / AUTH (§3.12–3.15)

    PacketFixture(name: "PINGREQ 5", version: .v5, bytes: [0xC0, 0x00], packet: .pingreq),
    PacketFixture(name: "PINGRESP 5", version: .v5, bytes: [0xD0, 0x00], packet: .pingresp),
    PacketFixture(
        name: "DISCONNECT 5 normal, reason code omitted", version: .v5,
        bytes: [0xE0, 0x00],
        packet: .disconnect(DisconnectPacket())),
    PacketFixture(
        name: "DISCONNECT 5 with will message", version: .v5,
        bytes: [0xE0, 0x01, 0x04],
        packet: .disconnect(DisconnectPacket(reasonCode: .disconnectWithWillMessage))),
    PacketFixture(
        name: "DISCONNECT 5 server shutting down with reason string", version: .v5,
        bytes: [
            0xE0, 0x08,                         // remaining length 8
            0x8B,                               // server shutting down
            0x06,                               // property length 6
            0x1F, 0x00, 0x03, 0x62, 0x79, 0x65, //   reason string "bye"
        ],
        packet: .disconnect(DisconnectPacket(reasonCode: .serverShuttingDown, properties: props { $0.reasonString = "bye" }))),
    PacketFixture(
        name: "AUTH 5 success, everything omitted", version: .v5,
        bytes: [0xF0, 0x00],
        packet: .auth(AuthPacket())),
    PacketFixture(
        name: "AUTH 5 continue authentication", version: .v5,
        bytes: [
            0xF0, 0x0F,                                     // remaining length 15
            0x18,                                           // continue authentication
            0x0D,                                           // property length 13
            0x15, 0x00, 0x05, 0x53, 0x43, 0x52, 0x41, 0x4D, //   authentication method "SCRAM"
            0x16, 0x00, 0x02, 0x01, 0x02,                   //   authentication data 01 02
        ],
        packet: .auth(AuthPacket(reasonCode: .continueAuthentication, properties: props {
            $0.authenticationMethod = "SCRAM"
            $0.authenticationData = Wire.buffer([0x01, 0x02])
        }))),
]

/// One property as it appears on the wire (identifier, then value), and a packet it may ride in.
struct PropertyFixture: Sendable, CustomTestStringConvertible {
    enum Carrier: Sendable { case connack, publish, connect, will }

    var identifier: PropertyIdentifier
    var carrier: Carrier
    var bytes: [UInt8]

    var testDescription: String { "\(identifier)" }

    /// The whole packet around the property bytes; headers written out by hand.
    var packetBytes: [UInt8] {
        precondition(bytes.count < 100, "fixture helpers assume one-byte lengths")
        let n = UInt8(bytes.count)
        switch carrier {
        case .connack:
            // 20 RL | 00 (no session) 00 (success) | n | property
            return [0x20, 3 + n, 0x00, 0x00, n] + bytes
        case .publish:
            // 30 RL | 00 01 74 ("t") | n | property   (QoS 0, empty payload)
            return [0x30, 4 + n, 0x00, 0x01, 0x74, n] + bytes
        case .connect:
            // 10 RL | "MQTT" 05 02 00 3C | n | property | 00 01 63 ("c")
            return [0x10, 14 + n, 0x00, 0x04, 0x4D, 0x51, 0x54, 0x54, 0x05, 0x02, 0x00, 0x3C, n] + bytes + [0x00, 0x01, 0x63]
        case .will:
            // 10 RL | "MQTT" 05 06 (will | clean) 00 3C | 00 | 00 01 63 | n | property | 00 01 77 ("w") | 00 00 (empty payload)
            return [0x10, 20 + n, 0x00, 0x04, 0x4D, 0x51, 0x54, 0x54, 0x05, 0x06, 0x00, 0x3C, 0x00, 0x00, 0x01, 0x63, n]
                + bytes + [0x00, 0x01, 0x77, 0x00, 0x00]
        }
    }

    var packet: MQTTPacket {
        let properties = sampleProperties(identifier)
        switch carrier {
        case .connack: return .connack(ConnAckPacket(properties: properties))
        case .publish: return .publish(PublishPacket(topic: "t", payload: Wire.buffer([]), properties: properties))
        case .connect: return .connect(ConnectPacket(protocolVersion: .v5, clientIdentifier: "c", properties: properties))
        case .will:
            return .connect(ConnectPacket(
                protocolVersion: .v5, clientIdentifier: "c", will: Will(topic: "w", payload: Wire.buffer([]), properties: properties)))
        }
    }
}

/// Each property's encoding (MQTT 5 §2.2.2.2), with the values of `sampleProperties`.
let propertyFixtures: [PropertyFixture] = [
    .init(identifier: .payloadFormatIndicator, carrier: .publish, bytes: [0x01, 0x01]),
    .init(identifier: .messageExpiryInterval, carrier: .publish, bytes: [0x02, 0xDE, 0xAD, 0xBE, 0xEF]),
    .init(identifier: .contentType, carrier: .publish,
          bytes: [0x03, 0x00, 0x19] + Array("text/plain; charset=utf-8".utf8)),
    .init(identifier: .responseTopic, carrier: .publish, bytes: [0x08, 0x00, 0x12] + Array("responses/client-1".utf8)),
    .init(identifier: .correlationData, carrier: .publish, bytes: [0x09, 0x00, 0x03, 0x00, 0x01, 0xFF]),
    .init(identifier: .subscriptionIdentifier, carrier: .publish, bytes: [0x0B, 0xFF, 0xFF, 0xFF, 0x7F]),
    .init(identifier: .sessionExpiryInterval, carrier: .connack, bytes: [0x11, 0xFF, 0xFF, 0xFF, 0xFF]),
    .init(identifier: .assignedClientIdentifier, carrier: .connack, bytes: [0x12, 0x00, 0x09] + Array("auto-7F3A".utf8)),
    .init(identifier: .serverKeepAlive, carrier: .connack, bytes: [0x13, 0xAB, 0xCD]),
    .init(identifier: .authenticationMethod, carrier: .connack, bytes: [0x15, 0x00, 0x0B] + Array("SCRAM-SHA-1".utf8)),
    .init(identifier: .authenticationData, carrier: .connack, bytes: [0x16, 0x00, 0x05, 0x01, 0x02, 0x03, 0x04, 0x05]),
    .init(identifier: .requestProblemInformation, carrier: .connect, bytes: [0x17, 0x00]),
    .init(identifier: .willDelayInterval, carrier: .will, bytes: [0x18, 0x00, 0x01, 0x51, 0x80]),
    .init(identifier: .requestResponseInformation, carrier: .connect, bytes: [0x19, 0x01]),
    .init(identifier: .responseInformation, carrier: .connack, bytes: [0x1A, 0x00, 0x06] + Array("reply/".utf8)),
    .init(identifier: .serverReference, carrier: .connack, bytes: [0x1C, 0x00, 0x14] + Array("broker2.example:1883".utf8)),
    // "a reason ✓": ✓ is U+2713, E2 9C 93 in UTF-8, so 12 bytes.
    .init(identifier: .reasonString, carrier: .connack, bytes: [0x1F, 0x00, 0x0C] + Array("a reason ".utf8) + [0xE2, 0x9C, 0x93]),
    .init(identifier: .receiveMaximum, carrier: .connack, bytes: [0x21, 0xFF, 0xFF]),
    .init(identifier: .topicAliasMaximum, carrier: .connack, bytes: [0x22, 0x00, 0x0A]),
    .init(identifier: .topicAlias, carrier: .publish, bytes: [0x23, 0x01, 0x02]),
    .init(identifier: .maximumQoS, carrier: .connack, bytes: [0x24, 0x01]),
    .init(identifier: .retainAvailable, carrier: .connack, bytes: [0x25, 0x00]),
    .init(identifier: .userProperty, carrier: .connack,
          bytes: [0x26, 0x00, 0x04, 0x6E, 0x61, 0x6D, 0x65, 0x00, 0x05, 0x76, 0x61, 0x6C, 0x75, 0x65]), // "name" "value"
    .init(identifier: .maximumPacketSize, carrier: .connack, bytes: [0x27, 0x01, 0x02, 0x03, 0x04]),
    .init(identifier: .wildcardSubscriptionAvailable, carrier: .connack, bytes: [0x28, 0x00]),
    .init(identifier: .subscriptionIdentifierAvailable, carrier: .connack, bytes: [0x29, 0x01]),
    .init(identifier: .sharedSubscriptionAvailable, carrier: .connack, bytes: [0x2A, 0x00]),
]

@Suite("Byte-exact packet fixtures")
struct PacketFixtureTests {
    @Test("Decoding the fixture gives the expected packet", arguments: fixtures)
    func decodeFixture(_ fixture: PacketFixture) throws {
        #expect(try Wire.decode(fixture.bytes, version: fixture.version) == fixture.packet)
    }

    @Test("Encoding the packet gives the fixture's bytes", arguments: fixtures)
    func encodeFixture(_ fixture: PacketFixture) {
        let bytes = Wire.encode(fixture.packet, version: fixture.version)
        #expect(bytes == fixture.bytes, "got \(Wire.hex(bytes))")
        #expect(fixture.packet.encodedSize(version: fixture.version) == fixture.bytes.count)
    }

    /// MQTT 3.1 differs from 3.1.1 on the wire only in CONNECT (protocol name and level) and in
    /// CONNACK's first byte, which 3.1 reserves; every other 3.1.1 fixture holds at 3.1 too.
    static let v311FixturesSharedWithV31 = fixtures.filter { fixture in
        guard fixture.version == .v3_1_1 else { return false }
        switch fixture.packet {
        case .connect: return false
        case .connack(let connack): return !connack.sessionPresent
        default: return true
        }
    }

    @Test("3.1.1 fixtures other than CONNECT decode and encode the same at 3.1", arguments: v311FixturesSharedWithV31)
    func v31SharesLayouts(_ fixture: PacketFixture) throws {
        #expect(try Wire.decode(fixture.bytes, version: .v3_1) == fixture.packet)
        #expect(Wire.encode(fixture.packet, version: .v3_1) == fixture.bytes)
    }

    @Test("Every property identifier has a wire fixture")
    func everyPropertyHasAFixture() {
        #expect(Set(propertyFixtures.map(\.identifier)) == Set(PropertyIdentifier.allCases))
    }

    @Test("Each property decodes from and encodes to its spec bytes", arguments: propertyFixtures)
    func propertyFixture(_ fixture: PropertyFixture) throws {
        #expect(try Wire.decode(fixture.packetBytes, version: .v5) == fixture.packet)
        let bytes = Wire.encode(fixture.packet, version: .v5)
        #expect(bytes == fixture.packetBytes, "got \(Wire.hex(bytes))")
    }

    // Decode-only fixtures: valid encodings the encoder never produces because it picks the shortest.

    @Test(
        "v5 acknowledgements with an explicit success code and empty properties decode like the short form",
        arguments: [
            ([0x40, 0x03, 0x00, 0x01, 0x00], MQTTPacket.puback(PublishResponsePacket(packetIdentifier: 1))),
            ([0x50, 0x04, 0x00, 0x01, 0x00, 0x00], .pubrec(PublishResponsePacket(packetIdentifier: 1))),
            ([0x62, 0x04, 0x00, 0x01, 0x92, 0x00], .pubrel(PublishResponsePacket(packetIdentifier: 1, reasonCode: .packetIdentifierNotFound))),
            ([0x70, 0x03, 0x00, 0x01, 0x00], .pubcomp(PublishResponsePacket(packetIdentifier: 1))),
            ([0xE0, 0x01, 0x00], .disconnect(DisconnectPacket())),
            ([0xE0, 0x02, 0x00, 0x00], .disconnect(DisconnectPacket())),
            ([0xF0, 0x01, 0x00], .auth(AuthPacket())),
            ([0xF0, 0x02, 0x18, 0x00], .auth(AuthPacket(reasonCode: .continueAuthentication))),
        ] as [([UInt8], MQTTPacket)])
    func longFormsDecode(bytes: [UInt8], packet: MQTTPacket) throws {
        #expect(try Wire.decode(bytes, version: .v5) == packet)
    }

    @Test("A v5 PUBLISH may repeat the subscription identifier")
    func publishWithTwoSubscriptionIdentifiers() throws {
        // 30 08 | 00 01 74 | 04 | 0B 01 0B 02 | (no payload)
        let packet = try Wire.decode([0x30, 0x08, 0x00, 0x01, 0x74, 0x04, 0x0B, 0x01, 0x0B, 0x02], version: .v5)
        #expect(packet == .publish(PublishPacket(topic: "t", payload: Wire.buffer([]), properties: props { $0.subscriptionIdentifiers = [1, 2] })))
    }

    @Test("A 3.1.1 CONNACK return code above 5 reads as not authorized")
    func reservedConnackReturnCode() throws {
        #expect(try Wire.decode([0x20, 0x02, 0x00, 0x06], version: .v3_1_1) == .connack(ConnAckPacket(reasonCode: .notAuthorized)))
    }

    @Test("A v5 DISCONNECT reason this build does not name is kept")
    func unknownDisconnectReasonKept() throws {
        #expect(try Wire.decode([0xE0, 0x01, 0x7E], version: .v5) == .disconnect(DisconnectPacket(reasonCode: ReasonCode(rawValue: 0x7E))))
    }

    @Test("An acknowledgement with a reason code its type does not define is a protocol error", arguments: [
        [0x40, 0x03, 0x00, 0x01, 0xEE], [0x50, 0x03, 0x00, 0x01, 0x92], [0x62, 0x03, 0x00, 0x01, 0x10], [0x70, 0x03, 0x00, 0x01, 0x80],
    ] as [[UInt8]])
    func undefinedAcknowledgementReason(bytes: [UInt8]) throws {
        #expect(try Wire.decodeError(bytes, version: .v5)?.reasonCode == .protocolError)
    }
}
