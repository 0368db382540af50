import MQTTCore
import NIOCore
import Testing

/// Bytes that frame correctly but must be refused, with the reason code the refusal carries.
struct MalformedCase: Sendable, CustomTestStringConvertible {
    var name: String
    var bytes: [UInt8]
    var versions: [ProtocolVersion]
    var reason: ReasonCode

    init(_ name: String, _ bytes: [UInt8], _ versions: [ProtocolVersion], _ reason: ReasonCode) {
        self.name = name
        self.bytes = bytes
        self.versions = versions
        self.reason = reason
    }

    var testDescription: String { name }
}

private let v311: [ProtocolVersion] = [.v3_1_1]
private let v5: [ProtocolVersion] = [.v5]
private let every: [ProtocolVersion] = allVersions

/// "MQTT" as a length-prefixed string.
private let mqtt: [UInt8] = [0x00, 0x04, 0x4D, 0x51, 0x54, 0x54]

let malformedCases: [MalformedCase] = [
    // MARK: Fixed header flags (3.1.1 §2.2.2, 5 §2.1.3)
    .init("reserved packet type 0", [0x00, 0x00], every, .protocolError),
    .init("SUBSCRIBE with flags 0000", [0x80, 0x06, 0x00, 0x01, 0x00, 0x01, 0x61, 0x00], every, .malformedPacket),
    .init("SUBSCRIBE with flags 0011", [0x83, 0x06, 0x00, 0x01, 0x00, 0x01, 0x61, 0x00], every, .malformedPacket),
    .init("UNSUBSCRIBE with flags 0000", [0xA0, 0x05, 0x00, 0x01, 0x00, 0x01, 0x61], every, .malformedPacket),
    .init("PUBREL with flags 0000", [0x60, 0x02, 0x00, 0x01], every, .malformedPacket),
    .init("PUBACK with flags 0010", [0x42, 0x02, 0x00, 0x01], every, .malformedPacket),
    .init("PINGREQ with flags 0001", [0xC1, 0x00], every, .malformedPacket),
    .init("DISCONNECT with flags 1000", [0xE8, 0x00], every, .malformedPacket),
    .init("CONNECT with fixed header flags 0001",
          [0x11, 0x0F] + mqtt + [0x04, 0x02, 0x00, 0x3C, 0x00, 0x03, 0x61, 0x62, 0x63], every, .malformedPacket),
    .init("AUTH with flags 0001", [0xF1, 0x00], v5, .malformedPacket),

    // MARK: CONNECT (3.1.1 §3.1.2, 5 §3.1.2)
    .init("CONNECT reserved flag bit 0 set",
          [0x10, 0x0F] + mqtt + [0x04, 0x03, 0x00, 0x3C, 0x00, 0x03, 0x61, 0x62, 0x63], every, .malformedPacket),
    .init("CONNECT will QoS 3",
          [0x10, 0x13] + mqtt + [0x04, 0x1E, 0x00, 0x3C, 0x00, 0x01, 0x63, 0x00, 0x01, 0x77, 0x00, 0x01, 0x78], every, .malformedPacket),
    .init("CONNECT will QoS without the will flag",
          [0x10, 0x0D] + mqtt + [0x04, 0x0A, 0x00, 0x3C, 0x00, 0x01, 0x63], every, .malformedPacket),
    .init("CONNECT will retain without the will flag",
          [0x10, 0x0D] + mqtt + [0x04, 0x22, 0x00, 0x3C, 0x00, 0x01, 0x63], every, .malformedPacket),
    .init("CONNECT 3.1.1 password without user name",
          [0x10, 0x10] + mqtt + [0x04, 0x42, 0x00, 0x3C, 0x00, 0x01, 0x63, 0x00, 0x01, 0x70], every, .malformedPacket),
    .init("CONNECT unknown protocol level 6",
          [0x10, 0x0D] + mqtt + [0x06, 0x02, 0x00, 0x3C, 0x00, 0x01, 0x63], every, .unsupportedProtocolVersion),
    .init("CONNECT level 5 with the bridge flag (0x85; Mosquitto sets it on 3.1/3.1.1 only)",
          [0x10, 0x0E] + mqtt + [0x85, 0x02, 0x00, 0x3C, 0x00, 0x00, 0x01, 0x63], every, .unsupportedProtocolVersion),
    .init("CONNECT protocol level 0",
          [0x10, 0x0D] + mqtt + [0x00, 0x02, 0x00, 0x3C, 0x00, 0x01, 0x63], every, .unsupportedProtocolVersion),
    .init("CONNECT MQTT with level 3 (3.1 is MQIsdp)",
          [0x10, 0x0D] + mqtt + [0x03, 0x02, 0x00, 0x3C, 0x00, 0x01, 0x63], every, .unsupportedProtocolVersion),
    .init("CONNECT MQIsdp with level 4",
          [0x10, 0x0F, 0x00, 0x06, 0x4D, 0x51, 0x49, 0x73, 0x64, 0x70, 0x04, 0x02, 0x00, 0x3C, 0x00, 0x01, 0x63], every, .unsupportedProtocolVersion),
    .init("CONNECT unknown protocol name",
          [0x10, 0x0D, 0x00, 0x04, 0x4D, 0x51, 0x54, 0x58, 0x04, 0x02, 0x00, 0x3C, 0x00, 0x01, 0x63], every, .protocolError),
    .init("CONNECT lower-case protocol name",
          [0x10, 0x0D, 0x00, 0x04, 0x6D, 0x71, 0x74, 0x74, 0x04, 0x02, 0x00, 0x3C, 0x00, 0x01, 0x63], every, .protocolError),
    .init("CONNECT client id with U+0000",
          [0x10, 0x0E] + mqtt + [0x04, 0x02, 0x00, 0x3C, 0x00, 0x02, 0x61, 0x00], every, .malformedPacket),
    .init("CONNECT client id length past the end",
          [0x10, 0x0D] + mqtt + [0x04, 0x02, 0x00, 0x3C, 0x00, 0x05, 0x63], every, .malformedPacket),
    .init("CONNECT ends inside keep alive", [0x10, 0x09] + mqtt + [0x04, 0x02, 0x00], every, .malformedPacket),
    .init("CONNECT missing the client id", [0x10, 0x0A] + mqtt + [0x04, 0x02, 0x00, 0x3C], every, .malformedPacket),
    .init("CONNECT user name flag but no user name",
          [0x10, 0x0D] + mqtt + [0x04, 0x82, 0x00, 0x3C, 0x00, 0x01, 0x63], every, .malformedPacket),
    .init("CONNECT will topic with a wildcard",
          [0x10, 0x12] + mqtt + [0x04, 0x06, 0x00, 0x3C, 0x00, 0x01, 0x63, 0x00, 0x01, 0x23, 0x00, 0x00], every, .malformedPacket),
    .init("CONNECT trailing byte",
          [0x10, 0x10] + mqtt + [0x04, 0x02, 0x00, 0x3C, 0x00, 0x03, 0x61, 0x62, 0x63, 0x00], every, .malformedPacket),
    .init("CONNECT 5 missing the property length",
          [0x10, 0x0D] + mqtt + [0x05, 0x02, 0x00, 0x3C, 0x00, 0x01, 0x63], every, .malformedPacket),
    .init("CONNECT 5 receive maximum 0",
          [0x10, 0x13] + mqtt + [0x05, 0x02, 0x00, 0x3C, 0x03, 0x21, 0x00, 0x00, 0x00, 0x03, 0x61, 0x62, 0x63], every, .protocolError),
    .init("CONNECT 5 maximum packet size 0",
          [0x10, 0x15] + mqtt + [0x05, 0x02, 0x00, 0x3C, 0x05, 0x27, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x61, 0x62, 0x63], every, .protocolError),
    .init("CONNECT 5 request problem information 2",
          [0x10, 0x12] + mqtt + [0x05, 0x02, 0x00, 0x3C, 0x02, 0x17, 0x02, 0x00, 0x03, 0x61, 0x62, 0x63], every, .protocolError),
    .init("CONNECT 5 request response information 2",
          [0x10, 0x12] + mqtt + [0x05, 0x02, 0x00, 0x3C, 0x02, 0x19, 0x02, 0x00, 0x03, 0x61, 0x62, 0x63], every, .protocolError),
    .init("CONNECT 5 session expiry interval twice",
          [0x10, 0x1A] + mqtt + [0x05, 0x02, 0x00, 0x3C, 0x0A, 0x11, 0, 0, 0, 1, 0x11, 0, 0, 0, 2, 0x00, 0x03, 0x61, 0x62, 0x63], every, .protocolError),
    .init("CONNECT 5 topic alias (a PUBLISH property)",
          [0x10, 0x13] + mqtt + [0x05, 0x02, 0x00, 0x3C, 0x03, 0x23, 0x00, 0x01, 0x00, 0x03, 0x61, 0x62, 0x63], every, .protocolError),
    .init("CONNECT 5 will delay interval in CONNECT properties (it belongs to the will)",
          [0x10, 0x15] + mqtt + [0x05, 0x02, 0x00, 0x3C, 0x05, 0x18, 0x00, 0x00, 0x00, 0x01, 0x00, 0x03, 0x61, 0x62, 0x63], every, .protocolError),
    .init("CONNECT 5 session expiry interval in will properties",
          [0x10, 0x19] + mqtt + [0x05, 0x06, 0x00, 0x3C, 0x00, 0x00, 0x01, 0x63, 0x05, 0x11, 0, 0, 0, 1, 0x00, 0x01, 0x77, 0x00, 0x00], every, .protocolError),
    .init("CONNECT 5 will response topic with a wildcard",
          [0x10, 0x18] + mqtt + [0x05, 0x06, 0x00, 0x3C, 0x00, 0x00, 0x01, 0x63, 0x04, 0x08, 0x00, 0x01, 0x2B, 0x00, 0x01, 0x77, 0x00, 0x00], every, .protocolError),

    // MARK: CONNACK
    .init("CONNACK reserved acknowledge flags", [0x20, 0x02, 0x02, 0x00], v311, .malformedPacket),
    .init("CONNACK 3.1.1 trailing byte", [0x20, 0x03, 0x00, 0x00, 0x00], v311, .malformedPacket),
    .init("CONNACK missing return code", [0x20, 0x01, 0x00], every, .malformedPacket),
    .init("CONNACK 5 without property length", [0x20, 0x02, 0x00, 0x00], v5, .malformedPacket),
    .init("CONNACK 5 maximum QoS 2", [0x20, 0x05, 0x00, 0x00, 0x02, 0x24, 0x02], v5, .protocolError),
    .init("CONNACK 5 retain available 2", [0x20, 0x05, 0x00, 0x00, 0x02, 0x25, 0x02], v5, .protocolError),
    .init("CONNACK 5 wildcard subscription available 2", [0x20, 0x05, 0x00, 0x00, 0x02, 0x28, 0x02], v5, .protocolError),
    .init("CONNACK 5 subscription identifiers available 2", [0x20, 0x05, 0x00, 0x00, 0x02, 0x29, 0x02], v5, .protocolError),
    .init("CONNACK 5 shared subscription available 2", [0x20, 0x05, 0x00, 0x00, 0x02, 0x2A, 0x02], v5, .protocolError),
    .init("CONNACK 5 will delay interval", [0x20, 0x08, 0x00, 0x00, 0x05, 0x18, 0, 0, 0, 1], v5, .protocolError),

    // MARK: PUBLISH (3.1.1 §3.3, 5 §3.3)
    .init("PUBLISH QoS 3", [0x36, 0x05, 0x00, 0x01, 0x61, 0x00, 0x01], every, .malformedPacket),
    .init("PUBLISH QoS 3 retained DUP", [0x3F, 0x05, 0x00, 0x01, 0x61, 0x00, 0x01], every, .malformedPacket),
    .init("PUBLISH QoS 0 with DUP", [0x38, 0x03, 0x00, 0x01, 0x61], v311, .malformedPacket),
    .init("PUBLISH QoS 1 packet identifier 0", [0x32, 0x05, 0x00, 0x01, 0x61, 0x00, 0x00], v311, .protocolError),
    .init("PUBLISH QoS 2 packet identifier 0", [0x34, 0x05, 0x00, 0x01, 0x61, 0x00, 0x00], v311, .protocolError),
    .init("PUBLISH QoS 1 without a packet identifier", [0x32, 0x03, 0x00, 0x01, 0x61], v311, .malformedPacket),
    .init("PUBLISH invalid UTF-8 (lone 0xFF) in topic", [0x30, 0x03, 0x00, 0x01, 0xFF], v311, .malformedPacket),
    .init("PUBLISH overlong UTF-8 '/' in topic", [0x30, 0x04, 0x00, 0x02, 0xC0, 0xAF], v311, .malformedPacket),
    .init("PUBLISH UTF-16 surrogate U+D800 in topic", [0x30, 0x05, 0x00, 0x03, 0xED, 0xA0, 0x80], v311, .malformedPacket),
    .init("PUBLISH truncated UTF-8 sequence in topic", [0x30, 0x04, 0x00, 0x02, 0x61, 0xE2], v311, .malformedPacket),
    .init("PUBLISH U+0000 in topic", [0x30, 0x05, 0x00, 0x03, 0x61, 0x00, 0x62], every, .malformedPacket),
    .init("PUBLISH topic with +", [0x30, 0x05, 0x00, 0x03, 0x61, 0x2F, 0x2B], v3Versions, .malformedPacket),
    .init("PUBLISH topic #", [0x30, 0x03, 0x00, 0x01, 0x23], v311, .malformedPacket),
    .init("PUBLISH topic with # inside a level", [0x30, 0x04, 0x00, 0x02, 0x61, 0x23], v311, .malformedPacket),
    .init("PUBLISH 5 topic with +", [0x30, 0x06, 0x00, 0x03, 0x61, 0x2F, 0x2B, 0x00], v5, .malformedPacket),
    .init("PUBLISH empty topic", [0x30, 0x02, 0x00, 0x00], v3Versions, .protocolError),
    .init("PUBLISH 5 empty topic without topic alias", [0x30, 0x03, 0x00, 0x00, 0x00], v5, .protocolError),
    .init("PUBLISH topic length past the end", [0x30, 0x03, 0x00, 0x05, 0x61], every, .malformedPacket),
    .init("PUBLISH ends inside the topic length", [0x30, 0x01, 0x00], every, .malformedPacket),
    .init("PUBLISH 5 missing the property length", [0x30, 0x03, 0x00, 0x01, 0x61], v5, .malformedPacket),
    .init("PUBLISH 5 property length past the end", [0x30, 0x05, 0x00, 0x01, 0x61, 0x05, 0x01], v5, .malformedPacket),
    .init("PUBLISH 5 property length of five bytes", [0x30, 0x08, 0x00, 0x01, 0x61, 0x80, 0x80, 0x80, 0x80, 0x00], v5, .malformedPacket),
    .init("PUBLISH 5 unknown property 0x04", [0x30, 0x05, 0x00, 0x01, 0x61, 0x01, 0x04], v5, .malformedPacket),
    .init("PUBLISH 5 property identifier 0x00", [0x30, 0x06, 0x00, 0x01, 0x61, 0x02, 0x00, 0x00], v5, .malformedPacket),
    .init("PUBLISH 5 property identifier 256 (two-byte VBI)", [0x30, 0x07, 0x00, 0x01, 0x61, 0x03, 0x80, 0x02, 0x00], v5, .malformedPacket),
    .init("PUBLISH 5 property value past the property length", [0x30, 0x07, 0x00, 0x01, 0x61, 0x03, 0x02, 0x00, 0x00], v5, .malformedPacket),
    .init("PUBLISH 5 session expiry interval (not allowed)",
          [0x30, 0x09, 0x00, 0x01, 0x61, 0x05, 0x11, 0x00, 0x00, 0x00, 0x01], v5, .protocolError),
    .init("PUBLISH 5 reason string (not allowed)",
          [0x30, 0x08, 0x00, 0x01, 0x61, 0x04, 0x1F, 0x00, 0x01, 0x78], v5, .protocolError),
    .init("PUBLISH 5 payload format indicator twice", [0x30, 0x08, 0x00, 0x01, 0x61, 0x04, 0x01, 0x01, 0x01, 0x01], v5, .protocolError),
    .init("PUBLISH 5 topic alias twice",
          [0x30, 0x0A, 0x00, 0x01, 0x61, 0x06, 0x23, 0x00, 0x01, 0x23, 0x00, 0x02], v5, .protocolError),
    .init("PUBLISH 5 payload format indicator 2", [0x30, 0x06, 0x00, 0x01, 0x61, 0x02, 0x01, 0x02], v5, .protocolError),
    .init("PUBLISH 5 topic alias 0", [0x30, 0x07, 0x00, 0x01, 0x61, 0x03, 0x23, 0x00, 0x00], v5, .topicAliasInvalid),
    .init("PUBLISH 5 empty topic with topic alias 0", [0x30, 0x06, 0x00, 0x00, 0x03, 0x23, 0x00, 0x00], v5, .topicAliasInvalid),
    .init("PUBLISH 5 subscription identifier 0", [0x30, 0x06, 0x00, 0x01, 0x61, 0x02, 0x0B, 0x00], v5, .protocolError),
    .init("PUBLISH 5 response topic with a wildcard",
          [0x30, 0x09, 0x00, 0x01, 0x61, 0x05, 0x08, 0x00, 0x02, 0x61, 0x23], v5, .protocolError),
    .init("PUBLISH 5 invalid UTF-8 in content type",
          [0x30, 0x08, 0x00, 0x01, 0x61, 0x04, 0x03, 0x00, 0x01, 0xFE], v5, .malformedPacket),
    .init("PUBLISH 5 U+0000 in a user property name",
          [0x30, 0x0A, 0x00, 0x01, 0x61, 0x06, 0x26, 0x00, 0x01, 0x00, 0x00, 0x00], v5, .malformedPacket),
    .init("PUBLISH 5 user property without its value",
          [0x30, 0x08, 0x00, 0x01, 0x61, 0x04, 0x26, 0x00, 0x01, 0x6B], v5, .malformedPacket),

    // MARK: Acknowledgements
    .init("PUBACK packet identifier 0", [0x40, 0x02, 0x00, 0x00], every, .protocolError),
    .init("PUBREC packet identifier 0", [0x50, 0x02, 0x00, 0x00], every, .protocolError),
    .init("PUBREL packet identifier 0", [0x62, 0x02, 0x00, 0x00], every, .protocolError),
    .init("PUBCOMP packet identifier 0", [0x70, 0x02, 0x00, 0x00], every, .protocolError),
    .init("PUBACK missing the packet identifier", [0x40, 0x01, 0x00], every, .malformedPacket),
    .init("PUBACK 3.1.1 trailing byte", [0x40, 0x03, 0x00, 0x01, 0x00], v311, .malformedPacket),
    .init("PUBCOMP 3.1 trailing byte", [0x70, 0x03, 0x00, 0x01, 0x00], [.v3_1], .malformedPacket),
    .init("PUBACK 5 property length past the end", [0x40, 0x04, 0x00, 0x01, 0x00, 0x03], v5, .malformedPacket),
    .init("PUBACK 5 topic alias (not allowed)", [0x40, 0x07, 0x00, 0x01, 0x00, 0x03, 0x23, 0x00, 0x01], v5, .protocolError),
    .init("PUBREL 5 reason string twice",
          [0x62, 0x0C, 0x00, 0x01, 0x00, 0x08, 0x1F, 0x00, 0x01, 0x61, 0x1F, 0x00, 0x01, 0x62], v5, .protocolError),

    // MARK: SUBSCRIBE (3.1.1 §3.8, 5 §3.8)
    .init("SUBSCRIBE with no topic filters", [0x82, 0x02, 0x00, 0x01], v311, .protocolError),
    .init("SUBSCRIBE 5 with no topic filters", [0x82, 0x03, 0x00, 0x01, 0x00], v5, .protocolError),
    .init("SUBSCRIBE packet identifier 0", [0x82, 0x06, 0x00, 0x00, 0x00, 0x01, 0x61, 0x00], v311, .protocolError),
    .init("SUBSCRIBE 3.1.1 options with the no-local bit", [0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 0x61, 0x04], v311, .malformedPacket),
    .init("SUBSCRIBE 3.1 options with a reserved bit", [0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 0x61, 0x80], [.v3_1], .malformedPacket),
    .init("SUBSCRIBE 3.1.1 options with retain handling bits", [0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 0x61, 0x10], v311, .malformedPacket),
    .init("SUBSCRIBE QoS 3", [0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 0x61, 0x03], v311, .malformedPacket),
    .init("SUBSCRIBE 5 QoS 3", [0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 0x61, 0x03], v5, .malformedPacket),
    .init("SUBSCRIBE 5 options reserved bit 6", [0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 0x61, 0x40], v5, .malformedPacket),
    .init("SUBSCRIBE 5 options reserved bit 7", [0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 0x61, 0x80], v5, .malformedPacket),
    .init("SUBSCRIBE 5 retain handling 3", [0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 0x61, 0x30], v5, .protocolError),
    .init("SUBSCRIBE filter without its options byte", [0x82, 0x05, 0x00, 0x01, 0x00, 0x01, 0x61], v311, .malformedPacket),
    .init("SUBSCRIBE filter length past the end", [0x82, 0x06, 0x00, 0x01, 0x00, 0x09, 0x61, 0x00], v311, .malformedPacket),
    .init("SUBSCRIBE invalid UTF-8 in a filter", [0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 0xC3, 0x00], v311, .malformedPacket),
    .init("SUBSCRIBE 5 subscription identifier 0",
          [0x82, 0x09, 0x00, 0x01, 0x02, 0x0B, 0x00, 0x00, 0x01, 0x61, 0x00], v5, .protocolError),
    .init("SUBSCRIBE 5 subscription identifier twice",
          [0x82, 0x0B, 0x00, 0x01, 0x04, 0x0B, 0x01, 0x0B, 0x02, 0x00, 0x01, 0x61, 0x00], v5, .protocolError),
    .init("SUBSCRIBE 5 reason string (not allowed)",
          [0x82, 0x0B, 0x00, 0x01, 0x04, 0x1F, 0x00, 0x01, 0x61, 0x00, 0x01, 0x61, 0x00], v5, .malformedPacket),

    // MARK: SUBACK / UNSUBSCRIBE / UNSUBACK
    .init("SUBACK packet identifier 0", [0x90, 0x03, 0x00, 0x00, 0x00], every, .protocolError),
    .init("SUBACK 5 subscription identifier (not allowed)", [0x90, 0x06, 0x00, 0x01, 0x02, 0x0B, 0x01, 0x00], v5, .protocolError),
    .init("UNSUBSCRIBE with no topic filters", [0xA2, 0x02, 0x00, 0x01], v311, .protocolError),
    .init("UNSUBSCRIBE 5 with no topic filters", [0xA2, 0x03, 0x00, 0x01, 0x00], v5, .protocolError),
    .init("UNSUBSCRIBE packet identifier 0", [0xA2, 0x05, 0x00, 0x00, 0x00, 0x01, 0x61], v311, .protocolError),
    .init("UNSUBSCRIBE filter length past the end", [0xA2, 0x05, 0x00, 0x01, 0x00, 0x02, 0x61], v311, .malformedPacket),
    .init("UNSUBSCRIBE U+0000 in a filter", [0xA2, 0x05, 0x00, 0x01, 0x00, 0x01, 0x00], v311, .malformedPacket),
    .init("UNSUBSCRIBE 5 subscription identifier (not allowed)",
          [0xA2, 0x08, 0x00, 0x01, 0x02, 0x0B, 0x01, 0x00, 0x01, 0x61], v5, .malformedPacket),
    .init("UNSUBACK 3.1.1 trailing reason code", [0xB0, 0x03, 0x00, 0x01, 0x00], v311, .malformedPacket),
    .init("UNSUBACK packet identifier 0", [0xB0, 0x02, 0x00, 0x00], v311, .protocolError),

    // MARK: PINGREQ / PINGRESP / DISCONNECT / AUTH
    .init("PINGREQ with a body", [0xC0, 0x01, 0x00], every, .malformedPacket),
    .init("PINGRESP with a body", [0xD0, 0x01, 0x00], every, .malformedPacket),
    .init("DISCONNECT 3.1.1 with a body", [0xE0, 0x01, 0x00], v311, .malformedPacket),
    .init("DISCONNECT 5 property length past the end", [0xE0, 0x02, 0x00, 0x05], v5, .malformedPacket),
    .init("DISCONNECT 5 trailing byte after properties", [0xE0, 0x03, 0x00, 0x00, 0x00], v5, .malformedPacket),
    .init("DISCONNECT 5 topic alias (not allowed)", [0xE0, 0x05, 0x00, 0x03, 0x23, 0x00, 0x01], v5, .protocolError),
    .init("DISCONNECT 5 session expiry interval twice",
          [0xE0, 0x0C, 0x00, 0x0A, 0x11, 0, 0, 0, 1, 0x11, 0, 0, 0, 2], v5, .protocolError),
    .init("AUTH under 3.1.1", [0xF0, 0x00], v311, .malformedPacket),
    .init("AUTH under 3.1", [0xF0, 0x00], [.v3_1], .malformedPacket),
    .init("AUTH 5 trailing byte after properties", [0xF0, 0x03, 0x18, 0x00, 0x00], v5, .malformedPacket),
    .init("AUTH 5 session expiry interval (not allowed)", [0xF0, 0x07, 0x18, 0x05, 0x11, 0, 0, 0, 1], v5, .protocolError),
    .init("AUTH 5 authentication method twice",
          [0xF0, 0x0A, 0x18, 0x08, 0x15, 0x00, 0x01, 0x61, 0x15, 0x00, 0x01, 0x62], v5, .protocolError),
]

