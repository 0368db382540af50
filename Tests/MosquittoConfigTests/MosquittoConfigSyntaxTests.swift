import Foundation
import MQTTBroker
import MQTTBridge
import MosquittoConfig
import Testing

@Suite("Mosquitto configuration syntax")
struct MosquittoConfigSyntaxTests {
    typealias Support = ConfigurationTestSupport

    @Test("An empty file yields the configuration-file defaults")
    func emptyFileYieldsFileDefaults() throws {
        let (configuration, warnings) = try Support.parse("")
        #expect(configuration == ParleyConfiguration.fileDefaults)
        #expect(warnings.isEmpty)
    }

    @Test("Comments, blank lines and surrounding whitespace are ignored")
    func commentsBlankLinesAndWhitespaceAreIgnored() throws {
        let text = """
            # A comment

               # an indented comment
            \t
              max_keepalive 120   \t
            \tsys_interval\t30
            retain_available false # trailing comment after a single-word value
            #max_queued_messages 5
            """
        let (configuration, warnings) = try Support.parse(text)
        #expect(configuration.maxKeepalive == 120)
        #expect(configuration.sysInterval == 30)
        #expect(configuration.retainAvailable == false)
        #expect(configuration.maxQueuedMessages == 1000)
        #expect(warnings.isEmpty)
    }

    @Test("Windows line endings and a byte order mark are accepted")
    func crlfAndByteOrderMarkAreAccepted() throws {
        let text = "\u{FEFF}# comment\r\nmax_keepalive 60\r\n\r\nlistener 1884\r\n"
        let configuration = try Support.configuration(text)
        #expect(configuration.maxKeepalive == 60)
        #expect(configuration.listeners.map(\.port) == [1884])
    }

    @Test("Line numbers in diagnostics count blank and comment lines")
    func lineNumbersCountEveryLine() {
        let text = "# one\n\n# three\r\n\nmax_keepalive nope\n"
        let error = Support.error(text)
        #expect(error?.line == 5)
    }

    @Test("Keys are case-sensitive, as in Mosquitto")
    func keysAreCaseSensitive() {
        #expect(Support.error("Max_Keepalive 10")?.kind == .unknownKey)
    }

    @Test("Paths may contain spaces")
    func pathValuesKeepInnerSpaces() throws {
        let configuration = try Support.configuration("""
            log_dest file /var/log/parley log.txt
            """)
        #expect(configuration.logDestinations == [.file("/var/log/parley log.txt")])
    }

