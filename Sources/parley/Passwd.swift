import ArgumentParser
import Foundation
import MQTTBroker

/// `parley passwd`: `mosquitto_passwd` with the same options and file format, so a password file
/// moves between Parley and Mosquitto either way.
struct Passwd: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "passwd",
        abstract: "Create or edit a password file (mosquitto_passwd's options and format).",
        discussion: """
            parley passwd [-c | -D] FILE USER          asks for the password twice
            parley passwd -b FILE USER PASSWORD        takes it from the command line
            parley passwd -U FILE                      hashes a file of plain-text passwords
            Passwords are stored as PBKDF2-SHA512 ($7$, 101 iterations, as mosquitto_passwd does); \
            the broker re-reads the file on SIGHUP.
            """
    )

    @Flag(name: .customShort("c"), help: "Create a new file, replacing any existing one.")
    var create = false

    @Flag(name: .customShort("b"), help: "Batch mode: the password is the last argument.")
    var batch = false

    @Flag(name: .customShort("D"), help: "Delete USER from the file.")
    var delete = false

    @Flag(name: .customShort("U"), help: "Hash every plain-text password in FILE.")
    var upgrade = false

    @Option(name: .customShort("H"), help: ArgumentHelp("Hash: sha512-pbkdf2 (default) or sha512.", valueName: "HASH"))
    var hash: String = "sha512-pbkdf2"

    @Option(name: .customShort("I"), help: ArgumentHelp("PBKDF2 iterations (default 101).", valueName: "N"))
    var iterations: Int = PasswordHash.defaultIterations

    @Argument(help: "The password file.")
    var file: String

    @Argument(help: "The user name.")
    var username: String?

    @Argument(help: "The password (with -b).")
    var password: String?

    func validate() throws {
        if [create, delete, upgrade].filter({ $0 }).count > 1 { throw ValidationError("-c, -D and -U cannot be combined") }
        if upgrade {
            if username != nil || batch { throw ValidationError("-U takes only the file") }
            return
        }
        guard let username else { throw ValidationError("missing user name") }
        if username.contains(":") { throw ValidationError("user name must not contain ':'") }
        if username.utf8.count > 65535 { throw ValidationError("user name is too long") }
        if delete && (batch || password != nil) { throw ValidationError("-D takes a file and a user name") }
        if batch && password == nil { throw ValidationError("-b needs a password after the user name") }
        if !batch && password != nil { throw ValidationError("a password on the command line needs -b") }
        if !["sha512-pbkdf2", "sha512"].contains(hash) { throw ValidationError("-H: choose sha512-pbkdf2 or sha512") }
        if iterations < 1 { throw ValidationError("-I: iterations must be at least 1") }
    }

    func run() throws {
        var passwords = PasswordFile()
        if !create {
            do {
                passwords = try PasswordFile(contentsOf: file, allowPlainText: true)
            } catch {
                fail("\(error)")
            }
        }
        if upgrade {
            passwords.hashPlainTextPasswords(iterations: iterations)
        } else if delete {
            guard passwords.remove(username!) else { fail("user \(username!) not found in \(file)") }
        } else {
            let secret = try password ?? Self.prompt()
            guard !secret.isEmpty else { fail("empty password") }
            let stored: PasswordHash
            if hash == "sha512" {
                stored = Self.sha512(secret)
            } else {
                stored = .make(password: secret, iterations: iterations)
            }
            passwords.set(username!, .hashed(stored))
        }
        do {
            try Self.write(passwords.serialized, to: file)
        } catch {
            fail("cannot write \(file): \(error.localizedDescription)")
        }
    }

    private static func sha512(_ password: String) -> PasswordHash {
        let made = PasswordHash.make(password: password)
        guard case .pbkdf2SHA512(_, let salt, _) = made else { return made }
        return PasswordHash.sha512(password: password, salt: salt)
    }

    /// Asks twice on the terminal without echo (or reads two lines from a pipe).
    private static func prompt() throws -> String {
        let first = readSecret("Password: ")
        let second = readSecret("Reenter password: ")
        guard let first, let second else { fail("no password given") }
        guard first == second else { fail("passwords do not match") }
        return first
    }

    private static func readSecret(_ prompt: String) -> String? {
        FileHandle.standardError.write(Data(prompt.utf8))
        let terminal = isatty(STDIN_FILENO) == 1
        var saved = termios()
        if terminal {
            tcgetattr(STDIN_FILENO, &saved)
            var silent = saved
            silent.c_lflag &= ~tcflag_t(ECHO)
            tcsetattr(STDIN_FILENO, TCSANOW, &silent)
        }
        defer {
            if terminal {
                tcsetattr(STDIN_FILENO, TCSANOW, &saved)
                FileHandle.standardError.write(Data("\n".utf8))
            }
        }
        return readLine(strippingNewline: true)
    }

    /// Writes through a temporary file and a rename, so a reader (the broker on SIGHUP) never
    /// sees half a file. A new file is readable by its owner only.
    private static func write(_ text: String, to path: String) throws {
        let url = URL(fileURLWithPath: path)
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(getpid()).tmp")
        let mode = (try? FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) ?? 0o600
        try Data(text.utf8).write(to: temporary)
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: temporary.path)
        if rename(temporary.path, path) != 0 {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: temporary)
            throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: reason])
        }
    }

    private static func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("Error: \(message)\n".utf8))
        Foundation.exit(1)
    }

    private func fail(_ message: String) -> Never { Self.fail(message) }
}
