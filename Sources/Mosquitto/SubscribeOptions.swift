import CMosquitto

/// MQTT 5 subscription options (MQTT 5 §3.8.3.1).
public struct SubscribeOptions: Sendable, Hashable {
    public enum RetainHandling: Sendable, Hashable {
        case sendAlways
        case sendIfNew
        case never
    }

    /// Do not send this client's own publications back to it.
    public var noLocal: Bool
    public var retainAsPublished: Bool
    public var retainHandling: RetainHandling

    public init(noLocal: Bool = false, retainAsPublished: Bool = false, retainHandling: RetainHandling = .sendAlways) {
        self.noLocal = noLocal
        self.retainAsPublished = retainAsPublished
        self.retainHandling = retainHandling
    }

    var flags: Int32 {
        var flags: Int32 = 0
        if noLocal { flags |= Int32(MQTT_SUB_OPT_NO_LOCAL.rawValue) }
        if retainAsPublished { flags |= Int32(MQTT_SUB_OPT_RETAIN_AS_PUBLISHED.rawValue) }
        switch retainHandling {
        case .sendAlways: flags |= Int32(MQTT_SUB_OPT_SEND_RETAIN_ALWAYS.rawValue)
        case .sendIfNew: flags |= Int32(MQTT_SUB_OPT_SEND_RETAIN_NEW.rawValue)
        case .never: flags |= Int32(MQTT_SUB_OPT_SEND_RETAIN_NEVER.rawValue)
        }
        return flags
    }
}
