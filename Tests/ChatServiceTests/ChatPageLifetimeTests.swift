import Foundation
import HummingbirdTesting
import MQTTBroker
import TestSupport
import Testing

@testable import ChatService
@testable import PubSub

/// A closed page leaves nothing behind: its page session object, its PubSub session (handlers,
/// queue, task) and its place in the online tables are freed, however the page went away.
@Suite struct ChatPageLifetimeTests {
    /// Follows every page session the service opens.
    static func watchPages(of service: ChatService) -> WeakReferences {
        let references = WeakReferences()
        service.pageWatch.withLock { $0 = { references.watch($0, as: "ChatPageSession") } }
        return references
    }

    /// Only the recorder's PubSub session remains, and no page is in the tables.
    static func expectNoPageLeft(in service: ChatService, sourceLocation: SourceLocation = #_sourceLocation) async {
        #expect(await eventually { service.openPages == 0 && service.joinedPages == 0 }, sourceLocation: sourceLocation)
        #expect(await eventually { service.hub.openSessions.count == 1 },
                "PubSub sessions still open: \(service.hub.openSessions)", sourceLocation: sourceLocation)
    }

    @Test func aPageThatJoinedTalkedAndClosedIsFreed() async throws {
        try await withChat { service, _, client in
            let references = Self.watchPages(of: service)
            try await withPage("dora", on: client) { page in
                try await page.join(room: "lifetime")
                try await page.say("hello")
                await page.expect("her own message") { $0.isMessage(user: "dora", text: "hello") }
                try await page.send(#"{"type":"room","room":"elsewhere"}"#)
                await page.expect("the new room") { $0.type == "joined" && $0.room == "elsewhere" }
            }
            #expect(references.count == 1)
            let alive = await references.waitUntilFreed()
            #expect(alive.isEmpty, "still alive: \(alive)")
            await Self.expectNoPageLeft(in: service)
        }
    }

    @Test func aPageThatNeverJoinedIsFreed() async throws {
        try await withChat { service, _, client in
            let references = Self.watchPages(of: service)
            try await withPage("shy", on: client) { page in
                try await page.send(#"{"type":"send","text":"before joining"}"#)
                await page.expect("an error") { $0.type == "error" }
            }
            let alive = await references.waitUntilFreed()
            #expect(alive.isEmpty, "still alive: \(alive)")
            await Self.expectNoPageLeft(in: service)
        }
    }

    @Test func manyPagesOpenedAndClosedLeaveNothing() async throws {
        try await withChat { service, _, client in
            let references = Self.watchPages(of: service)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<20 {
                    group.addTask {
                        try await withPage("visitor\(index)", on: client) { page in
                            try await page.join(room: "crowd")
                            await page.expect("joined") { $0.type == "joined" }
                        }
                    }
                }
                try await group.waitForAll()
            }
            #expect(references.count == 20)
            let alive = await references.waitUntilFreed()
            #expect(alive.isEmpty, "still alive: \(alive.count) page sessions")
            await Self.expectNoPageLeft(in: service)
        }
    }

    /// The page goes while its join still waits on the broker: the join finishes, the session
    /// then says goodbye and is freed, and nobody is left online.
    @Test func aPageClosedDuringItsJoinIsFreed() async throws {
        try await withChat { service, _, client in
            let references = Self.watchPages(of: service)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<20 {
                    group.addTask {
                        try await withPage("hasty\(index)", on: client) { page in
                            try await page.join(room: "hurry")
                        }
                    }
                }
                try await group.waitForAll()
            }
            let alive = await references.waitUntilFreed()
            #expect(alive.isEmpty, "still alive: \(alive.count) page sessions")
            await Self.expectNoPageLeft(in: service)
            #expect(await eventually { service.users(in: "hurry").isEmpty }, "still online: \(service.users(in: "hurry"))")
        }
    }
}
