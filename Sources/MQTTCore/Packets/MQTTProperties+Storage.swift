import NIOCore

extension MQTTProperties {
    /// Writes the properties as a PUBLISH carries them (length prefix, then each property), the
    /// form a broker's store keeps a message's properties in: one format to decode, already
    /// tested against every client.
    public func encodeForStorage(into buffer: inout ByteBuffer) {
        encode(into: &buffer)
    }

    /// Reads properties written by `encodeForStorage(into:)`.
    public static func decodeFromStorage(_ buffer: inout ByteBuffer) throws(MQTTProtocolError) -> MQTTProperties {
        try decode(from: &buffer, context: .publish)
    }
}
