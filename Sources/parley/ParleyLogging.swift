import Foundation
import Logging
import MosquittoConfig

/// Maps Mosquitto's `log_type` and `log_dest` onto swift-log.
enum ParleyLogging {
    /// Bootstraps the logging system once and returns the broker's logger.
    static func bootstrap(_ configuration: ParleyConfiguration) -> Logger {
        let level = level(for: configuration.logTypes)
        let destinations = configuration.logDestinations
        LoggingSystem.bootstrap { label in
            let handlers: [any LogHandler] = destinations.map { destination in
                switch destination {
                case .stdout: StreamLogHandler.standardOutput(label: label)
                case .stderr: StreamLogHandler.standardError(label: label)
                case .file(let path): FileLogHandler.make(label: label, path: path)
                }
            }
            var handler: any LogHandler = handlers.isEmpty ? SwiftLogNoOpLogHandler() : MultiplexLogHandler(handlers)
            handler.logLevel = level
            return handler
        }
        return Logger(label: "parley")
    }

    /// The most detailed level any configured type asks for.
    static func level(for types: Set<LogType>) -> Logger.Level {
        if types.contains(.debug) || types.contains(.internal) { return .debug }
        if types.contains(.information) || types.contains(.subscribe) || types.contains(.unsubscribe) { return .info }
        if types.contains(.notice) { return .notice }
        if types.contains(.warning) { return .warning }
        if types.contains(.error) { return .error }
        return .critical
    }
}

/// Appends log lines to a file (`log_dest file PATH`) through swift-log's stream handler.
enum FileLogHandler {
    static func make(label: String, path: String) -> StreamLogHandler {
        if !FileManager.default.fileExists(atPath: path) {
            _ = FileManager.default.createFile(atPath: path, contents: nil)
        }
        let handle = FileHandle(forWritingAtPath: path) ?? FileHandle.standardError
        handle.seekToEndOfFile()
        return StreamLogHandler(label: label, stream: FileOutputStream(handle: handle))
    }
}

/// A `TextOutputStream` over a file handle; FileHandle writes are thread-safe.
struct FileOutputStream: TextOutputStream, @unchecked Sendable {
    let handle: FileHandle
    mutating func write(_ string: String) { handle.write(Data(string.utf8)) }
}
