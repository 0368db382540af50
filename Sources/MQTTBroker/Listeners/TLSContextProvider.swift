import NIOCore
import NIOSSL
import Synchronization

/// The TLS context of one listener, rebuilt from its files on SIGHUP.
///
/// Owned by `Broker`. Each new connection takes the current context when it is accepted, so a
/// certificate replaced on disk and reloaded serves new connections while established ones
/// keep the session they negotiated.
final class TLSContextProvider: Sendable {
    let settings: ListenerTLSConfiguration
    let listenerName: String
    private let current: Mutex<NIOSSLContext>

    init(settings: ListenerTLSConfiguration, listenerName: String) throws(ListenerSetupError) {
        self.settings = settings
        self.listenerName = listenerName
        current = Mutex(try Self.makeContext(settings, listenerName: listenerName))
    }

    /// Re-reads the certificate, key and CA files; on failure the old context stays.
    func reload() throws(ListenerSetupError) {
        let context = try Self.makeContext(settings, listenerName: listenerName)
        current.withLock { $0 = context }
    }

    func makeHandler() -> NIOSSLServerHandler {
        NIOSSLServerHandler(context: current.withLock { $0 })
    }

    private static func makeContext(_ settings: ListenerTLSConfiguration, listenerName: String) throws(ListenerSetupError) -> NIOSSLContext {
        func failure(_ file: String?, _ error: any Error) -> ListenerSetupError {
            ListenerSetupError(listener: listenerName, file: file, message: "\(error)")
        }
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(settings.certificateFile)
        } catch {
            throw failure(settings.certificateFile, error)
        }
        guard !chain.isEmpty else {
            throw ListenerSetupError(listener: listenerName, file: settings.certificateFile, message: "no certificate in the file")
        }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(file: settings.keyFile, format: .pem)
        } catch {
            throw failure(settings.keyFile, error)
        }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = switch settings.minimumVersion {
        case .tlsv1_1: .tlsv11
        case .tlsv1_3: .tlsv13
        case .tlsv1_2, nil: .tlsv12
        }
        if let ciphers = settings.ciphers { configuration.cipherSuites = ciphers }
        var roots: [NIOSSLCertificate] = []
        do {
            if let caFile = settings.caFile { roots += try NIOSSLCertificate.fromPEMFile(caFile) }
        } catch {
            throw failure(settings.caFile, error)
        }
        if let caPath = settings.caPath {
            configuration.trustRoots = .file(caPath)
            if !roots.isEmpty { configuration.additionalTrustRoots = [.certificates(roots)] }
        } else if !roots.isEmpty {
            configuration.trustRoots = .certificates(roots)
        }
        if settings.requireCertificate {
            configuration.certificateVerification = .noHostnameVerification
        } else if settings.caFile != nil || settings.caPath != nil {
            // A certificate offered without being required is still checked, so that a
            // user name taken from it can be trusted.
            configuration.certificateVerification = .optionalVerification
        }
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw failure(nil, error)
        }
    }
}