/// Flattened to one argument per (case, version).
struct MalformedArgument: Sendable, CustomTestStringConvertible {
    var testCase: MalformedCase
    var version: ProtocolVersion
    var testDescription: String { "\(testCase.name) @ \(version)" }
}

@Suite("Malformed and protocol-violating packets")
struct MalformedPacketTests {
    static let arguments: [MalformedArgument] = malformedCases.flatMap { testCase in
        testCase.versions.map { MalformedArgument(testCase: testCase, version: $0) }
    }

    @Test("Decoding is refused with the expected reason code", arguments: arguments)
    func refused(_ argument: MalformedArgument) throws {
        let error = try Wire.decodeError(argument.testCase.bytes, version: argument.version)
        #expect(error?.reasonCode == argument.testCase.reason, "\(error?.message ?? "no error")")
    }

    @Test("Every case's remaining length matches its bytes (the table is well framed)", arguments: malformedCases)
    func casesAreWellFramed(_ testCase: MalformedCase) throws {
        // A second byte that disagrees with the array would make a case test the framing instead.
        let frame = try Wire.frame(testCase.bytes)
        #expect(frame.body.readableBytes + 2 == testCase.bytes.count)
    }

    @Test("Reason codes for malformed input carry a message and describe themselves")
    func errorDescription() {
        let error = MQTTProtocolError.packetTooLarge(size: 300, limit: 200)
        #expect(error.reasonCode == .packetTooLarge)
        #expect(error.description.contains("300"))
        #expect(error.description.contains("200"))
        #expect(error.description.hasSuffix("(reason 0x95)"))
        #expect(MQTTProtocolError.malformed("x").reasonCode == .malformedPacket)
        #expect(MQTTProtocolError.protocolViolation("x").reasonCode == .protocolError)
        #expect(MQTTProtocolError.topicNameInvalid("x").reasonCode == .topicNameInvalid)
        #expect(MQTTProtocolError.topicFilterInvalid("x").reasonCode == .topicFilterInvalid)
    }

