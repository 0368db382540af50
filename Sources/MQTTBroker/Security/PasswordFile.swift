import Foundation
import MQTTCore

/// A password file in `mosquitto_passwd`'s format: one `user:hash` per line (see
/// ``PasswordHash``); blank lines and lines starting with `#` are skipped.
///
/// A value, read by the broker at start and on SIGHUP, and edited by `parley passwd`, which
/// keeps the order of the users and writes the file back whole.
public struct PasswordFile: Sendable, Equatable {
    public enum Credential: Sendable, Equatable {
        case hashed(PasswordHash)
        /// A line whose password is not hashed: what `mosquitto_passwd -U` upgrades. The broker
        /// refuses such a file, as Mosquitto 2.0 does.
        case plainText(String)
    }

    public private(set) var entries: [(username: String, credential: Credential)] = []

    public init() {}

    public static func == (lhs: PasswordFile, rhs: PasswordFile) -> Bool {
        lhs.entries.elementsEqual(rhs.entries) { $0.username == $1.username && $0.credential == $1.credential }
    }

    /// Parses a file's text. `allowPlainText` is for `parley passwd -U`; the broker refuses
    /// passwords it would have to compare in clear.
    public init(contents: String, file: String, allowPlainText: Bool = false) throws(SecurityFileError) {
        var seen: [UTF8Key: Int] = [:]
        for (index, rawLine) in contents.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let number = index + 1
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let colon = line.firstIndex(of: ":") else {
                throw SecurityFileError(file: file, line: number, message: "expected 'username:password hash', found no ':'")
            }
            let username = String(line[..<colon])
            let secret = line[line.index(after: colon)...]
            guard !username.isEmpty else {
                throw SecurityFileError(file: file, line: number, message: "empty user name")
            }
            if let first = seen[UTF8Key(username)] {
                throw SecurityFileError(file: file, line: number, message: "user '\(username)' is listed twice (first on line \(first))")
            }
            seen[UTF8Key(username)] = number
            if let hash = PasswordHash(encoded: Substring(secret)) {
                entries.append((username, .hashed(hash)))
            } else if allowPlainText, !secret.hasPrefix("$") {
                entries.append((username, .plainText(String(secret))))
            } else if secret.hasPrefix("$") {
                throw SecurityFileError(
                    file: file, line: number,
                    message: "user '\(username)': not a password hash Parley reads ($7$ PBKDF2-SHA512 or $6$ SHA-512)")
            } else {
                throw SecurityFileError(
                    file: file, line: number,
                    message: "user '\(username)': the password is not hashed; run 'parley passwd -U \(file)' (or mosquitto_passwd -U)")
            }
        }
    }

    /// Reads and parses the file at `path`.
    public init(contentsOf path: String, allowPlainText: Bool = false) throws(SecurityFileError) {
        try self.init(contents: try Self.read(path), file: path, allowPlainText: allowPlainText)
    }

    static func read(_ path: String) throws(SecurityFileError) -> String {
        do {
            return try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            let reason = (error as NSError).userInfo[NSUnderlyingErrorKey].flatMap { ($0 as? NSError)?.localizedDescription }
            throw SecurityFileError(file: path, line: 0, message: "cannot read: \(reason ?? error.localizedDescription)")
        }
    }

    public func credential(for username: String) -> Credential? {
        entries.first { $0.username.hasSameBytes(as: username) }?.credential
    }

    /// Whether `username` is listed with `password`.
    public func verify(username: String, password: some DataProtocol) -> Bool {
        guard case .hashed(let hash)? = credential(for: username) else { return false }
        return hash.verify(password)
    }

    /// Adds `username` or replaces its password, keeping its place in the file.
    public mutating func set(_ username: String, _ credential: Credential) {
        if let index = entries.firstIndex(where: { $0.username.hasSameBytes(as: username) }) {
            entries[index].credential = credential
        } else {
            entries.append((username, credential))
        }
    }

    /// Removes `username`; returns whether it was there.
    @discardableResult
    public mutating func remove(_ username: String) -> Bool {
        guard let index = entries.firstIndex(where: { $0.username.hasSameBytes(as: username) }) else { return false }
        entries.remove(at: index)
        return true
    }

    /// Hashes every plain-text password (`mosquitto_passwd -U`).
    public mutating func hashPlainTextPasswords(iterations: Int = PasswordHash.defaultIterations) {
        for index in entries.indices {
            if case .plainText(let password) = entries[index].credential {
                entries[index].credential = .hashed(.make(password: password, iterations: iterations))
            }
        }
    }

    /// The file's text, one line per user.
    public var serialized: String {
        entries.map { entry in
            switch entry.credential {
            case .hashed(let hash): "\(entry.username):\(hash.encoded)\n"
            case .plainText(let password): "\(entry.username):\(password)\n"
            }
        }.joined()
    }
}
