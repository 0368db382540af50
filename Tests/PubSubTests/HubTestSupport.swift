import Foundation
import Logging
import MQTTBroker
import PubSub
import Synchronization
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// A Parley broker embedded in the test process, on a free port of 127.0.0.1.
struct EmbeddedBroker {
    let broker: Broker
    let port: Int

    static func start() async throws -> EmbeddedBroker {
        try await start(on: 0)
    }

    /// Starts a broker on `port` (0 for any free port). `prepare` runs before `start()`, for
    /// inline subscriptions that must exist before the first client connects.
    static func start(on port: Int, prepare: (Broker) throws -> Void = { _ in }) async throws -> EmbeddedBroker {
        var configuration = BrokerConfiguration()
        configuration.listeners = [ListenerConfiguration(port: port, host: "127.0.0.1")]
        configuration.sysInterval = 0
        // These tests count every message; the broker's default drop-newest queue limit (1,000,
        // as Mosquitto's) is a broker policy tested elsewhere, so lift it here as for Mosquitto.
        configuration.maxQueuedMessages = 0
        let broker = Broker(configuration: configuration, logger: Logger(label: "test-broker"))
        try prepare(broker)
        try await broker.start()
        return EmbeddedBroker(broker: broker, port: broker.localAddresses.first!.port!)
    }

    var url: String { "mqtt://127.0.0.1:\(port)" }

    func stop() async throws { try await broker.shutdown() }
}

// MARK: - Ports and child processes

/// A port of 127.0.0.1 that nothing listens on right now (the kernel's choice for port 0).
func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw TestSupportError("socket() failed: errno \(errno)") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    guard bound else { throw TestSupportError("could not bind a free port: errno \(errno)") }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Whether something accepts TCP connections on 127.0.0.1:`port`.
func isListening(_ port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    return withUnsafePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
    }
}

struct TestSupportError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Children still running, killed at exit if a test left one behind (a failed `#require`
/// between start and stop, for instance).
private let liveChildren = Mutex<Set<pid_t>>([])
private let reaperInstalled: Bool = {
    atexit {
        for pid in liveChildren.withLock({ $0 }) {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
    }
    return true
}()

/// A child process started with posix_spawn, so that only its own pid is ever waited for and
/// it inherits no descriptor of ours beyond stdin/stdout/stderr (brokers' listening sockets
/// and hubs' connections stay in this process).
final class ChildProcess: Sendable {
    let pid: pid_t
    let command: String
    private let output: OutputBuffer
    private let exitStatus = Mutex<Int32?>(nil)

    /// Starts `path` with `arguments`. stdout and stderr are captured together unless
    /// `outputFile` is given.
    init(_ path: String, _ arguments: [String], outputFile: String? = nil) throws {
        _ = reaperInstalled
        command = ([path] + arguments).joined(separator: " ")
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var pipeEnds: [Int32] = [-1, -1]
        if let outputFile {
            posix_spawn_file_actions_addopen(&actions, 1, outputFile, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        } else {
            guard pipe(&pipeEnds) == 0 else { throw TestSupportError("pipe failed: errno \(errno)") }
            _ = fcntl(pipeEnds[0], F_SETFD, FD_CLOEXEC)
            _ = fcntl(pipeEnds[1], F_SETFD, FD_CLOEXEC)
            posix_spawn_file_actions_adddup2(&actions, pipeEnds[1], 1)
            posix_spawn_file_actions_adddup2(&actions, pipeEnds[1], 2)
        }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        if let closeFrom = Self.addCloseFrom { _ = closeFrom(&actions, 3) }
        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
        let environment: [UnsafeMutablePointer<CChar>?] = ProcessInfo.processInfo.environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for pointer in argv + environment { free(pointer) } }
        // The spawning thread may be one of Dispatch's, which block signals: give the child an
        // empty mask and default dispositions, or it would ignore our SIGTERM.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGCHLD] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var pid: pid_t = 0
        let code = posix_spawn(&pid, path, &actions, &attributes, argv, environment)
        if pipeEnds[1] >= 0 { close(pipeEnds[1]) }
        guard code == 0 else {
            if pipeEnds[0] >= 0 { close(pipeEnds[0]) }
            throw TestSupportError("could not start \(path): \(String(cString: strerror(code)))")
        }
        self.pid = pid
        liveChildren.withLock { _ = $0.insert(pid) }
        let output = OutputBuffer()
        self.output = output
        if pipeEnds[0] >= 0 {
            let fd = pipeEnds[0]
            let thread = Thread {
                var buffer = [UInt8](repeating: 0, count: 4096)
                while true {
                    let count = read(fd, &buffer, buffer.count)
                    if count > 0 {
                        output.append(buffer[0..<count])
                    } else if count < 0 && errno == EINTR {
                        continue
                    } else {
                        break
                    }
                }
                close(fd)
                output.end()
            }
            thread.start()
        } else {
            output.end()
        }
    }

    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34+), which Swift's Glibc module
    /// does not declare: the child then inherits none of our descriptors above stderr.
    private static let addCloseFrom: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32)? = {
        guard let library = dlopen(nil, RTLD_NOW), let symbol = dlsym(library, "posix_spawn_file_actions_addclosefrom_np") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)
    }()

    /// Everything the child wrote so far (stdout and stderr).
    var outputText: String { output.text }

    /// Reaps the child if it has exited; its exit status (or 128 + signal).
    func poll() -> Int32? {
        exitStatus.withLock { status in
            if let status { return status }
            var raw: Int32 = 0
            guard waitpid(pid, &raw, WNOHANG) == pid else { return nil }
            let code = raw & 0x7F == 0 ? (raw >> 8) & 0xFF : 128 + (raw & 0x7F)
            status = code
            liveChildren.withLock { _ = $0.remove(pid) }
            return code
        }
    }

    /// Waits for the child to exit by itself, and for the last of its output to be read; nil
    /// if it is still running at the deadline.
    func waitForExit(timeout: Duration = .seconds(10)) async -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let status = poll(), output.isComplete { return status }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return poll()
    }

    /// SIGTERM, then SIGKILL if the child has not exited after `grace`; always reaps it.
    func stop(grace: Duration = .seconds(3)) async {
        guard poll() == nil else { return }
        kill(pid, SIGTERM)
        if await waitForExit(timeout: grace) != nil { return }
        kill(pid, SIGKILL)
        _ = await waitForExit(timeout: .seconds(5))
    }

    /// Waits until the output contains `text`.
    func waitForOutput(containing text: String, timeout: Duration = .seconds(10)) async -> Bool {
        await eventually(timeout: timeout) { self.outputText.contains(text) }
    }
}

