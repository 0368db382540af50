import MQTTCore
import NIOCore
import Testing

/// Helpers shared by the MQTTCore suites. Everything goes through the public API: packets are
/// encoded with `MQTTPacket.encoded(version:)`, cut into a frame by `MQTTFrameDecoder` and read
/// back with `MQTTPacket.decode(_:version:)`, exactly as the broker does on a connection.
enum Wire {
    /// A buffer holding `bytes`.
    static func buffer(_ bytes: [UInt8]) -> ByteBuffer {
        ByteBuffer(bytes: bytes)
    }

    /// A buffer holding the UTF-8 of `string`.
    static func buffer(_ string: String) -> ByteBuffer {
        ByteBuffer(string: string)
    }

    /// The bytes `packet` is written as under `version`.
    static func encode(_ packet: MQTTPacket, version: ProtocolVersion) -> [UInt8] {
        Array(packet.encoded(version: version).readableBytesView)
    }

    /// Frames `bytes` (which must hold exactly one packet) with a fresh `MQTTFrameDecoder`.
    static func frame(_ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) throws -> MQTTFrame {
        var buffer = ByteBuffer(bytes: bytes)
        var decoder = MQTTFrameDecoder()
        let frame = try #require(try decoder.decode(buffer: &buffer), "bytes do not hold a whole frame", sourceLocation: sourceLocation)
        #expect(buffer.readableBytes == 0, "bytes left after the frame", sourceLocation: sourceLocation)
        return frame
    }

    /// Frames and decodes `bytes` as one packet on a connection at `version`.
    static func decode(_ bytes: [UInt8], version: ProtocolVersion, sourceLocation: SourceLocation = #_sourceLocation) throws -> MQTTPacket {
        try MQTTPacket.decode(frame(bytes, sourceLocation: sourceLocation), version: version)
    }

    /// Encodes, frames and decodes `packet`.
    static func roundTrip(_ packet: MQTTPacket, version: ProtocolVersion, sourceLocation: SourceLocation = #_sourceLocation) throws -> MQTTPacket {
        let bytes = encode(packet, version: version)
        #expect(bytes.count == packet.encodedSize(version: version), "encodedSize disagrees with the bytes written", sourceLocation: sourceLocation)
        return try decode(bytes, version: version, sourceLocation: sourceLocation)
    }

    /// The protocol error decoding `bytes` raises, or nil (with a recorded issue) when it decodes.
    static func decodeError(_ bytes: [UInt8], version: ProtocolVersion, sourceLocation: SourceLocation = #_sourceLocation) throws -> MQTTProtocolError? {
        let frame = try frame(bytes, sourceLocation: sourceLocation)
        do {
            let packet = try MQTTPacket.decode(frame, version: version)
            Issue.record("expected a protocol error, decoded \(packet)", sourceLocation: sourceLocation)
            return nil
        } catch {
            return error
        }
    }

    /// Bytes as `0x10 0x0F ...`, for readable failure messages.
    static func hex(_ bytes: [UInt8]) -> String {
        bytes.map { byte in
            let digits = String(byte, radix: 16, uppercase: true)
            return digits.count == 1 ? "0" + digits : digits
        }.joined(separator: " ")
    }
}

/// The three protocol levels, for arguments.
let allVersions: [ProtocolVersion] = [.v3_1, .v3_1_1, .v5]
/// The levels before MQTT 5, which share every packet layout except CONNECT's protocol name.
let v3Versions: [ProtocolVersion] = [.v3_1, .v3_1_1]

/// A small deterministic generator (xorshift64*) so randomized tables are the same on every run.
struct XorShift: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        precondition(seed != 0, "xorshift needs a non-zero seed")
        state = seed
    }

    mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 2_685_821_657_736_338_717
    }
}
