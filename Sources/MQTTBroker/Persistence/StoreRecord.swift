import Foundation
import MQTTCore
import NIOCore

/// One entry of `FilePersistence`'s log: a `PersistenceChange` with its message resolved to
/// the number under which the message is stored, or a stored message itself.
///
/// On disk each record is `0xB5, type, body length (UInt32), body, CRC-32C` (big endian), the
/// checksum covering everything before it: a record cut short by a crash, or damaged later,
/// fails its checksum and is skipped, and the reader finds the next good record by its marker.
enum StoreRecord: Sendable {
    case header(formatVersion: UInt8)
    case message(id: UInt64, ApplicationMessage, expiresAt: Date?)
    case retain(topic: String, messageID: UInt64)
    case removeRetained(topic: String)
    case session(PersistedSession.Header, disconnectedAt: Date?)
    case sessionEnded(sessionID: UInt64)
    case detached(sessionID: UInt64, at: Date)
    case queued(sessionID: UInt64, messageID: UInt64, qos: QoS, retain: Bool, subscriptionIdentifiers: [Int])
    case sent(sessionID: UInt64, messageID: UInt64, packetIdentifier: UInt16)
    case received(sessionID: UInt64, messageID: UInt64)
    case finished(sessionID: UInt64, messageID: UInt64)
    case incomingQoS2(sessionID: UInt64, packetIdentifier: UInt16)
    case releasedQoS2(sessionID: UInt64, packetIdentifier: UInt16)

    static let marker: UInt8 = 0xB5
    static let formatVersion: UInt8 = 1
    /// Marker, type and length before the body; the checksum after it.
    static let overhead = 10
    /// No record is larger: a message is at most one MQTT packet (256 MiB) plus its fields.
    static let maximumBodyLength = 300 * 1024 * 1024

    private var type: UInt8 {
        switch self {
        case .header: 0
        case .message: 1
        case .retain: 2
        case .removeRetained: 3
        case .session: 4
        case .sessionEnded: 5
        case .detached: 6
        case .queued: 7
        case .sent: 8
        case .received: 9
        case .finished: 10
        case .incomingQoS2: 11
        case .releasedQoS2: 12
        }
    }

