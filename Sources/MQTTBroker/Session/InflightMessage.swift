/// An outgoing QoS 1 or 2 message that has a packet identifier and waits for its acknowledgement.
struct InflightMessage: Sendable {
    enum Phase: Sendable {
        case awaitingPuback
        case awaitingPubrec
        case awaitingPubcomp
    }

    var delivery: Delivery
    var phase: Phase
    /// Order of sending, so that a resumed session resends in the original order.
    var sequence: UInt64
}
