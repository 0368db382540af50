@testable import ChatService
import Testing

@Suite("A page's input queue")
struct ChatPageQueueTests {
    @Test("Items come out in order, then nil once finished")
    func orderThenFinish() async {
        let queue = ChatPageQueue<Int>(limit: 10)
        for i in 0..<5 { #expect(queue.push(i) == .queued) }
        queue.finish()
        #expect(queue.push(99) == .finished)
        var out: [Int] = []
        while let next = await queue.next() { out.append(next) }
        #expect(out == [0, 1, 2, 3, 4])
    }

    @Test("Past its limit the queue says full and keeps what it has")
    func limit() async {
        let queue = ChatPageQueue<Int>(limit: 3)
        for i in 0..<3 { #expect(queue.push(i) == .queued) }
        #expect(queue.push(3) == .full)
        #expect(await queue.next() == 0)
        #expect(queue.push(4) == .queued)
    }

    @Test("A waiting consumer gets an item pushed later")
    func waitingConsumer() async {
        let queue = ChatPageQueue<String>(limit: 2)
        async let taken = queue.next()
        await Task.yield()
        queue.push("late")
        #expect(await taken == "late")
    }

    @Test("Cancelling the waiting consumer ends its wait with nil")
    func cancellation() async {
        let queue = ChatPageQueue<Int>(limit: 2)
        let waiter = Task { await queue.next() }
        waiter.cancel()
        #expect(await waiter.value == nil)
    }

    @Test("A drained queue gives back the room a backlog took")
    func capacityGivenBack() async {
        let queue = ChatPageQueue<Int>(limit: 1000)
        for i in 0..<500 { queue.push(i) }
        for _ in 0..<500 { _ = await queue.next() }
        #expect(queue.capacity <= 16)
    }
}
