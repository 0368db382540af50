import Foundation
import Logging
import MQTTCore
import NIOCore
import Testing

@testable import MQTTBroker

/// The built-in store on its own: what is recorded comes back, in order, and damage costs only
/// the records it touched.
@Suite("File persistence")
struct FilePersistenceTests {
    static func folder() -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("parley-store-\(UUID().uuidString)").path
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static let logger = Logger(label: "test")

    static func message(_ topic: String, _ payload: String, qos: QoS = .atLeastOnce, retain: Bool = false) -> ApplicationMessage {
        var properties = MQTTProperties()
        properties.contentType = "text/plain"
        properties.userProperties = [UserProperty("k", "v")]
        return ApplicationMessage(
            topic: topic, payload: ByteBuffer(string: payload), qos: qos, retain: retain, properties: properties,
            publisherClientIdentifier: "publisher")
    }

    static func header(_ id: UInt64, _ client: String, expiry: UInt32 = 300, filters: [String] = ["a/#"]) -> PersistedSession.Header {
        var subscriptions: [UTF8Key: SessionSubscription] = [:]
        for filter in filters {
            subscriptions[UTF8Key(filter)] = SessionSubscription(
                options: SubscriptionOptions(qos: .exactlyOnce, noLocal: true, retainAsPublished: true, retainHandling: .sendOnSubscribeIfNew),
                subscriptionIdentifier: 7)
        }
        return PersistedSession.Header(sessionID: id, clientIdentifier: client, expiryInterval: expiry, username: "user", subscriptions: subscriptions)
    }

    static func delivery(_ message: ApplicationMessage, qos: QoS = .atLeastOnce) -> PersistedDelivery {
        PersistedDelivery(message: message, qos: qos, retain: false, subscriptionIdentifiers: [7])
    }

    /// Records a typical history: two sessions, messages queued, one in flight, one received
    /// (QoS 2), one finished, a retained message replaced and one removed.
    static func recordHistory(into store: FilePersistence) throws {
        let first = message("a/1", "one")
        let second = message("a/2", "two", qos: .exactlyOnce)
        let third = message("a/3", "three")
        let retained = message("r/1", "old", retain: true)
        let newer = message("r/1", "new", retain: true)
        try store.record([.session(header(1, "alpha")), .session(header(2, "beta", expiry: UInt32.max))])
        try store.record([
            .queued(sessionID: 1, delivery(first)), .queued(sessionID: 2, delivery(first)),
            .queued(sessionID: 1, delivery(second, qos: .exactlyOnce)), .queued(sessionID: 1, delivery(third)),
            .retain(retained), .retain(message("r/2", "gone", retain: true)),
        ])
        try store.record([
            .sent(sessionID: 1, message: first, packetIdentifier: 10),
            .sent(sessionID: 1, message: second, packetIdentifier: 11),
            .received(sessionID: 1, message: second),
            .finished(sessionID: 2, message: first),
            .retain(newer), .removeRetained(topic: "r/2"),
            .incomingQoS2(sessionID: 2, packetIdentifier: 5), .incomingQoS2(sessionID: 2, packetIdentifier: 6),
            .releasedQoS2(sessionID: 2, packetIdentifier: 5),
            .detached(sessionID: 2, at: Date(timeIntervalSince1970: 1_700_000_000)),
        ])
    }

    static func check(_ state: PersistedState) {
        #expect(state.retained.map { String(buffer: $0.payload) } == ["new"])
        #expect(state.retained.first?.retain == true)
        let sessions = Dictionary(uniqueKeysWithValues: state.sessions.map { ($0.header.clientIdentifier, $0) })
        #expect(sessions.count == 2)
        let alpha = sessions["alpha"]
        #expect(alpha?.header == header(1, "alpha"))
        #expect(alpha?.disconnectedAt == nil)
        #expect(alpha?.deliveries.map { String(buffer: $0.message.payload) } == ["one", "two", "three"])
        #expect(alpha?.deliveries.map(\.state) == [.sent(packetIdentifier: 10), .received(packetIdentifier: 11), .queued])
        #expect(alpha?.deliveries.map(\.qos) == [.atLeastOnce, .exactlyOnce, .atLeastOnce])
        #expect(alpha?.deliveries.first?.subscriptionIdentifiers == [7])
        #expect(alpha?.deliveries.first?.message.properties.contentType == "text/plain")
        #expect(alpha?.deliveries.first?.message.properties.userProperties == [UserProperty("k", "v")])
        #expect(alpha?.deliveries.first?.message.publisherClientIdentifier == "publisher")
        let beta = sessions["beta"]
        #expect(beta?.deliveries.isEmpty == true)
        #expect(beta?.incomingQoS2 == [6])
        #expect(beta?.disconnectedAt == Date(timeIntervalSince1970: 1_700_000_000))
    }

