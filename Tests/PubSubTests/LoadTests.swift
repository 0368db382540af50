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

    /// The hub matches a message with one walk of its subscription trie: among a thousand
    /// sessions on their own topics, only the addressed one and a wildcard watcher get it.
    @Test(arguments: BrokerKind.allCases)
    func aMessageReachesOnlyTheSessionsWhoseTopicsMatchAmongAThousand(_ kind: BrokerKind) async throws {
        let sessions = 1000
        try await withCluster(kind, hubs: 1, qos: 1) { cluster in
            let counts = Mutex([String: Int]())
            for index in 0..<sessions {
                let session = cluster.session("s\(index)", hub: 0)
                try await session.subscribeTopic("room/\(index)") { (_: String, _: String) in
                    counts.withLock { $0["s\(index)", default: 0] += 1 }
                }
            }
            let watcher = cluster.session("watcher", hub: 0)
            try await watcher.subscribeTopic("room/+") { (_: String, _: String) in
                counts.withLock { $0["watcher", default: 0] += 1 }
            }
            let sender = cluster.session("sender", hub: 0)
            try await sender.sendAllOnTopic("room/7", "seven")
            try await sender.sendAllOnTopic("room/999", "last")
            let expected = ["s7": 1, "s999": 1, "watcher": 2]
            let arrived = await eventually(timeout: .seconds(10)) { counts.withLock { $0 } == expected }
            #expect(arrived, "\(counts.withLock { $0 })")
        }
    }
}
