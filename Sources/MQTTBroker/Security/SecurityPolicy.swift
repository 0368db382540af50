import Foundation
import MQTTCore
import NIOCore
import Synchronization

/// The broker's own access rules: `allow_anonymous`, the password file and the ACL file of each
/// listener (or of all of them), plus the in-process credential of trusted companions such as
/// the chat.
///
/// Owned by `BrokerCore`. The parsed files are a value behind a mutex: connections read them
/// (a copy-on-write reference, no parsing) for each check, and `reload` swaps them whole, so a
/// SIGHUP changes the rules for the next check of every connection without closing any.
final class SecurityPolicy: Sendable {
    /// The rules of one listener, as loaded.
    struct Rules: Sendable {
        var allowAnonymous: Bool
        var passwords: PasswordFile?
        var acl: AccessControlList?
    }

    /// Per listener (by index), or one entry for all when settings are not per listener.
    private let settings: [SecuritySettings]
    private let perListener: Bool
    private let loaded: Mutex<[Rules]>
    /// A user name and password that only this process knows; a client that presents them is
    /// trusted like an inline client (the chat connects with it over MQTT).
    let internalCredentials: (username: String, password: String)

    init(configuration: BrokerConfiguration) {
        perListener = configuration.perListenerSettings
        settings = perListener ? configuration.listeners.map { $0.security ?? SecuritySettings() } : [configuration.security]
        loaded = Mutex(settings.map { Rules(allowAnonymous: $0.allowAnonymous) })
        usesACL = settings.contains { $0.aclFile != nil }
        internalCredentials = ("parley-internal-" + UUID().uuidString, UUID().uuidString + UUID().uuidString)
    }

    /// Whether any listener has an ACL file; if none does, deliveries skip the lookup.
    let usesACL: Bool

    /// Reads every password and ACL file; on any error the rules in force stay as they were.
    func load() throws(SecurityFileError) {
        var passwordFiles: [String: PasswordFile] = [:]
        var aclFiles: [String: AccessControlList] = [:]
        var rules: [Rules] = []
        for setting in settings {
            var entry = Rules(allowAnonymous: setting.allowAnonymous)
            if let path = setting.passwordFile {
                if passwordFiles[path] == nil { passwordFiles[path] = try PasswordFile(contentsOf: path) }
                entry.passwords = passwordFiles[path]
            }
            if let path = setting.aclFile {
                if aclFiles[path] == nil { aclFiles[path] = try AccessControlList(contentsOf: path) }
                entry.acl = aclFiles[path]
            }
            rules.append(entry)
        }
        loaded.withLock { $0 = rules }
    }

    func rules(forListener listener: Int?) -> Rules? {
        loaded.withLock { rules in
            if !perListener { return rules.first }
            guard let listener, rules.indices.contains(listener) else { return nil }
            return rules[listener]
        }
    }

    func isInternal(_ client: ClientInfo) -> Bool { client.isTrusted }

    func presentsInternalCredentials(client: ClientInfo, password: ByteBuffer?) -> Bool {
        guard client.username == internalCredentials.username, let password else { return false }
        return password.readableBytesView.elementsEqual(internalCredentials.password.utf8)
    }

    /// The password check, off the event loop. Clients without a user name were already let
    /// through or refused by `allow_anonymous`.
    func checkPassword(_ request: AuthenticationRequest) -> AuthenticationResult {
        guard let username = request.client.username,
            let passwords = rules(forListener: request.client.listener)?.passwords
        else { return .accepted }
        let password = request.password.map { Array($0.readableBytesView) } ?? []
        if passwords.verify(username: username, password: password) { return .accepted }
        // 3.1.1 clients get return code 5 (not authorized), as from Mosquitto.
        return .rejected(request.client.protocolVersion == .v5 ? .badUserNameOrPassword : .notAuthorized)
    }
}
