/// TLS on a listener: Mosquitto's `certfile`, `keyfile`, `cafile`, `capath`,
/// `require_certificate`, `use_identity_as_username`, `use_subject_as_username`,
/// `tls_version` and `ciphers`. The files are read when the broker starts and again on SIGHUP.
public struct ListenerTLSConfiguration: Sendable, Equatable, Hashable {
    /// The lowest protocol version accepted (`tls_version`).
    public enum Version: String, Sendable, Hashable, CaseIterable {
        case tlsv1_1 = "tlsv1.1"
        case tlsv1_2 = "tlsv1.2"
        case tlsv1_3 = "tlsv1.3"
    }

    /// PEM server certificate, with its chain after it.
    public var certificateFile: String
    /// PEM private key of the certificate.
    public var keyFile: String
    /// PEM certificates of the authorities that sign client certificates.
    public var caFile: String?
    /// A folder of such PEM certificates.
    public var caPath: String?
    /// Clients must present a certificate signed by `caFile`/`caPath`.
    public var requireCertificate: Bool
    /// The certificate's Common Name becomes the user name (password file not consulted).
    public var useIdentityAsUsername: Bool
    /// The certificate's whole subject (RFC 2253, e.g. `CN=device1,O=Example`) becomes the
    /// user name.
    public var useSubjectAsUsername: Bool
    /// Default: TLS 1.2 and later.
    public var minimumVersion: Version?
    /// OpenSSL cipher list for TLS 1.2 and earlier.
    public var ciphers: String?

    public init(
        certificateFile: String, keyFile: String, caFile: String? = nil, caPath: String? = nil,
        requireCertificate: Bool = false, useIdentityAsUsername: Bool = false, useSubjectAsUsername: Bool = false,
        minimumVersion: Version? = nil, ciphers: String? = nil
    ) {
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        self.caFile = caFile
        self.caPath = caPath
        self.requireCertificate = requireCertificate
        self.useIdentityAsUsername = useIdentityAsUsername
        self.useSubjectAsUsername = useSubjectAsUsername
        self.minimumVersion = minimumVersion
        self.ciphers = ciphers
    }

    /// Whether the client's certificate names the user.
    public var certificateNamesUser: Bool { useIdentityAsUsername || useSubjectAsUsername }
}
