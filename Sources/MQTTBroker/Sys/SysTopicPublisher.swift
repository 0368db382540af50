import MQTTCore
import NIOCore

/// Publishes Mosquitto-style `$SYS/broker/...` topics as retained messages every `sys_interval`.
///
/// Runs as a repeated task on one event loop of the broker's group; it only reads counters and
/// publishes through `BrokerCore` like any other publisher.
struct SysTopicPublisher {
    static let version = "parley version 0.1.0"

    let core: BrokerCore

    func publishAll() {
        let stats = core.statistics
        let uptime = (NIODeadline.now() - core.startedAt).nanoseconds / 1_000_000_000
        let connected = stats.clientsConnected.load(ordering: .relaxed)
        let sessions = core.sessions.count
        let values: [(String, String)] = [
            ("version", Self.version),
            ("uptime", "\(uptime) seconds"),
            ("clients/connected", "\(connected)"),
            ("clients/active", "\(connected)"),
            ("clients/total", "\(sessions)"),
            ("clients/disconnected", "\(max(0, sessions - connected))"),
            ("clients/inactive", "\(max(0, sessions - connected))"),
            ("clients/maximum", "\(stats.clientsMaximum.load(ordering: .relaxed))"),
            ("messages/received", "\(stats.messagesReceived.load(ordering: .relaxed))"),
            ("messages/sent", "\(stats.messagesSent.load(ordering: .relaxed))"),
            ("publish/messages/received", "\(stats.publishReceived.load(ordering: .relaxed))"),
            ("publish/messages/sent", "\(stats.publishSent.load(ordering: .relaxed))"),
            ("publish/messages/dropped", "\(stats.publishDropped.load(ordering: .relaxed))"),
            ("bytes/received", "\(stats.bytesReceived.load(ordering: .relaxed))"),
            ("bytes/sent", "\(stats.bytesSent.load(ordering: .relaxed))"),
            ("subscriptions/count", "\(core.router.subscriptionCount)"),
            ("retained messages/count", "\(core.retainedStore.retainedCount)"),
        ]
        for (suffix, value) in values {
            let message = ApplicationMessage(topic: "$SYS/broker/" + suffix, payload: ByteBuffer(string: value), retain: true)
            core.publish(message, from: nil)
        }
    }
}
