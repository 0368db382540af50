import ArgumentParser

/// The `parley` command: `parley serve` runs the broker and the chat; plain `parley` means
/// `parley serve`; `parley chat` serves the chat against another broker.
@main
struct Parley: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parley",
        abstract: "An MQTT 3.1, 3.1.1 and 5.0 broker, with a chat on it.",
        discussion: """
            Reads Mosquitto's configuration syntax, so an existing mosquitto.conf that uses the \
            supported keys runs unchanged. See config/parley.conf for every key and its default.
            """,
        version: "0.1.0",
        subcommands: [Serve.self, Chat.self, ConfigKeys.self],
        defaultSubcommand: Serve.self
    )
}