/// Bytes a child wrote, shared with the thread reading its pipe.
final class OutputBuffer: Sendable {
    private let data = Mutex(Data())
    private let ended = Mutex(false)
    func append(_ bytes: ArraySlice<UInt8>) { data.withLock { $0.append(contentsOf: bytes) } }
    var text: String { data.withLock { String(decoding: $0, as: UTF8.self) } }
    /// Set once the pipe reached end of file: nothing more will arrive.
    func end() { ended.withLock { $0 = true } }
    var isComplete: Bool { ended.withLock { $0 } }
}

/// Debian's `mosquitto` broker (2.0.11) as a child process with a temporary configuration:
/// one listener on 127.0.0.1 and anonymous access.
final class MosquittoProcess: Sendable {
    static let executable = "/usr/sbin/mosquitto"
    let port: Int
    let directory: URL
    private let child: ChildProcess

    private init(port: Int, directory: URL, child: ChildProcess) {
        self.port = port
        self.directory = directory
        self.child = child
    }

    /// Starts mosquitto on a free port (or `port`) and waits until it accepts connections.
    static func start(port requested: Int? = nil, extraConfiguration: [String] = [], timeout: Duration = .seconds(10)) async throws
        -> MosquittoProcess
    {
        var attempt = 0
        while true {
            attempt += 1
            let port = try requested ?? freePort()
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pubsub-mosquitto-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let configuration = (["listener \(port) 127.0.0.1", "allow_anonymous true", "max_queued_messages 0"] + extraConfiguration).joined(separator: "\n") + "\n"
            let configurationFile = directory.appendingPathComponent("mosquitto.conf").path
            try configuration.write(toFile: configurationFile, atomically: true, encoding: .utf8)
            let child = try ChildProcess(
                executable, ["-c", configurationFile], outputFile: directory.appendingPathComponent("mosquitto.log").path)
            let process = MosquittoProcess(port: port, directory: directory, child: child)
            let deadline = ContinuousClock.now + timeout
            while ContinuousClock.now < deadline && child.poll() == nil && !isListening(port) {
                try await Task.sleep(for: .milliseconds(10))
            }
            if child.poll() == nil && isListening(port) { return process }
            let log = process.log
            await process.stop()
            // Another test may have taken the free port between our check and mosquitto's bind.
            if requested == nil && attempt < 3 && log.contains("Address already in use") { continue }
            throw TestSupportError("mosquitto did not start on port \(port): \(log)")
        }
    }

    var url: String { "mqtt://127.0.0.1:\(port)" }
    var log: String { (try? String(contentsOf: directory.appendingPathComponent("mosquitto.log"), encoding: .utf8)) ?? "" }

    /// Stops the broker by pid and removes its files.
    func stop() async {
        await child.stop()
        try? FileManager.default.removeItem(at: directory)
    }
}

// MARK: - Brokers under test

/// The brokers every Flet rule is checked against.
enum BrokerKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    /// Parley's broker, embedded in the test process.
    case parley
    /// Debian's mosquitto 2.0.11, as a child process.
    case mosquitto

    var testDescription: String { rawValue }
}

/// A running broker of either kind.
final class TestBroker: Sendable {
    let kind: BrokerKind
    let port: Int
    private let embedded: EmbeddedBroker?
    private let process: MosquittoProcess?

    private init(kind: BrokerKind, port: Int, embedded: EmbeddedBroker?, process: MosquittoProcess?) {
        self.kind = kind
        self.port = port
        self.embedded = embedded
        self.process = process
    }

