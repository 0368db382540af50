import Logging

/// Where a broker keeps what must survive a restart or a crash: retained messages, persistent
/// sessions, their queued and in-flight messages and held QoS 2 identifiers.
///
/// The broker calls `record` on its event loops with the changes of one read (or one loop
/// tick) in the order they happened, and writes the acknowledgements of that read only after
/// `record` returns: a store that returns once the changes are durable makes every
/// acknowledged QoS 1/2 message survive whatever the store survives. Calls from different
/// event loops may overlap; a store serializes them, and the order of completed calls is the
/// order `load` replays. `FilePersistence` (`persistence true`) is the built-in store; a
/// program embedding the broker can plug in its own through `BrokerHooks.persistence`.
public protocol BrokerPersistence: Sendable {
    /// Reads what was stored, once, before the listeners open. Damage the store can recover
    /// from is reported through `logger` and skipped; what is thrown stops the broker starting.
    func load(logger: Logger) throws(PersistenceError) -> PersistedState
    /// Stores `changes` after everything recorded before. When it returns they survive the
    /// broker process dying (`kill -9`); if `syncsToDisk`, `sync` makes them survive a power cut.
    func record(_ changes: [PersistenceChange]) throws(PersistenceError)
    /// Whether the broker must wait for `sync` before acknowledging what it recorded. It then
    /// asks once per event-loop tick for every connection that read in it (group commit) and
    /// holds those connections' writes until `done` is called; the event loop serves the
    /// others meanwhile.
    var syncsToDisk: Bool { get }
    /// Calls `done`, on any thread, once everything recorded before this call survives a power
    /// cut (with the error, if it cannot be made to).
    func sync(then done: @escaping @Sendable (PersistenceError?) -> Void)
    /// Writes what is buffered and closes the store; the broker is stopping.
    func close()
}
