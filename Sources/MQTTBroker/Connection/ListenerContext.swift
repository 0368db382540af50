import Synchronization

/// What every connection accepted by one listener shares: made once when the listener starts
/// and referenced by each `ConnectionHandler`, so that a listener's configuration (TLS and
/// security settings included) is not copied into every connection.
final class ListenerContext: Sendable {
    let configuration: ListenerConfiguration
    /// The listener's place in the broker configuration, which hooks see as `ClientInfo.listener`.
    let index: Int
    /// The largest packet a client may send (fixed header included): `max_packet_size`.
    let maximumPacketSize: Int
    /// Connections open on this listener now (metrics: `parley_connections`).
    let openConnections = Atomic<Int>(0)

    init(configuration: ListenerConfiguration, index: Int, maximumPacketSize: Int) {
        self.configuration = configuration
        self.index = index
        self.maximumPacketSize = maximumPacketSize
    }
}
