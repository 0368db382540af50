import MQTTCore
import Foundation
import Logging
import NIOCore
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The built-in store behind `persistence true`: an append-only log of checksummed records in
/// one file, rewritten from its in-memory state when it has grown (compaction).
///
/// Why a log rather than SQLite: the broker's writes are a stream of small changes in a fixed
/// order, read back only at start. Appending them costs one `write` per group with no pages to
/// update; each record carries its own checksum, so a crash that tears the last write, or
/// damage in the middle, loses only the records it touched: the reader skips to the next good
/// record and the broker starts with everything else. Compaction writes a new file, syncs it
/// and renames it over the old one, so a power cut during it leaves one complete file or the
/// other.
///
/// `record` writes each group to the file before it returns: the changes are then in the
/// operating system and survive the broker being killed (`kill -9`) or crashing. With `fsync`
/// the broker also waits for `sync` (asked once per event-loop tick, for every connection that
/// read in it) before acknowledging, so they survive a power cut; fsync runs on a thread of the
/// store's own, so event loops never wait for the disk. Event loops call `record`
/// concurrently; a mutex orders the groups, and is held while encoding and writing them (and
/// while compacting), never while syncing.
public final class FilePersistence: BrokerPersistence {
    public let path: String
    public let syncsToDisk: Bool

    private struct State {
        var model = PersistenceModel()
        var descriptor: Int32 = -1
        var writtenSinceCompaction = 0
        var compactedSize = 0
        /// Counts the groups written, so a sync knows what an earlier one already covered.
        var groupsWritten: UInt64 = 0
    }

    private let state = Mutex(State())
    /// Where fsync runs, off the event loops; one sync at a time, each covering every group
    /// written before it started, so requests that queue up behind one cost nothing.
    private let syncQueue = DispatchQueue(label: "parley.persistence.sync")
    /// Groups known to be on disk; touched only on `syncQueue`.
    private nonisolated(unsafe) var groupsSynced: UInt64 = 0

    /// Compaction runs when the log has grown by this much and by four times its compacted size.
    static let compactionMinimum = 64 * 1024 * 1024

    /// - Parameters:
    ///   - directory: `persistence_location`; created if missing.
    ///   - fileName: `persistence_file`.
    ///   - fsync: `persistence_fsync`: sync every group to disk before acknowledging it.
    public init(directory: String, fileName: String = "parley.db", fsync: Bool = false) {
        let base = directory.isEmpty ? "." : directory
        self.path = (base as NSString).appendingPathComponent(fileName)
        self.syncsToDisk = fsync
    }

    deinit {
        let descriptor = state.withLock { $0.descriptor }
        if descriptor >= 0 { _ = Glibc.close(descriptor) }
    }

