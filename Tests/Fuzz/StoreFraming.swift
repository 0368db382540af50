/// Cuts fuzzer bytes into store records (`0xB5, type, length, body, CRC-32C`) with correct
/// checksums: each chunk is a type byte, a length byte and that many body bytes.
enum StoreFraming {
    static func records(from bytes: [UInt8]) -> [UInt8] {
        var output: [UInt8] = []
        var index = 0
        while index + 2 <= bytes.count {
            let type = bytes[index] % 13
            let length = min(Int(bytes[index + 1]), bytes.count - index - 2)
            let body = bytes[(index + 2)..<(index + 2 + length)]
            index += 2 + length
            var record: [UInt8] = [0xB5, type]
            record += withUnsafeBytes(of: UInt32(body.count).bigEndian, Array.init)
            record += body
            record += withUnsafeBytes(of: checksum(record).bigEndian, Array.init)
            output += record
        }
        return output
    }

    private static let table: [UInt32] = (0..<256).map { index in
        var value = UInt32(index)
        for _ in 0..<8 { value = value & 1 == 1 ? (value >> 1) ^ 0x82F6_3B78 : value >> 1 }
        return value
    }

    static func checksum(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes { crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
        return crc ^ 0xFFFF_FFFF
    }
}
