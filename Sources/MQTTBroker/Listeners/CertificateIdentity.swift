import NIOSSL

/// The user name a client certificate gives (`use_identity_as_username`,
/// `use_subject_as_username`), in the forms Mosquitto uses, so ACL files carry over.
enum CertificateIdentity {
    /// The first Common Name of the subject.
    static func commonName(of certificate: NIOSSLCertificate) -> String? {
        certificate.subjectName.first { $0.type == .commonName }?.value
    }

    /// The subject as RFC 2253 writes it: most specific first (`CN=device,O=Example,C=GB`),
    /// with the characters the RFC reserves escaped.
    static func subject(of certificate: NIOSSLCertificate) -> String? {
        let names = certificate.subjectName
        guard !names.isEmpty else { return nil }
        return names.reversed().map { "\(shortName($0.type))=\(escaped($0.value))" }.joined(separator: ",")
    }

    private static func shortName(_ type: SSLCertificateNameType) -> String {
        switch type {
        case .commonName: "CN"
        case .organization: "O"
        case .organizationalUnit: "OU"
        case .country: "C"
        case .state: "ST"
        case .city: "L"
        case .emailAddress: "emailAddress"
        case .userId: "UID"
        default: "\(type)"
        }
    }

    private static func escaped(_ value: String) -> String {
        var result = ""
        for (index, character) in value.enumerated() {
            let leadingOrTrailingSpace = character == " " && (index == 0 || index == value.count - 1)
            if ",+\"\\<>;".contains(character) || (index == 0 && character == "#") || leadingOrTrailingSpace {
                result.append("\\")
            }
            result.append(character)
        }
        return result
    }
}
