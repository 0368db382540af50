import NIOCore

/// The first bytes of every payload `parley bench` publishes: when it was (or was scheduled to
/// be) sent, its sequence number and its publisher. Receivers use them for latency, loss and
/// duplicates; the rest of the payload is zeros up to the requested size.
struct BenchStamp {
    static let size = 16

    var sentAt: UInt64
    var sequence: UInt32
    var publisher: UInt32

    func write(into buffer: inout ByteBuffer) {
        buffer.writeInteger(sentAt)
        buffer.writeInteger(sequence)
        buffer.writeInteger(publisher)
    }

    init(sentAt: UInt64, sequence: UInt32, publisher: UInt32) {
        self.sentAt = sentAt
        self.sequence = sequence
        self.publisher = publisher
    }

    /// Reads a stamp from the start of a payload; nil when the payload is too short to hold one.
    init?(payload: ByteBuffer) {
        guard let sentAt = payload.getInteger(at: payload.readerIndex, as: UInt64.self),
            let sequence = payload.getInteger(at: payload.readerIndex + 8, as: UInt32.self),
            let publisher = payload.getInteger(at: payload.readerIndex + 12, as: UInt32.self)
        else { return nil }
        self.init(sentAt: sentAt, sequence: sequence, publisher: publisher)
    }
}
