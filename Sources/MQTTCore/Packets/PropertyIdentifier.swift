/// The identifier byte of an MQTT 5 property, and which packets may carry it (MQTT 5 §2.2.2.2).
public enum PropertyIdentifier: UInt8, Sendable, Hashable, CaseIterable {
    case payloadFormatIndicator = 0x01
    case messageExpiryInterval = 0x02
    case contentType = 0x03
    case responseTopic = 0x08
    case correlationData = 0x09
    case subscriptionIdentifier = 0x0B
    case sessionExpiryInterval = 0x11
    case assignedClientIdentifier = 0x12
    case serverKeepAlive = 0x13
    case authenticationMethod = 0x15
    case authenticationData = 0x16
    case requestProblemInformation = 0x17
    case willDelayInterval = 0x18
    case requestResponseInformation = 0x19
    case responseInformation = 0x1A
    case serverReference = 0x1C
    case reasonString = 0x1F
    case receiveMaximum = 0x21
    case topicAliasMaximum = 0x22
    case topicAlias = 0x23
    case maximumQoS = 0x24
    case retainAvailable = 0x25
    case userProperty = 0x26
    case maximumPacketSize = 0x27
    case wildcardSubscriptionAvailable = 0x28
    case subscriptionIdentifierAvailable = 0x29
    case sharedSubscriptionAvailable = 0x2A

    /// Which property sets a property may appear in.
    public struct Contexts: OptionSet, Sendable, Hashable {
        public let rawValue: UInt16
        public init(rawValue: UInt16) { self.rawValue = rawValue }
        public static let connect = Contexts(rawValue: 1 << 0)
        public static let connack = Contexts(rawValue: 1 << 1)
        public static let publish = Contexts(rawValue: 1 << 2)
        public static let will = Contexts(rawValue: 1 << 3)
        public static let publishResponse = Contexts(rawValue: 1 << 4)
        public static let subscribe = Contexts(rawValue: 1 << 5)
        public static let suback = Contexts(rawValue: 1 << 6)
        public static let unsubscribe = Contexts(rawValue: 1 << 7)
        public static let unsuback = Contexts(rawValue: 1 << 8)
        public static let disconnect = Contexts(rawValue: 1 << 9)
        public static let auth = Contexts(rawValue: 1 << 10)
        public static let all: Contexts = [
            .connect, .connack, .publish, .will, .publishResponse, .subscribe, .suback, .unsubscribe,
            .unsuback, .disconnect, .auth,
        ]
    }

    public var allowedContexts: Contexts {
        switch self {
        case .payloadFormatIndicator, .messageExpiryInterval, .contentType, .responseTopic, .correlationData:
            [.publish, .will]
        case .subscriptionIdentifier: [.publish, .subscribe]
        case .sessionExpiryInterval: [.connect, .connack, .disconnect]
        case .assignedClientIdentifier, .serverKeepAlive, .responseInformation, .maximumQoS, .retainAvailable,
            .wildcardSubscriptionAvailable, .subscriptionIdentifierAvailable, .sharedSubscriptionAvailable:
            [.connack]
        case .authenticationMethod, .authenticationData: [.connect, .connack, .auth]
        case .requestProblemInformation, .requestResponseInformation: [.connect]
        case .willDelayInterval: [.will]
        case .serverReference: [.connack, .disconnect]
        case .reasonString:
            [.connack, .publishResponse, .suback, .unsuback, .disconnect, .auth]
        case .receiveMaximum, .topicAliasMaximum, .maximumPacketSize: [.connect, .connack]
        case .topicAlias: [.publish]
        case .userProperty: .all
        }
    }
}