    public func load(logger: Logger) throws(PersistenceError) -> PersistedState {
        let directory = (path as NSString).deletingLastPathComponent
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw PersistenceError(path: directory, message: "cannot create the persistence folder (\(error.localizedDescription))")
        }
        var model = PersistenceModel()
        var damaged = false
        if FileManager.default.fileExists(atPath: path) {
            if let data = FileManager.default.contents(atPath: path) {
                let report = Self.replay(ByteBuffer(bytes: data), into: &model)
                if !data.isEmpty && !report.hadHeader && report.records == 0 {
                    // Nothing in it is ours: another program's file (Mosquitto's mosquitto.db
                    // has another format), which must not be moved aside or overwritten.
                    throw PersistenceError(
                        path: path,
                        message: "is not a Parley persistence file; set persistence_file to another name or move the file away")
                }
                damaged = report.log(path: path, logger: logger)
            } else {
                logger.error("persistence: cannot read \(path); starting without stored state")
                damaged = true
            }
        }
        if damaged {
            let aside = path + ".damaged-\(Int(Date().timeIntervalSince1970))"
            if rename(path, aside) == 0 { logger.error("persistence: the damaged file is kept as \(aside)") }
        }
        let state = model.persistedState(now: .now(), wallClock: Date())
        try self.state.withLock { (locked: inout State) throws(PersistenceError) in
            locked.model = model
            try compact(&locked)
        }
        logger.notice(
            "persistence: \(state.sessions.count) sessions, \(state.retained.count) retained messages and \(state.sessions.reduce(0) { $0 + $1.deliveries.count }) queued or in-flight messages restored from \(path)")
        return state
    }

    /// Reads a store's bytes without opening a file or writing anything: what `load` would
    /// restore from them, with how many bytes it would skip as damaged. Never fails: every
    /// input, however mangled, gives the state of its readable records (the fuzzer holds it to
    /// that).
    public static func inspect(_ bytes: some Collection<UInt8>) -> (state: PersistedState, damagedBytes: Int) {
        var model = PersistenceModel()
        let report = replay(ByteBuffer(bytes: bytes), into: &model)
        let damaged = report.damage.reduce(0) { $0 + $1.bytes } + report.tornTail
        return (model.persistedState(now: .now(), wallClock: Date()), damaged)
    }

    /// What reading a log found: records used, and what was skipped.
    struct ReplayReport {
        var records = 0
        /// Records that refer to something whose own record was lost.
        var orphans = 0
        /// Damaged stretches skipped: (offset, bytes).
        var damage: [(offset: Int, bytes: Int)] = []
        /// Bytes of an incomplete last record.
        var tornTail = 0
        var unreferencedMessages = 0
        var hadHeader = false

        /// Logs what was lost; returns whether anything was.
        func log(path: String, logger: Logger) -> Bool {
            if !damage.isEmpty {
                let places = damage.prefix(5).map { "\($0.bytes) bytes at offset \($0.offset)" }.joined(separator: ", ")
                logger.error(
                    "persistence: \(path) is damaged: skipped \(damage.reduce(0) { $0 + $1.bytes }) bytes in \(damage.count) places (\(places)); the changes stored there are lost, \(records) good records were used")
            }
            if tornTail > 0 {
                logger.warning("persistence: \(path) ends in an incomplete record (\(tornTail) bytes, a write cut short): ignored")
            }
            if orphans > 0 || unreferencedMessages > 0 {
                logger.warning(
                    "persistence: \(orphans) stored changes referred to sessions or messages lost with the damage; \(unreferencedMessages) messages no longer held by anything were dropped")
            }
            return !damage.isEmpty
        }
    }

    /// Applies every readable record of `bytes` to `model`, skipping damage.
    static func replay(_ bytes: ByteBuffer, into model: inout PersistenceModel) -> ReplayReport {
        var report = ReplayReport()
        var buffer = bytes
        let start = buffer.readerIndex
        while buffer.readableBytes > 0 {
            do {
                let record = try StoreRecord.read(from: &buffer)
                if case .header = record { report.hadHeader = true }
                if !model.apply(record) { report.orphans += 1 }
                report.records += 1
            } catch {
                // Find the next place where a whole, valid record starts.
                let offset = buffer.readerIndex - start
                var probe = buffer
                probe.moveReaderIndex(forwardBy: 1)
                var found = false
                while probe.readableBytes > 0 {
                    guard let next = probe.readableBytesView.firstIndex(of: StoreRecord.marker) else {
                        probe.moveReaderIndex(to: probe.writerIndex)
                        break
                    }
                    probe.moveReaderIndex(to: next)
                    var attempt = probe
                    if (try? StoreRecord.read(from: &attempt)) != nil {
                        found = true
                        break
                    }
                    probe.moveReaderIndex(forwardBy: 1)
                }
                let skipped = probe.readerIndex - buffer.readerIndex
                if !found, case .truncated = error {
                    report.tornTail = skipped
                } else {
                    report.damage.append((offset, skipped))
                }
                buffer = probe
            }
        }
        report.unreferencedMessages = model.dropUnreferencedMessages()
        return report
    }

    public func record(_ changes: [PersistenceChange]) throws(PersistenceError) {
        guard !changes.isEmpty else { return }
        try state.withLock { (locked: inout State) throws(PersistenceError) in
            var buffer = ByteBufferAllocator().buffer(capacity: 256)
            let now = NIODeadline.now()
            let wallClock = Date()
            for change in changes {
                for record in Self.records(for: change, in: &locked.model, now: now, wallClock: wallClock) {
                    locked.model.apply(record)
                    record.encode(into: &buffer)
                }
            }
            guard buffer.readableBytes > 0 else { return }
            try write(buffer, to: locked.descriptor)
            locked.groupsWritten += 1
            locked.writtenSinceCompaction += buffer.readableBytes
            if locked.writtenSinceCompaction > max(Self.compactionMinimum, 4 * locked.compactedSize) {
                try compact(&locked)
            }
        }
    }

    public func sync(then done: @escaping @Sendable (PersistenceError?) -> Void) {
        let wanted = state.withLock { $0.groupsWritten }
        syncQueue.async { [self] in
            guard groupsSynced < wanted else { return done(nil) }
            let (descriptor, written) = state.withLock { ($0.descriptor, $0.groupsWritten) }
            // A compaction that replaced the file meanwhile synced everything before it.
            if descriptor >= 0 && fsync(descriptor) != 0 && errno != EBADF {
                return done(PersistenceError(path: path, message: "fsync failed", errno: errno))
            }
            groupsSynced = max(groupsSynced, written)
            done(nil)
        }
    }

    /// The records a change becomes, given what is stored: a message is written with the first
    /// change that needs it, and changes to sessions or messages not stored are dropped.
    private static func records(
        for change: PersistenceChange, in model: inout PersistenceModel, now: NIODeadline, wallClock: Date
    ) -> [StoreRecord] {
        func stored(_ message: ApplicationMessage, into records: inout [StoreRecord]) -> UInt64 {
            if let id = model.number(of: message) { return id }
            let (id, record) = model.messageRecord(for: message, now: now, wallClock: wallClock)
            records.append(record)
            return id
        }
        var records: [StoreRecord] = []
        switch change {
        case .retain(let message):
            let id = stored(message, into: &records)
            records.append(.retain(topic: message.topic, messageID: id))
        case .removeRetained(let topic):
            if model.retained[UTF8Key(topic)] != nil { records.append(.removeRetained(topic: topic)) }
        case .session(let header):
            if !model.hasEnded(header.sessionID) && (header.expiryInterval > 0 || model.hasSession(header.sessionID)) {
                records.append(.session(header, disconnectedAt: nil))
            }
        case .sessionEnded(let sessionID):
            if model.hasSession(sessionID) { records.append(.sessionEnded(sessionID: sessionID)) }
        case .detached(let sessionID, let at):
            if model.hasSession(sessionID) { records.append(.detached(sessionID: sessionID, at: at)) }
        case .queued(let sessionID, let delivery):
            guard model.hasSession(sessionID) else { break }
            let id = stored(delivery.message, into: &records)
            records.append(.queued(
                sessionID: sessionID, messageID: id, qos: delivery.qos, retain: delivery.retain,
                subscriptionIdentifiers: delivery.subscriptionIdentifiers))
        case .sent(let sessionID, let message, let packetIdentifier):
            if model.hasSession(sessionID), let id = model.number(of: message) {
                records.append(.sent(sessionID: sessionID, messageID: id, packetIdentifier: packetIdentifier))
            }
        case .received(let sessionID, let message):
            if model.hasSession(sessionID), let id = model.number(of: message) {
                records.append(.received(sessionID: sessionID, messageID: id))
            }
        case .finished(let sessionID, let message):
            if model.hasSession(sessionID), let id = model.number(of: message) {
                records.append(.finished(sessionID: sessionID, messageID: id))
            }
        case .incomingQoS2(let sessionID, let packetIdentifier):
            if model.hasSession(sessionID) { records.append(.incomingQoS2(sessionID: sessionID, packetIdentifier: packetIdentifier)) }
        case .releasedQoS2(let sessionID, let packetIdentifier):
            if model.hasSession(sessionID) { records.append(.releasedQoS2(sessionID: sessionID, packetIdentifier: packetIdentifier)) }
        }
        return records
    }

    /// Writes the state as a new log beside the old one, syncs it, renames it over the old one
    /// and appends to it from then on.
    private func compact(_ locked: inout State) throws(PersistenceError) {
        let temporary = path + ".new"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw PersistenceError(path: temporary, message: "cannot create", errno: errno) }
        var buffer = ByteBufferAllocator().buffer(capacity: 4096)
        var size = 0
        do throws(PersistenceError) {
            var failure: PersistenceError?
            locked.model.snapshotRecords { record in
                guard failure == nil else { return }
                record.encode(into: &buffer)
                if buffer.readableBytes >= 1 << 20 {
                    do throws(PersistenceError) { try write(buffer, to: descriptor) } catch { failure = error }
                    size += buffer.readableBytes
                    buffer.clear()
                }
            }
            if let failure { throw failure }
            try write(buffer, to: descriptor)
            size += buffer.readableBytes
            guard fsync(descriptor) == 0 else { throw PersistenceError(path: temporary, message: "fsync failed", errno: errno) }
            guard rename(temporary, path) == 0 else { throw PersistenceError(path: path, message: "cannot replace", errno: errno) }
        } catch {
            _ = Glibc.close(descriptor)
            unlink(temporary)
            throw error
        }
        syncDirectory()
        if locked.descriptor >= 0 { _ = Glibc.close(locked.descriptor) }
        locked.descriptor = descriptor
        locked.compactedSize = size
        locked.writtenSinceCompaction = 0
    }

    private func syncDirectory() {
        let directory = open((path as NSString).deletingLastPathComponent, O_RDONLY | O_CLOEXEC)
        guard directory >= 0 else { return }
        _ = fsync(directory)
        _ = Glibc.close(directory)
    }

    private func write(_ buffer: ByteBuffer, to descriptor: Int32) throws(PersistenceError) {
        let result: Int32 = buffer.withUnsafeReadableBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = Glibc.write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                offset += written
            }
            return 0
        }
        if result != 0 { throw PersistenceError(path: path, message: "write failed", errno: result) }
    }

    /// Syncs what was written. The file stays open: a connection still closing may record its
    /// last changes, which then reach the file like any other.
    public func close() {
        let descriptor = state.withLock { $0.descriptor }
        syncQueue.sync {
            if descriptor >= 0 { _ = fsync(descriptor) }
        }
    }
}