    // The same rules seen from the other side: what is refused above is accepted when fixed.

    @Test("A v5 CONNECT may carry a password without a user name")
    func v5PasswordWithoutUserName() throws {
        let bytes: [UInt8] = [0x10, 0x11] + mqtt + [0x05, 0x42, 0x00, 0x3C, 0x00, 0x00, 0x01, 0x63, 0x00, 0x01, 0x70]
        let packet = try Wire.decode(bytes, version: .v5)
        #expect(packet == .connect(ConnectPacket(protocolVersion: .v5, clientIdentifier: "c", password: Wire.buffer("p"))))
    }

    @Test("A v5 SUBSCRIBE may set every options bit 0–5")
    func v5OptionsBits() throws {
        let packet = try Wire.decode([0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 0x61, 0x2E], version: .v5)
        guard case .subscribe(let subscribe) = packet else {
            Issue.record("decoded \(packet)")
            return
        }
        #expect(subscribe.subscriptions.first?.options == SubscriptionOptions(qos: .exactlyOnce, noLocal: true, retainAsPublished: true, retainHandling: .doNotSend))
    }

    @Test("A byte order mark at the start of a topic is kept [MQTT-1.5.4-3]")
    func byteOrderMarkKept() throws {
        let packet = try Wire.decode([0x30, 0x06, 0x00, 0x04, 0xEF, 0xBB, 0xBF, 0x61], version: .v3_1_1)
        guard case .publish(let publish) = packet else {
            Issue.record("decoded \(packet)")
            return
        }
        #expect(Array(publish.topic.utf8) == [0xEF, 0xBB, 0xBF, 0x61])
        #expect(publish.topic.unicodeScalars.first == "\u{FEFF}")
    }

