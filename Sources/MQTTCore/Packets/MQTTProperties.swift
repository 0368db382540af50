import NIOCore

/// The MQTT 5 properties of a packet, as typed fields.
///
/// Typed fields rather than a list of enum cases, because the broker reads and rewrites single
/// properties on the hot path (topic alias, message expiry) and forwards the rest unchanged.
/// Under 3.1.1 every field stays empty and nothing is encoded.
public struct MQTTProperties: Sendable, Hashable {
    public var payloadFormatIndicator: UInt8?
    public var messageExpiryInterval: UInt32?
    public var contentType: String?
    public var responseTopic: String?
    public var correlationData: ByteBuffer?
    /// One value in SUBSCRIBE; in PUBLISH from the server, one per matching subscription.
    public var subscriptionIdentifiers: [Int]
    public var sessionExpiryInterval: UInt32?
    public var assignedClientIdentifier: String?
    public var serverKeepAlive: UInt16?
    public var authenticationMethod: String?
    public var authenticationData: ByteBuffer?
    public var requestProblemInformation: UInt8?
    public var willDelayInterval: UInt32?
    public var requestResponseInformation: UInt8?
    public var responseInformation: String?
    public var serverReference: String?
    public var reasonString: String?
    public var receiveMaximum: UInt16?
    public var topicAliasMaximum: UInt16?
    public var topicAlias: UInt16?
    public var maximumQoS: UInt8?
    public var retainAvailable: UInt8?
    public var userProperties: [UserProperty]
    public var maximumPacketSize: UInt32?
    public var wildcardSubscriptionAvailable: UInt8?
    public var subscriptionIdentifierAvailable: UInt8?
    public var sharedSubscriptionAvailable: UInt8?

    public init() {
        subscriptionIdentifiers = []
        userProperties = []
    }

    public static let none = MQTTProperties()

    @inlinable public var isEmpty: Bool { self == .none }
}

extension MQTTProperties {
    /// Reads a property length and the properties after it, rejecting identifiers the
    /// `context` may not carry, repeats (protocol error) and out-of-range values.
    static func decode(
        from buffer: inout ByteBuffer,
        context: PropertyIdentifier.Contexts
    ) throws(MQTTProtocolError) -> MQTTProperties {
        let length = try buffer.readMQTTVariableByteInteger()
        guard var body = buffer.readSlice(length: length) else {
            throw .malformed("property length \(length) runs past the packet end")
        }
        var properties = MQTTProperties()
        var seen: UInt64 = 0
        var misplaced: PropertyIdentifier?
        while body.readableBytes > 0 {
            let rawIdentifier = try body.readMQTTVariableByteInteger()
            guard rawIdentifier <= 0xFF, let identifier = PropertyIdentifier(rawValue: UInt8(rawIdentifier)) else {
                throw .malformed("unknown property identifier 0x\(String(rawIdentifier, radix: 16))")
            }
            guard identifier.allowedContexts.contains(context) else {
                // Judged once the whole list has been read: a list that does not parse is
                // malformed first.
                var discarded = MQTTProperties()
                try discarded.read(identifier, from: &body)
                misplaced = misplaced ?? identifier
                continue
            }
            let bit: UInt64 = 1 << UInt64(identifier.rawValue)
            let repeatable = identifier == .userProperty || (identifier == .subscriptionIdentifier && context == .publish)
            if seen & bit != 0 && !repeatable {
                throw .protocolViolation("property \(identifier) appears more than once")
            }
            seen |= bit
            try properties.read(identifier, from: &body)
        }
        if let misplaced {
            // MQTT 5 §2.2.2.2 calls a property on the wrong packet malformed, and §4.13.1 lets
            // either 0x81 or 0x82 be sent. Mosquitto answers 0x81 on SUBSCRIBE and UNSUBSCRIBE
            // and 0x82 elsewhere; Parley does the same, so its users see the same bytes.
            let message = "property \(misplaced) is not allowed on this packet"
            throw context == .subscribe || context == .unsubscribe ? .malformed(message) : .protocolViolation(message)
        }
        return properties
    }

