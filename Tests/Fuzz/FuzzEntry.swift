import MQTTBroker
import MQTTCore
import NIOCore

/// libFuzzer's entry point (`make fuzz`). The first byte picks what the rest is fed to:
/// 0, 1, 2 - the MQTT framing decoder and packet decoder as 3.1, 3.1.1 or 5.0;
/// 3 - the persistence store's reader, raw bytes (damage, resynchronisation);
/// 4 - the store's reader with the bytes cut into records with valid checksums, so the
///     fuzzer reaches the record bodies and the replay behind the checksum.
/// Whatever the input, nothing may crash, trap or run away.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = UnsafeBufferPointer(start: data, count: size)
    guard let mode = input.first else { return 0 }
    let rest = input.dropFirst()
    switch mode % 5 {
    case 0: decodePackets(rest, version: .v3_1)
    case 1: decodePackets(rest, version: .v3_1_1)
    case 2: decodePackets(rest, version: .v5)
    case 3: _ = FilePersistence.inspect(rest)
    default: _ = FilePersistence.inspect(StoreFraming.records(from: Array(rest)))
    }
    return 0
}

private func decodePackets(_ bytes: Slice<UnsafeBufferPointer<UInt8>>, version: ProtocolVersion) {
    var decoder = MQTTFrameDecoder()
    var buffer = ByteBuffer(bytes: bytes)
    while true {
        guard let frame = try? decoder.decode(buffer: &buffer) else { return }
        guard let packet = try? MQTTPacket.decode(frame, version: version) else { continue }
        // What decodes must encode again.
        var encoded = ByteBuffer()
        packet.encode(into: &encoded, version: version)
    }
}
