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
}