    private mutating func read(_ identifier: PropertyIdentifier, from body: inout ByteBuffer) throws(MQTTProtocolError) {
        switch identifier {
        case .payloadFormatIndicator:
            payloadFormatIndicator = try Self.zeroOrOne(body.readMQTTByte(), identifier)
        case .messageExpiryInterval: messageExpiryInterval = try body.readMQTTUInt32()
        case .contentType: contentType = try body.readMQTTString()
        case .responseTopic:
            let topic = try body.readMQTTString()
            do { try TopicValidation.validateTopicName(topic) } catch {
                throw .protocolViolation("response topic '\(topic)' is not a valid topic name")
            }
            responseTopic = topic
        case .correlationData: correlationData = try body.readMQTTBinary()
        case .subscriptionIdentifier:
            let value = try body.readMQTTVariableByteInteger()
            guard value != 0 else { throw .protocolViolation("subscription identifier 0") }
            subscriptionIdentifiers.append(value)
        case .sessionExpiryInterval: sessionExpiryInterval = try body.readMQTTUInt32()
        case .assignedClientIdentifier: assignedClientIdentifier = try body.readMQTTString()
        case .serverKeepAlive: serverKeepAlive = try body.readMQTTUInt16()
        case .authenticationMethod: authenticationMethod = try body.readMQTTString()
        case .authenticationData: authenticationData = try body.readMQTTBinary()
        case .requestProblemInformation:
            requestProblemInformation = try Self.zeroOrOne(body.readMQTTByte(), identifier)
        case .willDelayInterval: willDelayInterval = try body.readMQTTUInt32()
        case .requestResponseInformation:
            requestResponseInformation = try Self.zeroOrOne(body.readMQTTByte(), identifier)
        case .responseInformation: responseInformation = try body.readMQTTString()
        case .serverReference: serverReference = try body.readMQTTString()
        case .reasonString: reasonString = try body.readMQTTString()
        case .receiveMaximum:
            let value = try body.readMQTTUInt16()
            guard value != 0 else { throw .protocolViolation("receive maximum 0") }
            receiveMaximum = value
        case .topicAliasMaximum: topicAliasMaximum = try body.readMQTTUInt16()
        case .topicAlias:
            let value = try body.readMQTTUInt16()
            guard value != 0 else { throw MQTTProtocolError(.topicAliasInvalid, "topic alias 0") }
            topicAlias = value
        case .maximumQoS: maximumQoS = try Self.zeroOrOne(body.readMQTTByte(), identifier)
        case .retainAvailable: retainAvailable = try Self.zeroOrOne(body.readMQTTByte(), identifier)
        case .userProperty:
            let name = try body.readMQTTString()
            let value = try body.readMQTTString()
            userProperties.append(UserProperty(name, value))
        case .maximumPacketSize:
            let value = try body.readMQTTUInt32()
            guard value != 0 else { throw .protocolViolation("maximum packet size 0") }
            maximumPacketSize = value
        case .wildcardSubscriptionAvailable:
            wildcardSubscriptionAvailable = try Self.zeroOrOne(body.readMQTTByte(), identifier)
        case .subscriptionIdentifierAvailable:
            subscriptionIdentifierAvailable = try Self.zeroOrOne(body.readMQTTByte(), identifier)
        case .sharedSubscriptionAvailable:
            sharedSubscriptionAvailable = try Self.zeroOrOne(body.readMQTTByte(), identifier)
        }
    }

    private static func zeroOrOne(_ value: UInt8, _ identifier: PropertyIdentifier) throws(MQTTProtocolError) -> UInt8 {
        guard value <= 1 else { throw .protocolViolation("property \(identifier) must be 0 or 1, got \(value)") }
        return value
    }

    /// Bytes the properties take, without the length prefix.
    var encodedLength: Int {
        var length = 0
        if payloadFormatIndicator != nil { length += 2 }
        if messageExpiryInterval != nil { length += 5 }
        if let contentType { length += 1 + MQTTSize.string(contentType) }
        if let responseTopic { length += 1 + MQTTSize.string(responseTopic) }
        if let correlationData { length += 1 + MQTTSize.binary(correlationData) }
        for identifier in subscriptionIdentifiers { length += 1 + MQTTSize.variableByteInteger(identifier) }
        if sessionExpiryInterval != nil { length += 5 }
        if let assignedClientIdentifier { length += 1 + MQTTSize.string(assignedClientIdentifier) }
        if serverKeepAlive != nil { length += 3 }
        if let authenticationMethod { length += 1 + MQTTSize.string(authenticationMethod) }
        if let authenticationData { length += 1 + MQTTSize.binary(authenticationData) }
        if requestProblemInformation != nil { length += 2 }
        if willDelayInterval != nil { length += 5 }
        if requestResponseInformation != nil { length += 2 }
        if let responseInformation { length += 1 + MQTTSize.string(responseInformation) }
        if let serverReference { length += 1 + MQTTSize.string(serverReference) }
        if let reasonString { length += 1 + MQTTSize.string(reasonString) }
        if receiveMaximum != nil { length += 3 }
        if topicAliasMaximum != nil { length += 3 }
        if topicAlias != nil { length += 3 }
        if maximumQoS != nil { length += 2 }
        if retainAvailable != nil { length += 2 }
        for property in userProperties { length += 1 + MQTTSize.string(property.name) + MQTTSize.string(property.value) }
        if maximumPacketSize != nil { length += 5 }
        if wildcardSubscriptionAvailable != nil { length += 2 }
        if subscriptionIdentifierAvailable != nil { length += 2 }
        if sharedSubscriptionAvailable != nil { length += 2 }
        return length
    }

