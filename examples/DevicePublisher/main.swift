// A fake temperature sensor that speaks plain MQTT 3.1.1 through the Mosquitto target's
// MosquittoClient: no PubSub hub, no user properties, just what a small device would send.
// PubSub sessions subscribed to the topic `sensors/+/temp` receive its readings all the same,
// because PubSub topic `sensors/<id>/temp` is the MQTT topic `parley/sensors/<id>/temp`.
//
//   swift run DevicePublisher --id kitchen --count 3
//   mosquitto_sub -t 'parley/sensors/#' -v
//
// The device announces `online` (retained) on parley/sensors/<id>/status and leaves `offline`
// there when it stops; if it dies without saying so, the broker publishes its will, `offline`.
import ArgumentParser
import Foundation
import Mosquitto

struct DevicePublisher: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "DevicePublisher",
        abstract: "Publishes fake temperature readings to parley/sensors/<id>/temp every second.")

    @Option(help: "Broker URL: mqtt://host:port.")
    var broker = "mqtt://127.0.0.1:1883"

    @Option(help: "Sensor id, the <id> level of the topics.")
    var id = "sensor1"

    @Option(help: "Stop after this many readings (default: run until killed).")
    var count: Int?

    @Option(help: "Seconds between readings.")
    var interval: Double = 1

    func validate() throws {
        guard !id.isEmpty, !id.contains(where: { "/+#".contains($0) }) else {
            throw ValidationError("--id must be one topic level without '/', '+' or '#'")
        }
        if let count, count < 1 { throw ValidationError("--count must be at least 1") }
    }

    func run() async throws {
        guard let url = URLComponents(string: broker), url.scheme == "mqtt", let host = url.host, !host.isEmpty else {
            throw ValidationError("--broker must look like mqtt://127.0.0.1:1883")
        }
        let statusTopic = "parley/sensors/\(id)/status"
        let readingTopic = "parley/sensors/\(id)/temp"

        let configuration = MosquittoConfiguration(
            host: host, port: url.port ?? 1883, clientIdentifier: "sensor-\(id)", keepAlive: 10,
            protocolVersion: .v3_1_1,
            will: .init(topic: statusTopic, payload: Data("offline".utf8), qos: 1, retain: true))
        let client = try MosquittoClient(configuration: configuration)
        try await client.connect()
        // Each publish below returns once the broker has acknowledged it (QoS 1 PUBACK).
        try await client.publish(statusTopic, payload: Data("online".utf8), qos: 1, retain: true)
        say("\(statusTopic) online")

        var temperature = 20.5
        var sent = 0
        while count.map({ sent < $0 }) ?? true {
            if sent > 0 { try await Task.sleep(for: .seconds(interval)) }
            temperature += Double.random(in: -0.3...0.3)
            let reading = String(format: "%.1f", temperature)
            try await client.publish(readingTopic, payload: Data(reading.utf8), qos: 1)
            sent += 1
            say("\(readingTopic) \(reading)")
        }

        // A clean DISCONNECT discards the will, so say "offline" ourselves.
        try await client.publish(statusTopic, payload: Data("offline".utf8), qos: 1, retain: true)
        say("\(statusTopic) offline")
        await client.disconnect()
    }
}

/// Writes one line straight to standard output, so that piped output is not held in a buffer.
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

// `@main` is not allowed in main.swift. Calling `main()` from an async function makes Swift pick
// AsyncParsableCommand's `main() async` (at top level it would pick the synchronous one).
func start() async {
    await DevicePublisher.main()
}
await start()
