import NIOCore

extension String {
    /// Whether the string holds a C0 or C1 control character (U+0001–U+001F, U+007F–U+009F).
    ///
    /// MQTT allows them in UTF-8 fields but lets a receiver refuse them (MQTT 5 §1.5.4, 3.1.1
    /// §1.5.3). Parley refuses them, as Mosquitto does, where they name things a person reads
    /// in logs, ACL files and `$SYS`: topic names and filters, client identifiers, user names.
    public var containsControlCharacter: Bool {
        unicodeScalars.contains { (0x01...0x1F).contains($0.value) || (0x7F...0x9F).contains($0.value) }
    }
}

extension ByteBuffer {
    /// Reads a UTF-8 string that names something (a topic, a client, a user), refusing control
    /// characters as a malformed packet.
    mutating func readMQTTName(_ what: String) throws(MQTTProtocolError) -> String {
        let name = try readMQTTString()
        guard !name.containsControlCharacter else { throw .malformed("control character in \(what)") }
        return name
    }
}