    @Test func whatIsRecordedIsLoadedAgainInOrder() throws {
        let folder = Self.folder()
        let store = FilePersistence(directory: folder)
        _ = try store.load(logger: Self.logger)
        try Self.recordHistory(into: store)
        Self.check(try FilePersistence(directory: folder).load(logger: Self.logger))
    }

    @Test func loadingCompactsAndTheCompactedFileLoadsTheSame() throws {
        let folder = Self.folder()
        let store = FilePersistence(directory: folder)
        _ = try store.load(logger: Self.logger)
        try Self.recordHistory(into: store)
        let path = store.path
        let before = try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int ?? 0
        Self.check(try FilePersistence(directory: folder).load(logger: Self.logger))
        let after = try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int ?? 0
        #expect(after < before)
        Self.check(try FilePersistence(directory: folder).load(logger: Self.logger))
    }

    @Test func aMessageQueuedForManySessionsIsStoredOnce() throws {
        let folder = Self.folder()
        let store = FilePersistence(directory: folder)
        _ = try store.load(logger: Self.logger)
        let big = ApplicationMessage(topic: "big", payload: ByteBuffer(repeating: 0x41, count: 100_000), qos: .atLeastOnce)
        try store.record((1...50).map { .session(Self.header(UInt64($0), "s\($0)")) })
        try store.record((1...50).map { .queued(sessionID: UInt64($0), Self.delivery(big)) })
        let size = try FileManager.default.attributesOfItem(atPath: store.path)[.size] as? Int ?? 0
        #expect(size > 100_000 && size < 200_000)
        let state = try FilePersistence(directory: folder).load(logger: Self.logger)
        #expect(state.sessions.count == 50)
        #expect(state.sessions.allSatisfy { $0.deliveries.first?.message.payload.readableBytes == 100_000 })
    }

    @Test func changesForSessionsThatAreNotStoredAreIgnored() throws {
        let folder = Self.folder()
        let store = FilePersistence(directory: folder)
        _ = try store.load(logger: Self.logger)
        let message = Self.message("x", "y")
        try store.record([
            .queued(sessionID: 9, Self.delivery(message)), .sent(sessionID: 9, message: message, packetIdentifier: 1),
            .session(Self.header(3, "transient", expiry: 0)),
        ])
        let state = try FilePersistence(directory: folder).load(logger: Self.logger)
        #expect(state.sessions.isEmpty)
        #expect(try FileManager.default.attributesOfItem(atPath: store.path)[.size] as? Int ?? 0 < 100)
    }

    @Test func aNewSessionUnderTheSameClientIdentifierReplacesTheOld() throws {
        let folder = Self.folder()
        let store = FilePersistence(directory: folder)
        _ = try store.load(logger: Self.logger)
        try store.record([.session(Self.header(1, "same")), .queued(sessionID: 1, Self.delivery(Self.message("a/1", "old")))])
        try store.record([.session(Self.header(2, "same", filters: ["b"]))])
        let state = try FilePersistence(directory: folder).load(logger: Self.logger)
        #expect(state.sessions.map(\.header.sessionID) == [2])
        #expect(state.sessions.first?.deliveries.isEmpty == true)
    }

    @Test func aTornLastRecordIsIgnoredAndEverythingBeforeItKept() throws {
        let folder = Self.folder()
        let store = FilePersistence(directory: folder)
        _ = try store.load(logger: Self.logger)
        try Self.recordHistory(into: store)
        try store.record([.retain(Self.message("late/topic", String(repeating: "x", count: 500), retain: true))])
        let handle = try #require(FileHandle(forUpdatingAtPath: store.path))
        let size = try handle.seekToEnd()
        try handle.truncate(atOffset: size - 200)
        try handle.close()
        Self.check(try FilePersistence(directory: folder).load(logger: Self.logger))
    }

