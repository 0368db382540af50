import Crypto
import Foundation
import _CryptoExtras

/// One stored password in `mosquitto_passwd`'s formats, so that files move between Parley and
/// Mosquitto unchanged.
///
/// - `$7$ITERATIONS$SALT$HASH`: PBKDF2-HMAC-SHA512, 64-byte key (Mosquitto 2.0's default, 101
///   iterations);
/// - `$6$SALT$HASH`: SHA-512 over the password followed by the salt (Mosquitto 1.x);
/// salt and hash in padded base64.
public enum PasswordHash: Sendable, Hashable {
    case pbkdf2SHA512(iterations: Int, salt: [UInt8], hash: [UInt8])
    case sha512(salt: [UInt8], hash: [UInt8])

    /// What `mosquitto_passwd` uses: 12 random salt bytes, 101 iterations.
    public static let defaultIterations = 101
    static let saltLength = 12

    /// Hashes `password` with a fresh random salt.
    public static func make(password: String, iterations: Int = defaultIterations) -> PasswordHash {
        var generator = SystemRandomNumberGenerator()
        let salt = (0..<saltLength).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return .pbkdf2SHA512(iterations: iterations, salt: salt, hash: pbkdf2(password, salt: salt, iterations: iterations))
    }

    /// The older `$6$` form, for files that must be read by Mosquitto 1.x.
    public static func sha512(password: String, salt: [UInt8]) -> PasswordHash {
        var hasher = SHA512()
        hasher.update(data: Array(password.utf8))
        hasher.update(data: salt)
        return .sha512(salt: salt, hash: Array(hasher.finalize()))
    }

    /// Reads the part of a password-file line after `user:`; nil when it is not a hash Parley
    /// knows (a plain-text password, or another algorithm).
    public init?(encoded: Substring) {
        let fields = encoded.split(separator: "$", omittingEmptySubsequences: false)
        guard fields.first == "" else { return nil }
        switch fields.dropFirst().first {
        case "7":
            guard fields.count == 5, let iterations = Int(fields[2]), iterations > 0,
                let salt = Data(base64Encoded: String(fields[3])), let hash = Data(base64Encoded: String(fields[4])),
                hash.count == 64
            else { return nil }
            self = .pbkdf2SHA512(iterations: iterations, salt: Array(salt), hash: Array(hash))
        case "6":
            guard fields.count == 4, let salt = Data(base64Encoded: String(fields[2])),
                let hash = Data(base64Encoded: String(fields[3])), hash.count == 64
            else { return nil }
            self = .sha512(salt: Array(salt), hash: Array(hash))
        default:
            return nil
        }
    }

    /// The form written after `user:`.
    public var encoded: String {
        switch self {
        case .pbkdf2SHA512(let iterations, let salt, let hash):
            "$7$\(iterations)$\(Data(salt).base64EncodedString())$\(Data(hash).base64EncodedString())"
        case .sha512(let salt, let hash):
            "$6$\(Data(salt).base64EncodedString())$\(Data(hash).base64EncodedString())"
        }
    }

    /// Whether `password` is the one hashed; compares in constant time.
    public func verify(_ password: some DataProtocol) -> Bool {
        switch self {
        case .pbkdf2SHA512(let iterations, let salt, let hash):
            return Self.constantTimeEqual(Self.pbkdf2(password, salt: salt, iterations: iterations), hash)
        case .sha512(let salt, let hash):
            var hasher = SHA512()
            hasher.update(data: Array(password))
            hasher.update(data: salt)
            return Self.constantTimeEqual(Array(hasher.finalize()), hash)
        }
    }

    public func verify(_ password: String) -> Bool { verify(Array(password.utf8)) }

    private static func pbkdf2(_ password: some DataProtocol, salt: [UInt8], iterations: Int) -> [UInt8] {
        // `unsafeUncheckedRounds`: Mosquitto's files use 101 iterations, far below the checked
        // API's floor; compatibility with them is the point of this type.
        let key = try? KDF.Insecure.PBKDF2.deriveKey(
            from: Array(password), salt: salt, using: .sha512, outputByteCount: 64, unsafeUncheckedRounds: iterations)
        return key.map { $0.withUnsafeBytes { Array($0) } } ?? []
    }

    private static func pbkdf2(_ password: String, salt: [UInt8], iterations: Int) -> [UInt8] {
        pbkdf2(Array(password.utf8), salt: salt, iterations: iterations)
    }

    private static func constantTimeEqual(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        guard lhs.count == rhs.count, !lhs.isEmpty else { return false }
        var difference: UInt8 = 0
        for index in lhs.indices { difference |= lhs[index] ^ rhs[index] }
        return difference == 0
    }
}
