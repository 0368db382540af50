import Foundation
import MQTTBroker
import Testing

@Suite("Password files in mosquitto_passwd's format")
struct PasswordFileTests {
    /// A line written by Debian's `mosquitto_passwd -b file carol pw3` (2.0.11).
    static let mosquittoLine =
        "carol:$7$101$7s/dTbRmGf9kGkkh$zjP+bqnWzkdkrpFTQzmSbjRz0zN5lXvxzFwrqLb+H7y4wB6C/geh8JR8tWUpPHexcFvbg12YYyE6QVpaaUJ/hg=="

    @Test("A PBKDF2-SHA512 line from mosquitto_passwd verifies its password only")
    func mosquittoLineVerifies() throws {
        let file = try PasswordFile(contents: Self.mosquittoLine + "\n", file: "pw")
        #expect(file.verify(username: "carol", password: Array("pw3".utf8)))
        #expect(!file.verify(username: "carol", password: Array("pw4".utf8)))
        #expect(!file.verify(username: "carol", password: [UInt8]()))
        #expect(!file.verify(username: "dave", password: Array("pw3".utf8)))
    }

    @Test("Hashes made here read back and verify, in both formats")
    func roundTrip() throws {
        var file = PasswordFile()
        file.set("alice", .hashed(.make(password: "wonderland")))
        file.set("old", .hashed(.sha512(password: "timer", salt: Array(repeating: 7, count: 12))))
        let text = file.serialized
        #expect(text.hasPrefix("alice:$7$101$"))
        #expect(text.contains("\nold:$6$"))
        let read = try PasswordFile(contents: text, file: "pw")
        #expect(read == file)
        #expect(read.verify(username: "alice", password: Array("wonderland".utf8)))
        #expect(read.verify(username: "old", password: Array("timer".utf8)))
        #expect(!read.verify(username: "old", password: Array("timer ".utf8)))
    }

    @Test("Fresh hashes use fresh salts")
    func saltsDiffer() {
        #expect(PasswordHash.make(password: "same") != PasswordHash.make(password: "same"))
    }

    @Test("Comments and blank lines are skipped; editing keeps the order of users")
    func editing() throws {
        var file = try PasswordFile(contents: "# users\n\n\(Self.mosquittoLine)\nzed:plain\n", file: "pw", allowPlainText: true)
        file.set("bob", .hashed(.make(password: "b")))
        file.hashPlainTextPasswords()
        #expect(file.entries.map(\.username) == ["carol", "zed", "bob"])
        #expect(file.verify(username: "zed", password: Array("plain".utf8)))
        let removed = file.remove("carol")
        let removedAgain = file.remove("carol")
        #expect(removed && !removedAgain)
        #expect(file.entries.map(\.username) == ["zed", "bob"])
    }

    @Test("The broker refuses a plain-text password, naming the file and line")
    func plainTextRefused() {
        #expect(throws: SecurityFileError(
            file: "pw", line: 2,
            message: "user 'zed': the password is not hashed; run 'parley passwd -U pw' (or mosquitto_passwd -U)")
        ) {
            try PasswordFile(contents: "\(Self.mosquittoLine)\nzed:plain\n", file: "pw")
        }
    }

    @Test("Malformed lines are refused with their line number")
    func malformedLines() {
        func failure(_ text: String) -> SecurityFileError? {
            do {
                _ = try PasswordFile(contents: text, file: "pw")
                return nil
            } catch {
                return error
            }
        }
        #expect(failure("no colon here")?.line == 1)
        #expect(failure("\n:$7$101$abc$def")?.line == 2)
        #expect(failure("a:$5$unknown$format")?.message.contains("not a password hash") == true)
        #expect(failure("\(Self.mosquittoLine)\n\(Self.mosquittoLine)")?.message.contains("listed twice") == true)
    }
}
