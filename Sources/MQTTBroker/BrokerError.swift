/// Failures of the broker as a whole (not of one client).
public enum BrokerError: Error, CustomStringConvertible {
    /// A listener could not be bound; the underlying error says why (port in use, permission).
    case bindFailed(underlying: any Error)

    public var description: String {
        switch self {
        case .bindFailed(let error): "could not open a listener: \(error)"
        }
    }
}
