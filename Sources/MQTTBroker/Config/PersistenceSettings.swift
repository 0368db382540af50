/// Where and how the built-in store (`FilePersistence`) keeps the broker's state.
public struct PersistenceSettings: Sendable, Equatable {
    /// `persistence_location`: the folder of the store (created if missing).
    public var location: String
    /// `persistence_file`.
    public var fileName: String
    /// `persistence_fsync` (a Parley key): sync each group of changes to disk before its
    /// acknowledgements go out, so they survive a power cut, not only a crash of the broker.
    public var fsync: Bool

    public init(location: String = "", fileName: String = "parley.db", fsync: Bool = false) {
        self.location = location
        self.fileName = fileName
        self.fsync = fsync
    }
}
