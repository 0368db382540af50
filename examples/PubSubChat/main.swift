// Flet's chat tutorial as a terminal program on Parley's PubSub layer. Each running copy is one
// "page session": it announces itself, sends every line typed on stdin to everyone, prints what
// everyone says, and says goodbye on end of input (Ctrl-D).
//
//   swift run PubSubChat --name alice                     # starts an embedded broker if none runs
//   swift run parley serve -p 1883 --host 127.0.0.1        # or any MQTT 5 broker, then --broker
//   swift run PubSubChat --name bob --room lobby          # only people in room "lobby"
//   swift run PubSubChat --name carol --sensors           # also shows sensors/+/temp readings
//
// Messages are JSON (`{"user":"alice","text":"hello","kind":"chat"}`) on the MQTT topic `parley`
// (or `parley/rooms/<room>`), so mosquitto_sub/mosquitto_pub can watch and join the chat.
import ArgumentParser
import Foundation
import Logging
import MQTTBroker
import PubSub

/// What Flet's tutorial calls `Message(user_name, text, message_type)`.
struct ChatMessage: Codable, Sendable {
    enum Kind: String, Codable, Sendable {
        case join, chat, leave
    }

    var user: String
    var text: String
    var kind: Kind

    /// The line the chat window shows for this message.
    var line: String {
        switch kind {
        case .join: "\(user) has joined the chat."
        case .chat: "\(user): \(text)"
        case .leave: "\(user) has left the chat."
        }
    }
}

struct PubSubChat: AsyncParsableCommand {
    /// The hub, and the broker started in-process when no broker was named and none answered.
    func connect() async throws -> (PubSubHub, Broker?) {
        if let broker { return (try await PubSubHub(broker: broker, prefix: "parley"), nil) }
        do {
            return (try await PubSubHub(broker: "mqtt://127.0.0.1:1883", prefix: "parley"), nil)
        } catch let error as PubSubError where error.kind == .connectionFailed {
            var configuration = BrokerConfiguration()
            configuration.listeners = [ListenerConfiguration(port: 1883, host: "127.0.0.1")]
            var logger = Logger(label: "parley")
            logger.logLevel = .warning
            let embedded = Broker(configuration: configuration, logger: logger)
            try await embedded.start()
            say("(started an embedded Parley broker on 127.0.0.1:1883)")
            return (try await PubSubHub(broker: "mqtt://127.0.0.1:1883", prefix: "parley"), embedded)
        }
    }

    static let configuration = CommandConfiguration(
        commandName: "PubSubChat",
        abstract: "A terminal chat over Parley PubSub (Flet's chat tutorial).",
        discussion: "Type a line and press return to send it; end input (Ctrl-D) to leave.")

    @Option(help: ArgumentHelp(
        "Broker URL: mqtt://host:port, mqtts://host:port, user:password@ allowed.",
        discussion: "Without it the chat uses 127.0.0.1:1883, starting an embedded Parley broker there if none answers."))
    var broker: String?

    @Option(help: "Your name in the chat.")
    var name: String

    @Option(help: "Chat in this room (topic rooms/<room>) instead of the global channel.")
    var room: String?

    @Flag(help: "Also print temperature readings published on topic sensors/+/temp.")
    var sensors = false

    func run() async throws {
        let (hub, embedded) = try await connect()
        // One session per program, as Flet has one per browser page.
        let session = hub.session(id: name)
        let topic = room.map { "rooms/\($0)" }

        // page.pubsub.subscribe(on_message) / subscribe_topic(topic, on_message)
        if let topic {
            try await session.subscribeTopic(topic, as: ChatMessage.self) { _, message in say(message.line) }
        } else {
            try await session.subscribe(ChatMessage.self) { message in say(message.line) }
        }

        // Any MQTT client can feed a PubSub topic; here, DevicePublisher's readings.
        let readings: Task<Void, Never>? =
            sensors
            ? Task {
                guard let stream = try? await session.messages(topic: "sensors/+/temp") else { return }
                for await reading in stream {
                    say("[\(reading.topic ?? "?")] \(reading.text) °C")
                }
            } : nil

        func send(_ message: ChatMessage, includingMe: Bool = true) async throws {
            switch (topic, includingMe) {
            case (let topic?, true): try await session.sendAllOnTopic(topic, message)
            case (let topic?, false): try await session.sendOthersOnTopic(topic, message)
            case (nil, true): try await session.sendAll(message)
            case (nil, false): try await session.sendOthers(message)
            }
        }

        // The tutorial's join dialog: everyone, this session included, sees the announcement.
        try await send(ChatMessage(user: name, text: "", kind: .join))
        for await line in standardInputLines() where !line.isEmpty {
            try await send(ChatMessage(user: name, text: line, kind: .chat))
        }
        // page.on_close: the others learn we left; then the hub (and this session) close.
        try await send(ChatMessage(user: name, text: "", kind: .leave), includingMe: false)
        // shutdown() waits for the broker's acknowledgements but drops deliveries still queued for
        // this session (our own echo of the last line): give those a moment to print.
        try await Task.sleep(for: .milliseconds(500))
        readings?.cancel()
        await hub.shutdown()
        try await embedded?.shutdown()
    }
}

/// Lines of standard input, read on a thread of their own so that the blocking `readLine` never
/// holds one of Swift concurrency's few threads.
func standardInputLines() -> AsyncStream<String> {
    AsyncStream { continuation in
        Thread {
            while let line = readLine() { continuation.yield(line) }
            continuation.finish()
        }.start()
    }
}

/// Writes one line straight to standard output, so that piped output is not held in a buffer.
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

// `@main` is not allowed in main.swift. Calling `main()` from an async function makes Swift pick
// AsyncParsableCommand's `main() async` (at top level it would pick the synchronous one).
func start() async {
    await PubSubChat.main()
}
await start()
