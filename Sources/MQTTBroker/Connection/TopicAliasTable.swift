import MQTTCore

/// Topic aliases of one connection, in both directions (MQTT 5 §3.3.2.3.4).
///
/// Owned by the connection handler, on its event loop; aliases never outlive a connection.
struct TopicAliasTable {
    /// Aliases the client set up, up to the maximum the broker announced.
    private var inbound: [UInt16: String] = [:]
    let inboundMaximum: UInt16
    /// Aliases the broker set up, up to the maximum the client announced.
    private var outbound: [UTF8Key: UInt16] = [:]
    let outboundMaximum: UInt16

    init(inboundMaximum: UInt16, outboundMaximum: UInt16) {
        self.inboundMaximum = inboundMaximum
        self.outboundMaximum = outboundMaximum
    }

    /// The topic of an incoming PUBLISH: records a new mapping or resolves an alias-only topic.
    mutating func resolveIncoming(topic: String, alias: UInt16?) throws(MQTTProtocolError) -> String {
        guard let alias else { return topic }
        guard alias >= 1 && alias <= inboundMaximum else {
            throw MQTTProtocolError(.topicAliasInvalid, "topic alias \(alias) outside 1...\(inboundMaximum)")
        }
        if topic.isEmpty {
            guard let known = inbound[alias] else {
                throw MQTTProtocolError(.protocolError, "topic alias \(alias) used before it was set")
            }
            return known
        }
        inbound[alias] = topic
        return topic
    }

    /// How to send `topic`: with an alias already known to the client (topic left empty), with a
    /// new alias, or plainly once the client's alias space is used up.
    mutating func outgoing(topic: String) -> (topic: String, alias: UInt16?) {
        guard outboundMaximum > 0 else { return (topic, nil) }
        if let alias = outbound[UTF8Key(topic)] { return ("", alias) }
        guard outbound.count < Int(outboundMaximum) else { return (topic, nil) }
        let alias = UInt16(outbound.count + 1)
        outbound[UTF8Key(topic)] = alias
        return (topic, alias)
    }
}

