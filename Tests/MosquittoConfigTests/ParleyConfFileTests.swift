import Foundation
import MQTTBroker
import MQTTBridge
import MosquittoConfig
import Testing

@Suite("Shipped parley.conf")
struct ParleyConfFileTests {
    /// `config/parley.conf` in the main package (or `parley.conf` at the root of the
    /// staging package), found relative to this source file.
    static func parleyConfPath() throws -> String {
        let packageRoot = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent()  // MQTTBrokerTests
            .deletingLastPathComponent()  // Tests
            .deletingLastPathComponent()  // package root
        let candidates = ["config/parley.conf", "parley.conf"].map {
            packageRoot.appendingPathComponent($0).path
        }
        return try #require(candidates.first { FileManager.default.fileExists(atPath: $0) })
    }

    static func parleyConfLines() throws -> [String] {
        let text = try String(contentsOfFile: try parleyConfPath(), encoding: .utf8)
        return text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    }

    @Test("parley.conf parses without errors or warnings")
    func parleyConfParses() throws {
        let (configuration, warnings) = try MosquittoConfigParser().parse(fileAt: try Self.parleyConfPath())
        #expect(warnings.isEmpty)
        #expect(configuration.listeners == [ListenerConfiguration(port: 1883)])
        #expect(configuration.allowAnonymous == true)

        var expected = ParleyConfiguration.fileDefaults
        expected.listeners = [ListenerConfiguration(port: 1883)]
        expected.isLocalOnly = false
        expected.allowAnonymous = true
        #expect(configuration == expected)
    }

    @Test("parley.conf documents every supported key with its default")
    func parleyConfDocumentsEveryKey() throws {
        let lines = try Self.parleyConfLines()
        for key in ParleyConfiguration.supportedKeys where key.support == .supported {
            // Either an active line or a commented-out "#key [default]" line.
            let documented = lines.contains { line in
                let uncommented = line.hasPrefix("#") ? line.dropFirst() : Substring(line)
                return uncommented.split(separator: " ").first.map(String.init) == key.name
            }
            #expect(documented, "parley.conf does not mention \(key.name)")
        }
    }

    @Test("Commented-out defaults in parley.conf match the key table")
    func parleyConfDefaultsMatchTable() throws {
        let lines = try Self.parleyConfLines()
        for key in ParleyConfiguration.supportedKeys where key.defaultIsLiteral {
            for line in lines where line.hasPrefix("#\(key.name) ") {
                #expect(line == "#\(key.name) \(key.defaultValue)")
            }
        }
    }
}
