import ArgumentParser
import MosquittoConfig

/// `parley config-keys`: every configuration key Parley reads, its default and meaning.
struct ConfigKeys: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config-keys",
        abstract: "List every supported configuration key with its default (Markdown table)."
    )

    func run() {
        print(ConfigurationKey.markdownTable(ParleyConfiguration.supportedKeys), terminator: "")
    }
}
