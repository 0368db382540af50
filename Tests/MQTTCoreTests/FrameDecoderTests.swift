import MQTTCore
import NIOCore
import NIOTestUtils
import Testing

@Suite("Frame decoder")
struct FrameDecoderTests {
    /// A frame as the decoder should produce it.
    static func frame(_ firstByte: UInt8, _ body: [UInt8]) -> MQTTFrame {
        MQTTFrame(firstByte: firstByte, body: Wire.buffer(body))
    }

    /// The remaining length bytes for `length`, written out by hand per MQTT 5 §1.5.5.
    static let remainingLengthEncodings: [(length: Int, bytes: [UInt8])] = [
        (0, [0x00]),
        (1, [0x01]),
        (127, [0x7F]),
        (128, [0x80, 0x01]),
        (321, [0xC1, 0x02]),
        (16_383, [0xFF, 0x7F]),
        (16_384, [0x80, 0x80, 0x01]),
        (2_097_151, [0xFF, 0xFF, 0x7F]),
        (2_097_152, [0x80, 0x80, 0x80, 0x01]),
        (268_435_455, [0xFF, 0xFF, 0xFF, 0x7F]),
    ]

    @Test("verifyDecoder: small packets drip-fed, one per buffer and many per buffer")
    func verifierSmallPackets() throws {
        let pairs: [(ByteBuffer, [MQTTFrame])] = [
            (Wire.buffer([0xC0, 0x00]), [Self.frame(0xC0, [])]),
            (Wire.buffer([0xD0, 0x00]), [Self.frame(0xD0, [])]),
            (Wire.buffer([0x40, 0x02, 0x00, 0x0A]), [Self.frame(0x40, [0x00, 0x0A])]),
            (Wire.buffer([0x30, 0x07, 0x00, 0x03, 0x61, 0x2F, 0x62, 0x68, 0x69]),
             [Self.frame(0x30, [0x00, 0x03, 0x61, 0x2F, 0x62, 0x68, 0x69])]),
            // Two packets in one input.
            (Wire.buffer([0x62, 0x02, 0x00, 0x01, 0xE0, 0x00]), [Self.frame(0x62, [0x00, 0x01]), Self.frame(0xE0, [])]),
            // Reserved types are still framed: the frame decoder does not interpret.
            (Wire.buffer([0x0F, 0x01, 0xAA]), [Self.frame(0x0F, [0xAA])]),
        ]
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: pairs) { MQTTFrameDecoder() }
    }

    @Test("verifyDecoder: every packet type as the encoder writes it, at each version", arguments: allVersions)
    func verifierEncodedPackets(version: ProtocolVersion) throws {
        let packets: [MQTTPacket] = [
            .connect(ConnectPacket(protocolVersion: version, clientIdentifier: "abc", username: "u", password: Wire.buffer("p"))),
            .connack(ConnAckPacket(sessionPresent: true)),
            .publish(PublishPacket(topic: "a/b", payload: Wire.buffer([UInt8](repeating: 7, count: 300)), qos: .exactlyOnce, packetIdentifier: 3)),
            .puback(PublishResponsePacket(packetIdentifier: 1)),
            .pubrec(PublishResponsePacket(packetIdentifier: 2)),
            .pubrel(PublishResponsePacket(packetIdentifier: 2)),
            .pubcomp(PublishResponsePacket(packetIdentifier: 2)),
            .subscribe(SubscribePacket(packetIdentifier: 4, subscriptions: [.init(topicFilter: "#")])),
            .suback(SubAckPacket(packetIdentifier: 4, reasonCodes: [.grantedQoS0])),
            .unsubscribe(UnsubscribePacket(packetIdentifier: 5, topicFilters: ["#"])),
            .unsuback(UnsubAckPacket(packetIdentifier: 5)),
            .pingreq, .pingresp, .disconnect(DisconnectPacket()),
        ]
        let pairs: [(ByteBuffer, [MQTTFrame])] = try packets.map { packet in
            let bytes = Wire.encode(packet, version: version)
            return (Wire.buffer(bytes), [try Wire.frame(bytes)])
        }
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: pairs) { MQTTFrameDecoder() }
    }

    @Test("verifyDecoder: a packet with a three-byte remaining length")
    func verifierThreeByteLength() throws {
        let body = (0..<16_400).map { UInt8(truncatingIfNeeded: $0) }
        let bytes: [UInt8] = [0x30, 0x90, 0x80, 0x01] + body // 16_400 = 0x10 + 0x00·128 + 1·16384
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: [
            (Wire.buffer(bytes), [Self.frame(0x30, body)]),
            (Wire.buffer([0xC0, 0x00]), [Self.frame(0xC0, [])]),
        ]) { MQTTFrameDecoder() }
    }

    @Test("Remaining length boundaries are read from the right number of bytes", arguments: remainingLengthEncodings.indices)
    func remainingLengthBoundaries(index: Int) throws {
        let (length, lengthBytes) = Self.remainingLengthEncodings[index]
        var decoder = MQTTFrameDecoder()
        var buffer = Wire.buffer([0x30] + lengthBytes)
        // Past a few megabytes only the header is checked, to keep memory use down.
        if length > 3_000_000 {
            #expect(try decoder.decode(buffer: &buffer) == nil)
            #expect(buffer.readerIndex == 0)
            return
        }

        // The header alone is not a frame yet, and nothing is consumed while waiting.
        if length > 0 {
            #expect(try decoder.decode(buffer: &buffer) == nil)
            #expect(buffer.readerIndex == 0)
            buffer.writeRepeatingByte(0x5A, count: length - 1)
            #expect(try decoder.decode(buffer: &buffer) == nil, "one byte short")
            #expect(buffer.readerIndex == 0)
            buffer.writeInteger(UInt8(0xA5))
        }
        buffer.writeInteger(UInt8(0xEE)) // the first byte of the next packet
        let frame = try #require(try decoder.decode(buffer: &buffer))
        #expect(frame.firstByte == 0x30)
        #expect(frame.body.readableBytes == length)
        if length > 0 { #expect(frame.body.getInteger(at: frame.body.readerIndex + length - 1, as: UInt8.self) == 0xA5) }
        #expect(buffer.readableBytes == 1, "exactly the frame was consumed")
    }

    @Test(
        "The encoder writes remaining length boundaries with the right number of bytes",
        // A 3.1.1 QoS 0 PUBLISH needs at least 3 bytes; very large payloads are left out to save memory.
        arguments: remainingLengthEncodings.indices.filter { (3...3_000_000).contains(remainingLengthEncodings[$0].length) })
    func encoderRemainingLength(index: Int) throws {
        let (length, lengthBytes) = Self.remainingLengthEncodings[index]
        // A 3.1.1 QoS 0 PUBLISH to "t" has a 3-byte variable header, then the payload.
        let payload = ByteBuffer(repeating: 0x42, count: length - 3)
        let packet = MQTTPacket.publish(PublishPacket(topic: "t", payload: payload))
        let encoded = packet.encoded(version: .v3_1_1)
        #expect(encoded.readableBytes == 1 + lengthBytes.count + length)
        #expect(packet.encodedSize(version: .v3_1_1) == encoded.readableBytes)
        #expect(Array(encoded.readableBytesView.prefix(1 + lengthBytes.count)) == [0x30] + lengthBytes)
        #expect(Array(encoded.readableBytesView.dropFirst(1 + lengthBytes.count).prefix(3)) == [0x00, 0x01, 0x74])
    }

    @Test("A remaining length of five bytes is malformed (0x81)", arguments: [
        [0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F] as [UInt8],
        [0x30, 0x80, 0x80, 0x80, 0x80, 0x00],
        [0x30, 0x80, 0x80, 0x80, 0x80], // the fifth byte has not even arrived
    ])
    func fiveByteRemainingLength(bytes: [UInt8]) {
        var decoder = MQTTFrameDecoder()
        var buffer = Wire.buffer(bytes)
        let error = #expect(throws: MQTTProtocolError.self) { try decoder.decode(buffer: &buffer) }
        #expect(error?.reasonCode == .malformedPacket)
    }

    @Test("An incomplete remaining length waits for more bytes", arguments: [
        [0x30] as [UInt8], [0x30, 0x80], [0x30, 0xFF, 0xFF], [0x30, 0xFF, 0xFF, 0xFF],
    ])
    func incompleteRemainingLength(bytes: [UInt8]) throws {
        var decoder = MQTTFrameDecoder()
        var buffer = Wire.buffer(bytes)
        #expect(try decoder.decode(buffer: &buffer) == nil)
        #expect(buffer.readableBytes == bytes.count)
        var empty = ByteBuffer()
        #expect(try decoder.decode(buffer: &empty) == nil)
    }

    @Test("A packet over the maximum packet size is refused (0x95) from its header alone", arguments: [
        (10, [0x30, 0x09] as [UInt8]),         // 1 + 1 + 9 = 11 > 10
        (100, [0x30, 0x80, 0x01]),             // 1 + 2 + 128
        (16_385, [0x30, 0xFF, 0x7F]),          // 1 + 2 + 16383 = 16386
        (2_097_155, [0x30, 0x80, 0x80, 0x80, 0x01]),
        (MQTTLimits.maximumPacketSize - 1, [0x30, 0xFF, 0xFF, 0xFF, 0x7F]),
    ])
    func oversizedPacketRefused(limit: Int, header: [UInt8]) throws {
        var decoder = MQTTFrameDecoder(maximumPacketSize: limit)
        var buffer = Wire.buffer(header)
        // No body bytes have arrived: the refusal must not wait for them.
        let error = #expect(throws: MQTTProtocolError.self) { try decoder.decode(buffer: &buffer) }
        #expect(error?.reasonCode == .packetTooLarge)
    }

    @Test("A packet exactly at the maximum packet size is accepted")
    func packetAtLimitAccepted() throws {
        var decoder = MQTTFrameDecoder(maximumPacketSize: 11)
        var buffer = Wire.buffer([0x30, 0x09, 0x00, 0x01, 0x74, 1, 2, 3, 4, 5, 6])
        let frame = try #require(try decoder.decode(buffer: &buffer))
        #expect(frame == Self.frame(0x30, [0x00, 0x01, 0x74, 1, 2, 3, 4, 5, 6]))
        // And the next one, one byte larger, is refused.
        var next = Wire.buffer([0x30, 0x0A])
        let error = #expect(throws: MQTTProtocolError.self) { try decoder.decode(buffer: &next) }
        #expect(error?.reasonCode == .packetTooLarge)
    }

    @Test("The default maximum accepts the largest remaining length")
    func defaultMaximum() throws {
        #expect(MQTTLimits.maximumPacketSize == 268_435_460)
        #expect(MQTTLimits.maximumVariableByteInteger == 268_435_455)
        var decoder = MQTTFrameDecoder()
        #expect(decoder.maximumPacketSize == MQTTLimits.maximumPacketSize)
        var buffer = Wire.buffer([0x30, 0xFF, 0xFF, 0xFF, 0x7F])
        #expect(try decoder.decode(buffer: &buffer) == nil, "waits for the body rather than refusing")
    }

    @Test("decodeLast frames what is complete and leaves a partial packet")
    func decodeLastAtEOF() throws {
        var decoder = MQTTFrameDecoder()
        var buffer = Wire.buffer([0xC0, 0x00, 0x30, 0x05, 0x00])
        #expect(try decoder.decodeLast(buffer: &buffer, seenEOF: true) == Self.frame(0xC0, []))
        #expect(try decoder.decodeLast(buffer: &buffer, seenEOF: true) == nil)
        #expect(buffer.readableBytes == 3)
    }

    @Test("The frame body is a slice holding exactly the remaining length")
    func frameBodyIsExact() throws {
        var decoder = MQTTFrameDecoder()
        var buffer = Wire.buffer([0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 0x23, 0x01, 0xC0, 0x00])
        let first = try #require(try decoder.decode(buffer: &buffer))
        #expect(first.firstByte == 0x82)
        #expect(Array(first.body.readableBytesView) == [0x00, 0x01, 0x00, 0x01, 0x23, 0x01])
        let second = try #require(try decoder.decode(buffer: &buffer))
        #expect(second == Self.frame(0xC0, []))
        #expect(try decoder.decode(buffer: &buffer) == nil)
    }
}