    @Test func garbageInTheMiddleLosesOnlyWhatItOverwrote() throws {
        let folder = Self.folder()
        let store = FilePersistence(directory: folder)
        _ = try store.load(logger: Self.logger)
        try store.record([.session(Self.header(1, "alpha"))])
        let damagedFrom = try FileManager.default.attributesOfItem(atPath: store.path)[.size] as? Int ?? 0
        try store.record([.retain(Self.message("doomed", String(repeating: "d", count: 300), retain: true))])
        try store.record([.retain(Self.message("kept", "safe", retain: true))])
        let handle = try #require(FileHandle(forUpdatingAtPath: store.path))
        try handle.seek(toOffset: UInt64(damagedFrom + 40))
        handle.write(Data((0..<100).map { UInt8(truncatingIfNeeded: $0 &* 37) }))
        try handle.close()

        let state = try FilePersistence(directory: folder).load(logger: Self.logger)
        #expect(state.sessions.map(\.header.clientIdentifier) == ["alpha"])
        #expect(state.retained.map(\.topic) == ["kept"])
        let kept = try FileManager.default.contentsOfDirectory(atPath: folder)
        #expect(kept.contains { $0.hasPrefix("parley.db.damaged-") })
        // The store was rewritten without the damage: it loads cleanly from now on.
        let again = try FilePersistence(directory: folder).load(logger: Self.logger)
        #expect(again.retained.map(\.topic) == ["kept"])
    }

    @Test func aFileThatIsNotAParleyStoreIsRefusedAndLeftAlone() throws {
        let folder = Self.folder()
        let path = (folder as NSString).appendingPathComponent("parley.db")
        let foreign = Data([0x00, 0xB5, 0x00] + Array("mosquitto db".utf8) + [UInt8](repeating: 7, count: 200))
        FileManager.default.createFile(atPath: path, contents: foreign)
        #expect(throws: PersistenceError.self) { try FilePersistence(directory: folder).load(logger: Self.logger) }
        #expect(FileManager.default.contents(atPath: path) == foreign)
    }

    @Test func aSyncCompletesOffTheCallersThreadAndCoversWhatWasRecorded() async throws {
        let folder = Self.folder()
        let store = FilePersistence(directory: folder, fsync: true)
        _ = try store.load(logger: Self.logger)
        #expect(store.syncsToDisk)
        try store.record([.session(Self.header(1, "synced"))])
        let error: PersistenceError? = await withCheckedContinuation { continuation in
            store.sync { continuation.resume(returning: $0) }
        }
        #expect(error == nil)
        // Nothing new recorded: a second sync has nothing to wait for.
        let again: PersistenceError? = await withCheckedContinuation { continuation in
            store.sync { continuation.resume(returning: $0) }
        }
        #expect(again == nil)
        #expect(try FilePersistence(directory: folder).load(logger: Self.logger).sessions.count == 1)
    }

    @Test func aMissingFolderIsCreated() throws {
        let folder = Self.folder() + "/nested/deeper"
        let store = FilePersistence(directory: folder)
        #expect(try store.load(logger: Self.logger).sessions.isEmpty)
        #expect(FileManager.default.fileExists(atPath: store.path))
    }

    @Test func messageExpiryIsKeptAsAWallClockTime() throws {
        let folder = Self.folder()
        let store = FilePersistence(directory: folder)
        _ = try store.load(logger: Self.logger)
        var message = Self.message("e", "expires")
        message.expiresAt = .now() + .seconds(100)
        try store.record([.session(Self.header(1, "e")), .queued(sessionID: 1, Self.delivery(message))])
        let state = try FilePersistence(directory: folder).load(logger: Self.logger)
        let restored = try #require(state.sessions.first?.deliveries.first?.message.expiresAt)
        let left = (restored - .now()).nanoseconds
        #expect(left > 90_000_000_000 && left <= 100_000_000_000)
    }

    /// A record with a valid checksum and the largest message identifier (found by the
    /// fuzzer) is refused as damage instead of overflowing the next identifier.
    @Test func aMessageRecordWithTheLargestIdentifierIsRefused() {
        var model = PersistenceModel()
        let refused = model.apply(.message(id: .max, Self.message("a/b", "x"), expiresAt: nil))
        let accepted = model.apply(.message(id: 7, Self.message("a/b", "y"), expiresAt: nil))
        #expect(!refused && accepted)
        #expect(model.messages.keys.sorted() == [7])
    }
}