    @Test("A QoS 0 PUBLISH carries no packet identifier: its bytes are payload")
    func qos0HasNoPacketIdentifier() throws {
        let packet = try Wire.decode([0x30, 0x05, 0x00, 0x01, 0x61, 0x00, 0x00], version: .v3_1_1)
        #expect(packet == .publish(PublishPacket(topic: "a", payload: Wire.buffer([0x00, 0x00]))))
    }

    @Test("PUBLISH topics may hold $, spaces and any non-wildcard Unicode")
    func unusualButValidTopics() throws {
        // U+FEFF (EF BB BF) must be kept, not stripped, by a receiver [MQTT-1.5.4-3].
        for topic in ["$SYS/x", "a b", "/", "//", "😀/ü", "a/b/c/d/e/f/g/h", "\u{FEFF}bom", "a/\u{FEFF}"] {
            let packet = MQTTPacket.publish(PublishPacket(topic: topic, payload: Wire.buffer([])))
            #expect(try Wire.roundTrip(packet, version: .v3_1_1) == packet, "\(topic)")
        }
    }

    @Test("From a client, a packet only a server sends is a protocol error whatever its body",
          arguments: [[0x20, 0x02, 0x00, 0x00], [0x21, 0x00], [0x90, 0x03, 0x00, 0x01, 0x00], [0xB0, 0x00], [0xD0, 0x00], [0xD4, 0x01, 0x00]] as [[UInt8]])
    func serverOnlyPacketsFromAClient(bytes: [UInt8]) throws {
        let error = #expect(throws: MQTTProtocolError.self) { try MQTTPacket.decodeFromClient(Wire.frame(bytes), version: .v5) }
        #expect(error?.reasonCode == .protocolError)
    }

