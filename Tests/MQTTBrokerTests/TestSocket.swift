import Foundation
import MQTTCore
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// A bare TCP connection to a broker, for tests that must send exact bytes or end a connection
/// in one particular way (a reset, silence, half a packet). Blocking calls with deadlines; each
/// test owns its sockets.
final class TestSocket: @unchecked Sendable {
    private var descriptor: Int32
    private var pending: [UInt8] = []

    init(port: Int) throws {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw TestSocketError.system("socket", errno) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard result == 0 else {
            let code = errno
            Glibc.close(descriptor)
            throw TestSocketError.system("connect", code)
        }
    }

    deinit {
        if descriptor >= 0 { Glibc.close(descriptor) }
    }

    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard written > 0 else { throw TestSocketError.system("send", errno) }
            offset += written
        }
    }

    func send(_ packet: MQTTPacket, version: ProtocolVersion) throws {
        let buffer = packet.encoded(version: version)
        try send(Array(buffer.readableBytesView))
    }

    /// Sends CONNECT and returns the CONNACK's reason code (3.1.1 return code or v5 reason).
    @discardableResult
    func connect(_ connect: ConnectPacket) throws -> UInt8 {
        try send(.connect(connect), version: connect.protocolVersion)
        let (type, body) = try readPacket()
        guard type == PacketType.connack.rawValue, body.count >= 2 else { throw TestSocketError.unexpected("packet type \(type)") }
        return body[1]
    }

    /// The next packet's type and body; throws if none arrives within `timeout`.
    func readPacket(timeout: Duration = .seconds(10)) throws -> (type: UInt8, body: [UInt8]) {
        let deadline = ContinuousClock.now + timeout
        let first = try read(count: 1, deadline: deadline)[0]
        var length = 0
        var multiplier = 1
        while true {
            let byte = try read(count: 1, deadline: deadline)[0]
            length += Int(byte & 0x7F) * multiplier
            multiplier *= 128
            if byte & 0x80 == 0 { break }
        }
        return (first >> 4, try read(count: length, deadline: deadline))
    }

    /// Waits until the broker closes the connection (end of stream or a reset), discarding what
    /// it sends before, then closes this side as a client would; returns false if it is still
    /// open after `timeout`.
    func waitForClose(timeout: Duration = .seconds(10)) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            guard poll(until: deadline) else { return false }
            var scratch = [UInt8](repeating: 0, count: 4096)
            let count = scratch.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count <= 0 {
                close()
                return true
            }
        }
        return false
    }

    /// Closes with a reset instead of a FIN: the connection is lost, not ended.
    func reset() {
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        close()
    }

    func close() {
        guard descriptor >= 0 else { return }
        Glibc.close(descriptor)
        descriptor = -1
    }

    private func read(count: Int, deadline: ContinuousClock.Instant) throws -> [UInt8] {
        while pending.count < count {
            guard poll(until: deadline) else { throw TestSocketError.timedOut }
            var scratch = [UInt8](repeating: 0, count: 4096)
            let received = scratch.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            guard received > 0 else { throw TestSocketError.closed }
            pending += scratch[..<received]
        }
        defer { pending.removeFirst(count) }
        return Array(pending[..<count])
    }

    private func poll(until deadline: ContinuousClock.Instant) -> Bool {
        let remaining = deadline - ContinuousClock.now
        let milliseconds = max(0, Int32(remaining.components.seconds * 1000 + remaining.components.attoseconds / 1_000_000_000_000_000))
        var entry = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        return Glibc.poll(&entry, 1, milliseconds) > 0
    }
}

enum TestSocketError: Error, CustomStringConvertible {
    case system(String, Int32)
    case timedOut
    case closed
    case unexpected(String)

    var description: String {
        switch self {
        case .system(let call, let code): "\(call) failed: \(String(cString: strerror(code)))"
        case .timedOut: "no answer within the deadline"
        case .closed: "the broker closed the connection"
        case .unexpected(let what): "unexpected \(what)"
        }
    }
}
