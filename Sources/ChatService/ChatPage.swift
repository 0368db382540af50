import Foundation

/// The page's files, shipped as package resources and read once at start.
struct ChatPage: Sendable {
    struct File: Sendable {
        let contentType: String
        let bytes: [UInt8]
    }

    let files: [String: File]

    static let contentTypes = [
        "index.html": "text/html; charset=utf-8",
        "chat.css": "text/css; charset=utf-8",
        "chat.js": "text/javascript; charset=utf-8",
    ]

    init() throws {
        var files: [String: File] = [:]
        for (name, contentType) in Self.contentTypes {
            let parts = name.split(separator: ".", maxSplits: 1).map(String.init)
            guard let url = Bundle.module.url(forResource: parts[0], withExtension: parts[1], subdirectory: "Resources") else {
                throw ChatError(.invalidCommand, "the chat page's file \(name) is missing from the ChatService resources")
            }
            files[name] = File(contentType: contentType, bytes: Array(try Data(contentsOf: url)))
        }
        self.files = files
    }
}
