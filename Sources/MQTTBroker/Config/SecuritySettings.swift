/// Who may connect and what they may do: Mosquitto's `allow_anonymous`, `password_file` and
/// `acl_file`. One value for the whole broker, or one per listener with
/// `per_listener_settings true`.
public struct SecuritySettings: Sendable, Equatable, Hashable {
    /// Whether clients without a user name may connect.
    public var allowAnonymous: Bool
    /// A `mosquitto_passwd` file; when set, a client with a user name must be listed in it with
    /// the right password.
    public var passwordFile: String?
    /// A Mosquitto ACL file; when set, every publish, subscribe and delivery is checked against it.
    public var aclFile: String?

    public init(allowAnonymous: Bool = false, passwordFile: String? = nil, aclFile: String? = nil) {
        self.allowAnonymous = allowAnonymous
        self.passwordFile = passwordFile
        self.aclFile = aclFile
    }
}
