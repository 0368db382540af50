@testable import MQTTBroker

/// Cuts fuzzer bytes into store records (`0xB5, type, length, body, CRC-32C`) with correct
/// checksums (the store's own CRC-32C): each chunk is a type byte, a length byte and that many
/// body bytes.
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
            record += withUnsafeBytes(of: record.withUnsafeBytes(CRC32C.checksum).bigEndian, Array.init)
            output += record
        }
        return output
    }
}