    @Test("From a client, SUBACK and UNSUBACK with reserved flag bits are malformed first, as in Mosquitto",
          arguments: [[0x91, 0x03, 0x00, 0x01, 0x00], [0xB2, 0x00]] as [[UInt8]])
    func serverOnlyPacketsWithReservedFlags(bytes: [UInt8]) throws {
        let error = #expect(throws: MQTTProtocolError.self) { try MQTTPacket.decodeFromClient(Wire.frame(bytes), version: .v5) }
        #expect(error?.reasonCode == .malformedPacket)
    }

    @Test("Control characters are refused in topics, filters, client identifiers and user names",
          arguments: [
              [0x30, 0x04, 0x00, 0x02, 0x61, 0x01],                                     // PUBLISH "a\u{1}"
              [0x30, 0x05, 0x00, 0x03, 0x61, 0xC2, 0x9F],                               // PUBLISH "a\u{9F}"
              [0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 0x7F, 0x00],                         // SUBSCRIBE "\u{7F}"
              [0xA2, 0x05, 0x00, 0x01, 0x00, 0x01, 0x1F],                               // UNSUBSCRIBE "\u{1F}"
              [0x10, 0x0D, 0x00, 0x04, 0x4D, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x0A, 0x00, 0x01, 0x09], // client id "\t"
          ] as [[UInt8]])
    func controlCharacters(bytes: [UInt8]) throws {
        #expect(try Wire.decodeError(bytes, version: .v3_1_1)?.reasonCode == .malformedPacket)
    }