    func encode(into buffer: inout ByteBuffer) {
        let start = buffer.writerIndex
        buffer.writeInteger(Self.marker)
        buffer.writeInteger(type)
        let lengthIndex = buffer.writerIndex
        buffer.writeInteger(UInt32(0))
        let bodyStart = buffer.writerIndex
        encodeBody(into: &buffer)
        buffer.setInteger(UInt32(buffer.writerIndex - bodyStart), at: lengthIndex)
        let checksum = buffer.withUnsafeReadableBytes { bytes in
            CRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[(start - buffer.readerIndex)...]))
        }
        buffer.writeInteger(checksum)
    }

    private func encodeBody(into buffer: inout ByteBuffer) {
        switch self {
        case .header(let version):
            buffer.writeBytes(Array("PARLEY".utf8))
            buffer.writeInteger(version)
        case .message(let id, let message, let expiresAt):
            buffer.writeInteger(id)
            buffer.writeStoredString(message.topic)
            buffer.writeInteger(message.qos.rawValue)
            var flags: UInt8 = message.retain ? 1 : 0
            if expiresAt != nil { flags |= 2 }
            if message.publisherClientIdentifier != nil { flags |= 4 }
            buffer.writeInteger(flags)
            if let expiresAt { buffer.writeInteger(Int64(expiresAt.timeIntervalSince1970 * 1000)) }
            if let publisher = message.publisherClientIdentifier { buffer.writeStoredString(publisher) }
            message.properties.encodeForStorage(into: &buffer)
            buffer.writeInteger(UInt32(message.payload.readableBytes))
            buffer.writeImmutableBuffer(message.payload)
        case .retain(let topic, let messageID):
            buffer.writeInteger(messageID)
            buffer.writeStoredString(topic)
        case .removeRetained(let topic):
            buffer.writeStoredString(topic)
        case .session(let header, let disconnectedAt):
            buffer.writeInteger(header.sessionID)
            buffer.writeStoredString(header.clientIdentifier)
            buffer.writeInteger(header.expiryInterval)
            buffer.writeOptionalStoredString(header.username)
            buffer.writeInteger(disconnectedAt.map { Int64($0.timeIntervalSince1970 * 1000) } ?? -1)
            buffer.writeInteger(UInt32(header.subscriptions.count))
            for (filter, subscription) in header.subscriptions.sorted(by: { $0.key < $1.key }) {
                buffer.writeStoredString(filter.string)
                let options = subscription.options
                buffer.writeInteger(options.qos.rawValue)
                buffer.writeInteger(UInt8((options.noLocal ? 1 : 0) | (options.retainAsPublished ? 2 : 0)))
                buffer.writeInteger(options.retainHandling.rawValue)
                buffer.writeInteger(Int32(subscription.subscriptionIdentifier ?? -1))
            }
        case .sessionEnded(let sessionID):
            buffer.writeInteger(sessionID)
        case .detached(let sessionID, let at):
            buffer.writeInteger(sessionID)
            buffer.writeInteger(Int64(at.timeIntervalSince1970 * 1000))
        case .queued(let sessionID, let messageID, let qos, let retain, let identifiers):
            buffer.writeInteger(sessionID)
            buffer.writeInteger(messageID)
            buffer.writeInteger(qos.rawValue)
            buffer.writeInteger(UInt8(retain ? 1 : 0))
            buffer.writeInteger(UInt16(clamping: identifiers.count))
            for identifier in identifiers.prefix(Int(UInt16.max)) { buffer.writeInteger(UInt32(clamping: identifier)) }
        case .sent(let sessionID, let messageID, let packetIdentifier):
            buffer.writeInteger(sessionID)
            buffer.writeInteger(messageID)
            buffer.writeInteger(packetIdentifier)
        case .received(let sessionID, let messageID), .finished(let sessionID, let messageID):
            buffer.writeInteger(sessionID)
            buffer.writeInteger(messageID)
        case .incomingQoS2(let sessionID, let packetIdentifier), .releasedQoS2(let sessionID, let packetIdentifier):
            buffer.writeInteger(sessionID)
            buffer.writeInteger(packetIdentifier)
        }
    }

    /// Why bytes could not be read as a record.
    enum ReadFailure: Error {
        /// The bytes end inside the record: the tail of a write a crash cut short.
        case truncated
        /// Marker, checksum or content wrong: damage.
        case damaged
    }

    /// Reads the record at the start of `buffer`, moving past it on success.
    static func read(from buffer: inout ByteBuffer) throws(ReadFailure) -> StoreRecord {
        var view = buffer
        guard let marker = view.readInteger(as: UInt8.self), let type = view.readInteger(as: UInt8.self),
            let length = view.readInteger(as: UInt32.self)
        else { throw .truncated }
        guard marker == Self.marker, type <= 12, Int(length) <= maximumBodyLength else { throw .damaged }
        guard view.readableBytes >= Int(length) + 4 else { throw .truncated }
        let computed = buffer.withUnsafeReadableBytes { bytes in
            CRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[..<(6 + Int(length))]))
        }
        guard var body = view.readSlice(length: Int(length)), let stored = view.readInteger(as: UInt32.self),
            stored == computed
        else { throw .damaged }
        do {
            let record = try decodeBody(type: type, from: &body)
            guard body.readableBytes == 0 else { throw ReadFailure.damaged }
            buffer = view
            return record
        } catch {
            throw .damaged
        }
    }

    private struct BodyError: Error {}

    private static func decodeBody(type: UInt8, from body: inout ByteBuffer) throws -> StoreRecord {
        func integer<T: FixedWidthInteger>(_: T.Type = T.self) throws -> T {
            guard let value = body.readInteger(as: T.self) else { throw BodyError() }
            return value
        }
        func string() throws -> String {
            guard let length = body.readInteger(as: UInt16.self), let value = body.readString(length: Int(length)) else {
                throw BodyError()
            }
            return value
        }
        func date(_ milliseconds: Int64) -> Date { Date(timeIntervalSince1970: Double(milliseconds) / 1000) }
        func qos() throws -> QoS {
            guard let qos = QoS(rawValue: try integer(UInt8.self)) else { throw BodyError() }
            return qos
        }
        switch type {
        case 0:
            guard body.readString(length: 6) == "PARLEY" else { throw BodyError() }
            return .header(formatVersion: try integer())
        case 1:
            let id: UInt64 = try integer()
            let topic = try string()
            let qos = try qos()
            let flags: UInt8 = try integer()
            let expiresAt = flags & 2 != 0 ? date(try integer()) : nil
            let publisher = flags & 4 != 0 ? try string() : nil
            let properties = try MQTTProperties.decodeFromStorage(&body)
            let length: UInt32 = try integer()
            guard let payload = body.readSlice(length: Int(length)) else { throw BodyError() }
            let message = ApplicationMessage(
                topic: topic, payload: ByteBuffer(bytes: payload.readableBytesView), qos: qos, retain: flags & 1 != 0, properties: properties,
                publisherClientIdentifier: publisher)
            return .message(id: id, message, expiresAt: expiresAt)
        case 2:
            let id: UInt64 = try integer()
            return .retain(topic: try string(), messageID: id)
        case 3:
            return .removeRetained(topic: try string())
        case 4:
            let sessionID: UInt64 = try integer()
            let clientIdentifier = try string()
            let expiry: UInt32 = try integer()
            let username = try integer(UInt8.self) == 1 ? try string() : nil
            let disconnected: Int64 = try integer()
            let count: UInt32 = try integer()
            var subscriptions: [UTF8Key: SessionSubscription] = [:]
            for _ in 0..<count {
                let filter = try string()
                let qos = try qos()
                let flags: UInt8 = try integer()
                guard let handling = SubscriptionOptions.RetainHandling(rawValue: try integer()) else { throw BodyError() }
                let identifier: Int32 = try integer()
                subscriptions[UTF8Key(filter)] = SessionSubscription(
                    options: SubscriptionOptions(qos: qos, noLocal: flags & 1 != 0, retainAsPublished: flags & 2 != 0, retainHandling: handling),
                    subscriptionIdentifier: identifier < 0 ? nil : Int(identifier))
            }
            let header = PersistedSession.Header(
                sessionID: sessionID, clientIdentifier: clientIdentifier, expiryInterval: expiry, username: username,
                subscriptions: subscriptions)
            return .session(header, disconnectedAt: disconnected < 0 ? nil : date(disconnected))
        case 5:
            return .sessionEnded(sessionID: try integer())
        case 6:
            let sessionID: UInt64 = try integer()
            return .detached(sessionID: sessionID, at: date(try integer()))
        case 7:
            let sessionID: UInt64 = try integer()
            let messageID: UInt64 = try integer()
            let qos = try qos()
            let retain = try integer(UInt8.self) == 1
            let count: UInt16 = try integer()
            var identifiers: [Int] = []
            for _ in 0..<count { identifiers.append(Int(try integer(UInt32.self))) }
            return .queued(sessionID: sessionID, messageID: messageID, qos: qos, retain: retain, subscriptionIdentifiers: identifiers)
        case 8:
            let sessionID: UInt64 = try integer()
            let messageID: UInt64 = try integer()
            return .sent(sessionID: sessionID, messageID: messageID, packetIdentifier: try integer())
        case 9, 10:
            let sessionID: UInt64 = try integer()
            let messageID: UInt64 = try integer()
            return type == 9 ? .received(sessionID: sessionID, messageID: messageID) : .finished(sessionID: sessionID, messageID: messageID)
        default:
            let sessionID: UInt64 = try integer()
            let packetIdentifier: UInt16 = try integer()
            return type == 11
                ? .incomingQoS2(sessionID: sessionID, packetIdentifier: packetIdentifier)
                : .releasedQoS2(sessionID: sessionID, packetIdentifier: packetIdentifier)
        }
    }
}

extension ByteBuffer {
    fileprivate mutating func writeStoredString(_ string: String) {
        let utf8 = string.utf8
        writeInteger(UInt16(clamping: utf8.count))
        writeBytes(utf8.prefix(Int(UInt16.max)))
    }

    fileprivate mutating func writeOptionalStoredString(_ string: String?) {
        writeInteger(UInt8(string == nil ? 0 : 1))
        if let string { writeStoredString(string) }
    }
}
