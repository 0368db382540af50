import NIOCore

/// SUBSCRIBE: one or more topic filters with their options.
public struct SubscribePacket: Sendable, Hashable {
    public struct Subscription: Sendable, Hashable {
        /// As sent; validated by the broker so that one bad filter fails only its own entry.
        public var topicFilter: String
        public var options: SubscriptionOptions

        public init(topicFilter: String, options: SubscriptionOptions = .init()) {
            self.topicFilter = topicFilter
            self.options = options
        }
    }

    public var packetIdentifier: UInt16
    public var subscriptions: [Subscription]
    public var properties: MQTTProperties

    public init(packetIdentifier: UInt16, subscriptions: [Subscription], properties: MQTTProperties = .none) {
        self.packetIdentifier = packetIdentifier
        self.subscriptions = subscriptions
        self.properties = properties
    }
}

extension SubscribePacket: MQTTPacketCodable {
    static var packetType: PacketType { .subscribe }

    func bodyLength(version: ProtocolVersion) -> Int {
        2 + (version.hasProperties ? properties.encodedLengthWithPrefix : 0)
            + subscriptions.reduce(0) { $0 + MQTTSize.string($1.topicFilter) + 1 }
    }

    func encodeBody(into buffer: inout ByteBuffer, version: ProtocolVersion) {
        buffer.writeInteger(packetIdentifier)
        if version.hasProperties { properties.encode(into: &buffer) }
        for subscription in subscriptions {
            buffer.writeMQTTString(subscription.topicFilter)
            buffer.writeInteger(subscription.options.byte)
        }
    }

    static func decode(flags: UInt8, body: inout ByteBuffer, version: ProtocolVersion) throws(MQTTProtocolError) -> SubscribePacket {
        let identifier = try readPacketIdentifier(from: &body, in: .subscribe)
        let properties = version.hasProperties ? try MQTTProperties.decode(from: &body, context: .subscribe) : .none
        var subscriptions: [Subscription] = []
        while body.readableBytes > 0 {
            let filter = try body.readMQTTName("topic filter")
            guard !filter.isEmpty else { throw .malformed("empty topic filter") }  // MQTT-4.7.3-1
            let options = try SubscriptionOptions(byte: body.readMQTTByte(), version: version)
            subscriptions.append(Subscription(topicFilter: filter, options: options))
        }
        guard !subscriptions.isEmpty else { throw .protocolViolation("SUBSCRIBE without a topic filter") }
        return SubscribePacket(packetIdentifier: identifier, subscriptions: subscriptions, properties: properties)
    }
}
