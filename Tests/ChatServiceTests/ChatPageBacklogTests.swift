import Testing

@testable import ChatService

/// A page's backlog keeps order, refuses more than its limit, and holds no storage when drained.
@Suite struct ChatPageBacklogTests {
    @Test func itemsComeOutInTheOrderTheyWentIn() {
        var backlog = ChatPageBacklog<Int>(limit: 10)
        for n in 0..<5 { let added = backlog.append(n); #expect(added) }
        var out: [Int] = []
        while let n = backlog.popFirst() { out.append(n) }
        #expect(out == [0, 1, 2, 3, 4])
        #expect(backlog.isEmpty)
    }

    @Test func aFullBacklogRefusesTheNextItemAndKeepsTheOthers() {
        var backlog = ChatPageBacklog<Int>(limit: 3)
        for n in 1...3 { let added = backlog.append(n); #expect(added) }
        let fourth = backlog.append(4)
        #expect(!fourth)
        #expect(backlog.count == 3)
        let first = backlog.popFirst()
        #expect(first == 1)
        let again = backlog.append(4)
        #expect(again)
    }

    @Test func aDrainedBacklogHoldsNoStorage() {
        var backlog = ChatPageBacklog<Int>(limit: 1000)
        #expect(backlog.capacity == 0)
        for n in 0..<600 { _ = backlog.append(n) }
        #expect(backlog.capacity >= 600)
        while backlog.popFirst() != nil {}
        #expect(backlog.capacity == 0 && backlog.isEmpty)
    }

    @Test func aBacklogInUseKeepsItsRoom() {
        var backlog = ChatPageBacklog<Int>(limit: 1000)
        for n in 0..<8 { _ = backlog.append(n) }
        let capacity = backlog.capacity
        _ = backlog.popFirst()
        #expect(backlog.capacity == capacity)
    }
}
