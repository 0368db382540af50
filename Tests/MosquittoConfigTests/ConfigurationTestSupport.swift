import MQTTBroker
import MQTTBridge
import MosquittoConfig

/// Helpers shared by the configuration parser tests.
enum ConfigurationTestSupport {
    static let fileName = "test.conf"

    /// Parses `text` as the contents of `test.conf`.
    static func parse(_ text: String) throws -> (ParleyConfiguration, [ConfigurationWarning]) {
        try MosquittoConfigParser().parse(contents: text, file: fileName)
    }

    /// The configuration parsed from `text`, ignoring warnings.
    static func configuration(_ text: String) throws -> ParleyConfiguration {
        try parse(text).0
    }

    /// The error parsing `text` throws, or `nil` if it parses.
    static func error(_ text: String) -> ConfigurationError? {
        do {
            _ = try MosquittoConfigParser().parse(contents: text, file: fileName)
            return nil
        } catch {
            return error
        }
    }

    /// Whether `text` parses into exactly the defaults of a configuration file.
    static func parsesToFileDefaults(_ text: String) throws -> Bool {
        try configuration(text) == ParleyConfiguration.fileDefaults
    }
}