    /// Bytes the properties take with their length prefix.
    var encodedLengthWithPrefix: Int {
        let length = encodedLength
        return MQTTSize.variableByteInteger(length) + length
    }

    func encode(into buffer: inout ByteBuffer) {
        buffer.writeMQTTVariableByteInteger(encodedLength)
        func id(_ identifier: PropertyIdentifier) { buffer.writeInteger(identifier.rawValue) }
        if let payloadFormatIndicator { id(.payloadFormatIndicator); buffer.writeInteger(payloadFormatIndicator) }
        if let messageExpiryInterval { id(.messageExpiryInterval); buffer.writeInteger(messageExpiryInterval) }
        if let contentType { id(.contentType); buffer.writeMQTTString(contentType) }
        if let responseTopic { id(.responseTopic); buffer.writeMQTTString(responseTopic) }
        if let correlationData { id(.correlationData); buffer.writeMQTTBinary(correlationData) }
        for identifier in subscriptionIdentifiers {
            id(.subscriptionIdentifier)
            buffer.writeMQTTVariableByteInteger(identifier)
        }
        if let sessionExpiryInterval { id(.sessionExpiryInterval); buffer.writeInteger(sessionExpiryInterval) }
        if let requestProblemInformation { id(.requestProblemInformation); buffer.writeInteger(requestProblemInformation) }
        if let willDelayInterval { id(.willDelayInterval); buffer.writeInteger(willDelayInterval) }
        if let requestResponseInformation { id(.requestResponseInformation); buffer.writeInteger(requestResponseInformation) }
        if let responseInformation { id(.responseInformation); buffer.writeMQTTString(responseInformation) }
        if let serverReference { id(.serverReference); buffer.writeMQTTString(serverReference) }
        if let reasonString { id(.reasonString); buffer.writeMQTTString(reasonString) }
        // The order Mosquitto writes a CONNACK's properties in (any order is valid), so that
        // tools comparing bytes with a Mosquitto transcript see the same ones.
        if let serverKeepAlive { id(.serverKeepAlive); buffer.writeInteger(serverKeepAlive) }
        if let topicAliasMaximum { id(.topicAliasMaximum); buffer.writeInteger(topicAliasMaximum) }
        if let assignedClientIdentifier { id(.assignedClientIdentifier); buffer.writeMQTTString(assignedClientIdentifier) }
        if let authenticationMethod { id(.authenticationMethod); buffer.writeMQTTString(authenticationMethod) }
        if let authenticationData { id(.authenticationData); buffer.writeMQTTBinary(authenticationData) }
        if let retainAvailable { id(.retainAvailable); buffer.writeInteger(retainAvailable) }
        if let maximumPacketSize { id(.maximumPacketSize); buffer.writeInteger(maximumPacketSize) }
        if let receiveMaximum { id(.receiveMaximum); buffer.writeInteger(receiveMaximum) }
        if let maximumQoS { id(.maximumQoS); buffer.writeInteger(maximumQoS) }
        if let topicAlias { id(.topicAlias); buffer.writeInteger(topicAlias) }
        for property in userProperties {
            id(.userProperty)
            buffer.writeMQTTString(property.name)
            buffer.writeMQTTString(property.value)
        }
        if let wildcardSubscriptionAvailable { id(.wildcardSubscriptionAvailable); buffer.writeInteger(wildcardSubscriptionAvailable) }
        if let subscriptionIdentifierAvailable { id(.subscriptionIdentifierAvailable); buffer.writeInteger(subscriptionIdentifierAvailable) }
        if let sharedSubscriptionAvailable { id(.sharedSubscriptionAvailable); buffer.writeInteger(sharedSubscriptionAvailable) }
    }
}
