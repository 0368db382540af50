import Foundation
import PubSub
import Synchronization
import Testing
import TestSupport

/// Many sessions sending at once, over two hubs at QoS 1.
@Suite("Load")
struct LoadTests {
    /// What one receiving session saw: how many messages, and whether each sender's arrived in order.
    final class OrderCheck: Sendable {
        struct State {
            var nextFromSender: [Int: Int] = [:]
            var received = 0
            var outOfOrder: [String] = []
        }

        private let state = Mutex(State())

        func receive(_ text: String) {
            let parts = text.split(separator: ":")
            guard parts.count == 2, let sender = Int(parts[0]), let index = Int(parts[1]) else {
                state.withLock { $0.outOfOrder.append("malformed '\(text)'") }
                return
            }
            state.withLock { state in
                state.received += 1
                let expected = state.nextFromSender[sender, default: 0]
                if index != expected, state.outOfOrder.count < 10 {
                    state.outOfOrder.append("from \(sender): got \(index), expected \(expected)")
                }
                state.nextFromSender[sender] = index + 1
            }
        }

        var received: Int { state.withLock { $0.received } }
        var outOfOrder: [String] { state.withLock { $0.outOfOrder } }
    }

    @Test(arguments: BrokerKind.allCases)
    func hundredSessionsSendingAHundredMessagesEachLoseNothingAndKeepOrder(_ kind: BrokerKind) async throws {
        let sessions = 100
        let messages = 100
        try await withCluster(kind, qos: 1) { cluster in
            let clients = (0..<sessions).map { cluster.session("s\($0)", hub: $0 % 2) }
            let checks = (0..<sessions).map { _ in OrderCheck() }
            for (client, check) in zip(clients, checks) {
                try await client.subscribe { (text: String) in check.receive(text) }
            }
            let start = ContinuousClock.now
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (index, client) in clients.enumerated() {
                    group.addTask {
                        for sequence in 0..<messages { try await client.sendAll("\(index):\(sequence)") }
                    }
                }
                try await group.waitForAll()
            }
            let expected = sessions * messages
            let complete = await eventually(timeout: .seconds(40)) { checks.allSatisfy { $0.received >= expected } }
            let totals = checks.map(\.received)
            #expect(complete, "received per session: min \(totals.min()!), max \(totals.max()!) of \(expected)")
            #expect(totals.allSatisfy { $0 == expected })
            for (index, check) in checks.enumerated() {
                #expect(check.outOfOrder.isEmpty, "session s\(index): \(check.outOfOrder)")
            }
            print("load on \(kind): \(expected * sessions) deliveries in \(ContinuousClock.now - start)")
        }
    }

    /// The hub matches a message with one walk of its subscription trie: among ten thousand
    /// sessions on their own topics, only the addressed one and the wildcard watchers get it,
    /// whether it comes from a session of the same hub or through the broker from another.
    @Test(arguments: BrokerKind.allCases)
    func aMessageReachesOnlyTheSessionsWhoseTopicsMatchAmongTenThousand(_ kind: BrokerKind) async throws {
        let sessions = 10_000
        try await withCluster(kind, hubs: 2, qos: 1) { cluster in
            let counts = Mutex([String: Int]())
            func count(_ name: String) -> @Sendable (String, String) async throws -> Void {
                { _, _ in counts.withLock { $0[name, default: 0] += 1 } }
            }
            for index in 0..<sessions {
                try await cluster.session("s\(index)", hub: 0).subscribeTopic("room/\(index)", count("s\(index)"))
            }
            try await cluster.session("every-room", hub: 0).subscribeTopic("room/+", count("every-room"))
            try await cluster.session("sevens", hub: 0).subscribeTopic("+/7", count("sevens"))
            try await cluster.session("everything", hub: 0).subscribeTopic("#", count("everything"))
            try await cluster.session("sender", hub: 0).sendAllOnTopic("room/7", "local")
            try await cluster.session("far", hub: 1).sendAllOnTopic("room/9999", "through the broker")
            let expected = ["s7": 1, "s9999": 1, "every-room": 2, "sevens": 1, "everything": 2]
            let arrived = await eventually(timeout: .seconds(20)) { counts.withLock { $0 } == expected }
            #expect(arrived, "\(counts.withLock { $0 })")
        }
    }
}