    @Test("A realistic Mosquitto configuration parses")
    func realisticMosquittoConfigurationParses() throws {
        let text = """
            # Place your local configuration in /etc/mosquitto/conf.d/
            #
            # A full description of the configuration file is at
            # /usr/share/doc/mosquitto/examples/mosquitto.conf.example

            pid_file /run/mosquitto/mosquitto.pid
            user mosquitto

            persistence true
            persistence_location /var/lib/mosquitto/
            autosave_interval 900

            log_dest file /var/log/mosquitto/mosquitto.log
            log_dest stdout
            log_type error
            log_type warning
            log_type notice
            log_type subscribe
            log_timestamp true
            log_timestamp_format %Y-%m-%dT%H:%M:%S
            connection_messages true

            per_listener_settings false
            allow_anonymous false

            max_inflight_messages 40
            max_queued_messages 5000
            max_queued_bytes 10485760
            queue_qos0_messages true
            message_size_limit 1048576
            max_packet_size 2097152
            max_keepalive 300
            sys_interval 30
            persistent_client_expiration 14d
            retain_available true
            set_tcp_nodelay true
            max_connections 500
            max_topic_alias 5

            # Local clients only
            listener 1883 127.0.0.1
            max_connections 10

            # Everyone else
            listener 8883
            protocol mqtt
            max_topic_alias 20
            """
        let (configuration, warnings) = try Support.parse(text)

        #expect(configuration.listeners == [
            ListenerConfiguration(port: 1883, host: "127.0.0.1", maxConnections: 10, maxTopicAlias: 5),
            ListenerConfiguration(port: 8883, host: nil, maxConnections: 500, maxTopicAlias: 20),
        ])
        #expect(configuration.allowAnonymous == false)
        #expect(configuration.maxConnections == 500)
        #expect(configuration.maxTopicAlias == 5)
        #expect(configuration.maxKeepalive == 300)
        #expect(configuration.maxPacketSize == 2_097_152)
        #expect(configuration.messageSizeLimit == 1_048_576)
        #expect(configuration.maxInflightMessages == 40)
        #expect(configuration.maxQueuedMessages == 5000)
        #expect(configuration.maxQueuedBytes == 10_485_760)
        #expect(configuration.queueQoS0Messages == true)
        #expect(configuration.retainAvailable == true)
        #expect(configuration.sysInterval == 30)
        #expect(configuration.persistentClientExpiration == .seconds(14 * 86_400))
        #expect(configuration.logTypes == [.error, .warning, .notice, .subscribe])
        #expect(configuration.logDestinations == [.file("/var/log/mosquitto/mosquitto.log"), .stdout])
        #expect(configuration.persistence == true)
        #expect(configuration.user == "mosquitto")
        #expect(configuration.pidFile == "/run/mosquitto/mosquitto.pid")

        let warnedKeys = warnings.compactMap(\.key)
        #expect(warnedKeys == [
            "user", "autosave_interval",
            "log_timestamp", "log_timestamp_format", "connection_messages", "set_tcp_nodelay",
        ])
        #expect(warnings.allSatisfy { $0.file == Support.fileName && $0.line > 0 })
    }

    @Test("Parsing a file on disk names the file in diagnostics")
    func parsingFileOnDiskNamesTheFile() throws {
        let path = FileManager.default.temporaryDirectory
            .appendingPathComponent("parley-config-test-\(UInt64.random(in: 0...UInt64.max)).conf").path
        try Data("listener 1884\nuser nobody\n".utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }

        let (configuration, warnings) = try MosquittoConfigParser().parse(fileAt: path)
        #expect(configuration.listeners.map(\.port) == [1884])
        #expect(warnings.first?.description == "\(path):2: key 'user' is ignored: Parley does not switch users; run it as the intended user")
    }

    @Test("An unreadable file is an io error naming the file")
    func missingFileIsAnIOError() throws {
        let path = "/nonexistent-parley-dir/parley.conf"
        let error = #expect(throws: ConfigurationError.self) {
            try MosquittoConfigParser().parse(fileAt: path)
        }
        #expect(error?.kind == .io)
        #expect(error?.file == path)
        #expect(error?.line == 0)
        #expect(error?.key == nil)
        #expect(error?.description == "\(path): cannot read configuration file: no such file")
    }

    @Test("A directory is an io error that says so")
    func directoryIsAnIOError() {
        let path = FileManager.default.temporaryDirectory.path
        let error = #expect(throws: ConfigurationError.self) {
            try MosquittoConfigParser().parse(fileAt: path)
        }
        #expect(error?.kind == .io)
        #expect(error?.description == "\(path): cannot read configuration file: it is a directory")
    }

    @Test("include_dir reads the folder's .conf files in Mosquitto's order, where the line stands")
    func includeDirectory() throws {
        let folder = FileManager.default.temporaryDirectory
            .appendingPathComponent("parley-include-\(UInt64.random(in: 0...UInt64.max))").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        func write(_ name: String, _ text: String) throws {
            try Data(text.utf8).write(to: URL(fileURLWithPath: folder + "/" + name))
        }
        try write("b.conf", "max_keepalive 20\n")
        try write("A.conf", "max_keepalive 10\nlistener 1884\n")
        try write("c.conf.disabled", "bogus_key 1\n")
        try write(".conf", "bogus_key 1\n")
        try write("z.conf", "include_dir /nonexistent\nbogus key\n")

        let main = folder + "/../parley-main-\(UInt64.random(in: 0...UInt64.max)).conf"
        try Data("listener 1883\ninclude_dir \(folder)\nsys_interval 5\n".utf8).write(to: URL(fileURLWithPath: main))
        defer { try? FileManager.default.removeItem(atPath: main) }
        let error = #expect(throws: ConfigurationError.self) { try MosquittoConfigParser().parse(fileAt: main) }
        #expect(error?.file == folder + "/z.conf")
        #expect(error?.line == 2)

        try write("z.conf", "include_dir /nonexistent\n")
        let (configuration, warnings) = try MosquittoConfigParser().parse(fileAt: main)
        #expect(configuration.maxKeepalive == 20, "A.conf before b.conf")
        #expect(configuration.listeners.map(\.port) == [1883, 1884])
        #expect(configuration.sysInterval == 5)
        #expect(warnings.map(\.file) == [folder + "/z.conf"], "include_dir inside an included file is ignored")

        let missing = Support.error("include_dir /nonexistent-parley-folder")
        #expect(missing?.kind == .io)
        #expect(missing?.line == 1)
    }
}
