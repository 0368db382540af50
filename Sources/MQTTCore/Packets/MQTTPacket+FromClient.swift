extension MQTTPacket {
    /// Decodes a packet a server received from a client once connected.
    ///
    /// A packet only a server sends is a protocol error (MQTT 5 §4.13.1, 0x82) whatever its
    /// flags and body say: its type alone decides, as in Mosquitto, which checks the reserved
    /// flags of SUBACK and UNSUBACK first (malformed) and refuses the others by type.
    public static func decodeFromClient(_ frame: MQTTFrame, version: ProtocolVersion) throws(MQTTProtocolError) -> MQTTPacket {
        if let type = PacketType(rawValue: frame.firstByte >> 4), type.isSentByServerOnly {
            let flagsFirst = (type == .suback || type == .unsuback) && frame.firstByte & 0x0F != 0
            if !flagsFirst { throw .protocolViolation("\(type) may only be sent by a server") }
        }
        return try decode(frame, version: version)
    }
}
