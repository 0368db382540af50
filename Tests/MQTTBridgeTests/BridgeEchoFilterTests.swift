import Foundation
import Testing

@testable import MQTTBridge

@Suite struct BridgeEchoFilterTests {
    @Test func eachSentMessageExcusesOneEcho() {
        var filter = BridgeEchoFilter()
        filter.sent(topic: "a", payload: Data("x".utf8))
        filter.sent(topic: "a", payload: Data("x".utf8))
        let answers = [
            filter.isEcho(topic: "a", payload: Data("x".utf8)),
            filter.isEcho(topic: "a", payload: Data("y".utf8)),
            filter.isEcho(topic: "b", payload: Data("x".utf8)),
            filter.isEcho(topic: "a", payload: Data("x".utf8)),
            filter.isEcho(topic: "a", payload: Data("x".utf8)),
        ]
        // Two sent, two echoes excused, no more; other topics or payloads are not echoes.
        #expect(answers == [true, false, false, true, false])
    }

    @Test func fingerprintsAreForgottenAfterTheirLifetimeOrBeyondCapacity() {
        let start = ContinuousClock.now
        var filter = BridgeEchoFilter(lifetime: .seconds(10), capacity: 2)
        filter.sent(topic: "old", payload: Data(), at: start)
        let expired = filter.isEcho(topic: "old", payload: Data(), at: start + .seconds(11))
        for topic in ["1", "2", "3"] { filter.sent(topic: topic, payload: Data(), at: start + .seconds(12)) }
        let pushedOut = filter.isEcho(topic: "1", payload: Data(), at: start + .seconds(12))
        let kept = filter.isEcho(topic: "3", payload: Data(), at: start + .seconds(12))
        #expect(!expired && !pushedOut && kept)
    }
}