    @Test("An empty topic filter and a Variable Byte Integer longer than needed are malformed")
    func emptyFilterAndLongVariableByteInteger() throws {
        #expect(try Wire.decodeError([0x82, 0x05, 0x00, 0x01, 0x00, 0x00, 0x00], version: .v3_1_1)?.reasonCode == .malformedPacket)
        // PUBLISH with subscription identifier 0x80 0x00 (zero in two bytes).
        let bytes: [UInt8] = [0x30, 0x07, 0x00, 0x01, 0x61, 0x03, 0x0B, 0x80, 0x00]
        #expect(try Wire.decodeError(bytes, version: .v5)?.reasonCode == .malformedPacket)
    }

    @Test("MQTT 3.1 CONNECTs may set the bits 3.1 left unused; 3.1.1 may not")
    func mqtt31UnusedBits() throws {
        let body: [UInt8] = [0x00, 0x06, 0x4D, 0x51, 0x49, 0x73, 0x64, 0x70, 0x03, 0x03, 0x00, 0x0A, 0x00, 0x01, 0x70]
        guard case .connect(let connect) = try Wire.decode([0x14, UInt8(body.count)] + body, version: .v3_1) else {
            Issue.record("not a CONNECT")
            return
        }
        #expect(connect.protocolVersion == .v3_1)
        let v311: [UInt8] = [0x00, 0x04, 0x4D, 0x51, 0x54, 0x54, 0x04, 0x03, 0x00, 0x0A, 0x00, 0x01, 0x70]
        #expect(try Wire.decodeError([0x10, UInt8(v311.count)] + v311, version: .v3_1_1)?.reasonCode == .malformedPacket)
    }
}
