import NIOCore

/// MQTT's primitive data types (MQTT 5 §1.5) over `ByteBuffer`.
///
/// Readers throw `MQTTProtocolError` because they run on a complete packet body: a value that
/// runs past the end is a malformed packet, never "wait for more bytes".
extension ByteBuffer {
    @inlinable
    mutating func readMQTTByte() throws(MQTTProtocolError) -> UInt8 {
        guard let value = readInteger(as: UInt8.self) else { throw .malformed("packet ends inside a byte field") }
        return value
    }

    @inlinable
    mutating func readMQTTUInt16() throws(MQTTProtocolError) -> UInt16 {
        guard let value = readInteger(as: UInt16.self) else { throw .malformed("packet ends inside a two-byte integer") }
        return value
    }

    @inlinable
    mutating func readMQTTUInt32() throws(MQTTProtocolError) -> UInt32 {
        guard let value = readInteger(as: UInt32.self) else { throw .malformed("packet ends inside a four-byte integer") }
        return value
    }

    /// Reads a Variable Byte Integer inside a packet body.
    mutating func readMQTTVariableByteInteger() throws(MQTTProtocolError) -> Int {
        switch peekVariableByteInteger() {
        case .complete(let value, let length):
            // MQTT-1.5.5-1: the fewest bytes; a longer form (0x80 0x00 for 0) is malformed.
            guard length == 1 || getInteger(at: readerIndex + length - 1, as: UInt8.self) != 0 else {
                throw .malformed("variable byte integer not in its shortest form")
            }
            moveReaderIndex(forwardBy: length)
            return value
        case .incomplete:
            throw .malformed("packet ends inside a variable byte integer")
        case .tooLong:
            throw .malformed("variable byte integer longer than 4 bytes")
        }
    }

    /// The outcome of looking at a Variable Byte Integer without consuming it.
    enum VariableByteIntegerPeek {
        case complete(value: Int, length: Int)
        case incomplete
        case tooLong
    }

    /// Looks at a Variable Byte Integer at the reader index without moving it; the framing
    /// decoder uses this to learn a packet's length before its body has arrived.
    func peekVariableByteInteger(at offset: Int = 0) -> VariableByteIntegerPeek {
        var value = 0
        var multiplier = 1
        var index = readerIndex + offset
        for length in 1...4 {
            guard let byte = getInteger(at: index, as: UInt8.self) else { return .incomplete }
            value += Int(byte & 0x7F) * multiplier
            if byte & 0x80 == 0 { return .complete(value: value, length: length) }
            multiplier *= 128
            index += 1
        }
        return .tooLong
    }

    /// Reads a UTF-8 Encoded String: a two-byte length, then well-formed UTF-8 without U+0000.
    mutating func readMQTTString() throws(MQTTProtocolError) -> String {
        let length = Int(try readMQTTUInt16())
        guard let slice = readSlice(length: length) else { throw .malformed("string length \(length) runs past the packet end") }
        return try slice.mqttValidatedString()
    }

    /// Validates readable bytes as an MQTT string (MQTT 5 §1.5.4).
    func mqttValidatedString() throws(MQTTProtocolError) -> String {
        let string: String? = withUnsafeReadableBytes { raw in
            if raw.contains(0) { return nil }
            return String(validating: raw.bindMemory(to: UInt8.self), as: UTF8.self)
        }
        guard let string else { throw .malformed("string is not well-formed UTF-8 or contains U+0000") }
        return string
    }

    /// Reads Binary Data: a two-byte length, then that many bytes (shared, not copied).
    mutating func readMQTTBinary() throws(MQTTProtocolError) -> ByteBuffer {
        let length = Int(try readMQTTUInt16())
        guard let slice = readSlice(length: length) else { throw .malformed("binary data length \(length) runs past the packet end") }
        return slice
    }

    @discardableResult
    mutating func writeMQTTVariableByteInteger(_ value: Int) -> Int {
        precondition(value >= 0 && value <= MQTTLimits.maximumVariableByteInteger, "variable byte integer out of range")
        var remaining = value
        var written = 0
        repeat {
            var byte = UInt8(remaining & 0x7F)
            remaining >>= 7
            if remaining > 0 { byte |= 0x80 }
            writeInteger(byte)
            written += 1
        } while remaining > 0
        return written
    }

    mutating func writeMQTTString(_ string: String) {
        writeInteger(UInt16(string.utf8.count))
        writeString(string)
    }

    mutating func writeMQTTBinary(_ data: ByteBuffer) {
        writeInteger(UInt16(data.readableBytes))
        writeImmutableBuffer(data)
    }
}

/// Sizes of the primitive types, used to compute a packet's length before writing it once.
enum MQTTSize {
    static func variableByteInteger(_ value: Int) -> Int {
        switch value {
        case ..<128: 1
        case ..<16_384: 2
        case ..<2_097_152: 3
        default: 4
        }
    }

    static func string(_ string: String) -> Int { 2 + string.utf8.count }
    static func binary(_ data: ByteBuffer) -> Int { 2 + data.readableBytes }
}

/// Numeric limits fixed by the protocol.
public enum MQTTLimits {
    /// The largest value a Variable Byte Integer holds, and so the largest remaining length.
    public static let maximumVariableByteInteger = 268_435_455
    /// The largest whole packet: one type byte, four length bytes and the largest remaining length.
    public static let maximumPacketSize = 1 + 4 + maximumVariableByteInteger
    /// The largest string or binary field.
    public static let maximumFieldLength = Int(UInt16.max)
}
