import NIOCore

/// UNSUBSCRIBE: topic filters to remove, exactly as they were subscribed.
public struct UnsubscribePacket: Sendable, Hashable {
    public var packetIdentifier: UInt16
    public var topicFilters: [String]
    public var properties: MQTTProperties

    public init(packetIdentifier: UInt16, topicFilters: [String], properties: MQTTProperties = .none) {
        self.packetIdentifier = packetIdentifier
        self.topicFilters = topicFilters
        self.properties = properties
    }
}

extension UnsubscribePacket: MQTTPacketCodable {
    static var packetType: PacketType { .unsubscribe }

    func bodyLength(version: ProtocolVersion) -> Int {
        2 + (version.hasProperties ? properties.encodedLengthWithPrefix : 0)
            + topicFilters.reduce(0) { $0 + MQTTSize.string($1) }
    }

    func encodeBody(into buffer: inout ByteBuffer, version: ProtocolVersion) {
        buffer.writeInteger(packetIdentifier)
        if version.hasProperties { properties.encode(into: &buffer) }
        for filter in topicFilters { buffer.writeMQTTString(filter) }
    }

    static func decode(flags: UInt8, body: inout ByteBuffer, version: ProtocolVersion) throws(MQTTProtocolError) -> UnsubscribePacket {
        let identifier = try readPacketIdentifier(from: &body, in: .unsubscribe)
        let properties = version.hasProperties ? try MQTTProperties.decode(from: &body, context: .unsubscribe) : .none
        var filters: [String] = []
        while body.readableBytes > 0 {
            let filter = try body.readMQTTName("topic filter")
            guard !filter.isEmpty else { throw .malformed("empty topic filter") }  // MQTT-4.7.3-1
            filters.append(filter)
        }
        guard !filters.isEmpty else { throw .protocolViolation("UNSUBSCRIBE without a topic filter") }
        return UnsubscribePacket(packetIdentifier: identifier, topicFilters: filters, properties: properties)
    }
}
