import Hummingbird
import HummingbirdTesting
import Testing

@testable import ChatService

@Suite struct ChatPageRouteTests {
    @Test func theRootServesThePageWithItsStableElementIDs() async throws {
        try await withChat { _, _, client in
            try await client.execute(uri: "/", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "text/html; charset=utf-8")
                let html = String(buffer: response.body)
                for id in ["name", "join", "message", "send", "messages", "room", "online"] {
                    #expect(html.contains("id=\"\(id)\""), "the page has no element #\(id)")
                }
                #expect(html.contains("/chat.js") && html.contains("/chat.css"))
            }
        }
    }

    @Test(arguments: [("/chat.js", "text/javascript; charset=utf-8"), ("/chat.css", "text/css; charset=utf-8")])
    func scriptsAndStylesAreServedFromThePackage(path: String, contentType: String) async throws {
        try await withChat { _, _, client in
            try await client.execute(uri: path, method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == contentType)
                #expect(response.body.readableBytes > 100)
            }
        }
    }

    @Test func thePageMayOnlyRunItsOwnScriptAndTalkToItsOwnOrigin() async throws {
        try await withChat { _, _, client in
            try await client.execute(uri: "/", method: .get) { response in
                let policy = try #require(response.headers[.contentSecurityPolicy])
                #expect(policy.contains("default-src 'self'"))
                #expect(policy.contains("connect-src 'self'"))
                #expect(!policy.contains("unsafe-inline"))
            }
        }
    }

    @Test func unknownPathsAreNotFound() async throws {
        try await withChat { _, _, client in
            try await client.execute(uri: "/nothing-here", method: .get) { response in
                #expect(response.status == .notFound)
            }
        }
    }
}
