import MQTTCore

/// Why a benchmark could not run: each case says what the broker did instead.
public enum BenchError: Error, CustomStringConvertible {
    case refused(clientIdentifier: String, reasonCode: UInt8)
    case subscriptionRefused(filter: String, reasonCode: ReasonCode)
    case connectionClosed(clientIdentifier: String)
    case unexpectedPacket(String)
    case timedOut(String)
    case invalidParameter(String)

    public var description: String {
        switch self {
        case .refused(let client, let code): "the broker refused \(client) (CONNACK code \(code))"
        case .subscriptionRefused(let filter, let code): "the broker refused the subscription to \(filter) (\(code))"
        case .connectionClosed(let client): "the broker closed \(client)'s connection"
        case .unexpectedPacket(let what): "unexpected packet from the broker: \(what)"
        case .timedOut(let what): "timed out: \(what)"
        case .invalidParameter(let what): what
        }
    }
}
