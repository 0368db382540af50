import ArgumentParser

/// The `parley` command: `parley serve` runs the broker and the chat; plain `parley` means
/// `parley serve`; `parley chat` serves the chat against another broker.
@main
struct Parley: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parley",
        abstract: "An MQTT 3.1, 3.1.1 and 5.0 broker, with a chat on it.",
        discussion: """
            `parley` alone runs the broker on port 1883 and the chat on http://localhost:8080 \
            (see `parley serve --help`: -c FILE, -p PORT, --http-port N, --no-chat). The \
            configuration file uses Mosquitto's syntax, so an existing mosquitto.conf that uses \
            the supported keys runs unchanged; config/parley.conf lists every key and its default. \
            `parley chat --broker mqtt://HOST:PORT` serves only the chat, against another broker.
            """,
        version: "0.1.0",
        subcommands: [Serve.self, Chat.self, Passwd.self, ConfigKeys.self, Bench.self],
        defaultSubcommand: Serve.self
    )
}