    static func start(_ kind: BrokerKind) async throws -> TestBroker {
        switch kind {
        case .parley:
            let broker = try await EmbeddedBroker.start()
            return TestBroker(kind: kind, port: broker.port, embedded: broker, process: nil)
        case .mosquitto:
            let process = try await MosquittoProcess.start()
            return TestBroker(kind: kind, port: process.port, embedded: nil, process: process)
        }
    }

    var url: String { "mqtt://127.0.0.1:\(port)" }

    func stop() async {
        try? await embedded?.stop()
        await process?.stop()
    }
}

/// Runs `body` with a fresh broker of `kind`, stopping it afterwards whether `body` throws or not.
func withBroker<Result>(_ kind: BrokerKind, _ body: (TestBroker) async throws -> Result) async throws -> Result {
    let broker = try await TestBroker.start(kind)
    do {
        let result = try await body(broker)
        await broker.stop()
        return result
    } catch {
        await broker.stop()
        throw error
    }
}

/// A prefix no other test uses.
func uniquePrefix(_ name: String = "t") -> String {
    "\(name)-\(UUID().uuidString.prefix(8).lowercased())"
}

/// Several hubs (as several processes would have) on one broker under one prefix.
struct Cluster: Sendable {
    let broker: TestBroker
    let hubs: [PubSubHub]
    let prefix: String

    /// Session `id` on hub `hub`.
    func session(_ id: String, hub: Int) -> PubSubClient { hubs[hub].session(id: id) }
}

/// Runs `body` with `hubCount` hubs connected to a fresh broker of `kind`; shuts everything
/// down afterwards, also when `body` throws.
func withCluster(
    _ kind: BrokerKind, hubs hubCount: Int = 2, qos: Int = 1, _ body: (Cluster) async throws -> Void
) async throws {
    try await withBroker(kind) { broker in
        let prefix = uniquePrefix()
        var hubs: [PubSubHub] = []
        do {
            for _ in 0..<hubCount { hubs.append(try await PubSubHub(broker: broker.url, prefix: prefix, qos: qos, logger: quietLogger)) }
            try await body(Cluster(broker: broker, hubs: hubs, prefix: prefix))
        } catch {
            for hub in hubs { await hub.shutdown() }
            throw error
        }
        for hub in hubs { await hub.shutdown() }
    }
}

/// Handler failures are expected in some tests; keep them out of the test output.
let quietLogger: Logger = {
    var logger = Logger(label: "pubsub-test")
    logger.logLevel = .critical
    return logger
}()

// MARK: - Waiting and recording

/// A flag one task sets and another polls.
final class Flag: Sendable {
    private let value = Mutex(false)
    init() {}
    func set() { value.withLock { $0 = true } }
    var isSet: Bool { value.withLock { $0 } }
}

/// What handlers received, in order; safe to append to from any session's task.
final class Inbox<Element: Sendable>: Sendable {
    private let items = Mutex<[Element]>([])

    init() {}

    func append(_ item: Element) { items.withLock { $0.append(item) } }
    var all: [Element] { items.withLock { $0 } }
    var count: Int { items.withLock { $0.count } }

    /// Waits until at least `count` items have arrived.
    func wait(for count: Int, timeout: Duration = .seconds(15)) async -> Bool {
        await eventually(timeout: timeout) { self.count >= count }
    }

    /// Waits until some item satisfies `predicate`.
    func wait(timeout: Duration = .seconds(15), until predicate: @escaping (Element) -> Bool) async -> Bool {
        await eventually(timeout: timeout) { self.items.withLock { $0.contains(where: predicate) } }
    }
}

/// One delivery as a test records it: which session and handler, on which topic (nil for
/// the global channel), what text, from which sender.
struct Received: Sendable, Hashable, CustomStringConvertible {
    var session: String
    var handler: String = ""
    var topic: String?
    var text: String
    var sender: String? = nil

    var description: String { "\(session)/\(handler) <- \(topic ?? "<global>"): \(text)" }
}

extension Inbox where Element == Received {
    func texts(session: String, handler: String? = nil) -> [String] {
        all.filter { $0.session == session && (handler == nil || $0.handler == handler) }.map(\.text)
    }

    func wait(session: String, text: String, timeout: Duration = .seconds(15)) async -> Bool {
        await wait(timeout: timeout) { $0.session == session && $0.text == text }
    }
}

extension PubSubClient {
    /// Records every global message as `Received(session: sessionID, handler: name, …)`.
    func record(into inbox: Inbox<Received>, handler name: String = "global") async throws {
        let session = sessionID
        try await subscribe(message: "record-\(name)") { message in
            inbox.append(Received(session: session, handler: name, topic: message.topic, text: message.text, sender: message.sender))
        }
    }

    /// Records every message on `topic` (wildcards allowed) with the concrete topic it came on.
    func record(topic: String, into inbox: Inbox<Received>, handler name: String? = nil) async throws {
        let session = sessionID
        let name = name ?? topic
        try await subscribeTopic(topic, message: "record-\(name)") { message in
            inbox.append(Received(session: session, handler: name, topic: message.topic, text: message.text, sender: message.sender))
        }
    }
}
