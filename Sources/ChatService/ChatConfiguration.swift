/// What a chat instance serves and the limits it holds every page session to.
public struct ChatConfiguration: Sendable {
    /// The MQTT topic prefix: room `general` is the topic `<prefix>/general`.
    public var prefix: String
    /// Room a page opens when its URL names none.
    public var defaultRoom: String
    /// Messages a joiner is shown from before it joined, per room.
    public var historyLimit: Int
    /// Rooms whose history is kept; past it the room written to least recently is forgotten, so
    /// publishers inventing room names cannot grow the chat's memory without end.
    public var historyRoomLimit: Int
    /// Longest name, in characters, after surrounding whitespace is trimmed.
    public var maximumNameLength: Int
    /// Longest message, in characters.
    public var maximumMessageLength: Int
    /// Longest WebSocket frame a page may send, in bytes.
    public var maximumFrameSize: Int
    /// Messages a session may send in a burst before `messagesPerSecond` applies.
    public var messageBurst: Int
    /// Sustained messages per second per session.
    public var messagesPerSecond: Double
    /// Events waiting for a slow page before the oldest undelivered ones are dropped.
    public var sessionBufferLimit: Int
    /// Serve MQTT over WebSocket at `/mqtt`, relayed to the chat's broker, so browser MQTT
    /// clients need no port of their own.
    public var mqttOverWebSocket: Bool
    /// Longest WebSocket frame an MQTT client may send at `/mqtt` (a packet and a bit).
    public var maximumMQTTFrameSize: Int

    public init(
        prefix: String = "chat", defaultRoom: String = "general", historyLimit: Int = 50, maximumNameLength: Int = 32,
        maximumMessageLength: Int = 2000, maximumFrameSize: Int = 16 * 1024, messageBurst: Int = 10,
        messagesPerSecond: Double = 5, sessionBufferLimit: Int = 1000, historyRoomLimit: Int = 1000,
        mqttOverWebSocket: Bool = true, maximumMQTTFrameSize: Int = 1 << 20
    ) {
        self.mqttOverWebSocket = mqttOverWebSocket
        self.maximumMQTTFrameSize = maximumMQTTFrameSize
        self.prefix = prefix
        self.defaultRoom = defaultRoom
        self.historyLimit = historyLimit
        self.historyRoomLimit = historyRoomLimit
        self.maximumNameLength = maximumNameLength
        self.maximumMessageLength = maximumMessageLength
        self.maximumFrameSize = maximumFrameSize
        self.messageBurst = messageBurst
        self.messagesPerSecond = messagesPerSecond
        self.sessionBufferLimit = sessionBufferLimit
    }

    /// The retained topic where each chat instance lists who is online on it.
    var presencePrefix: String { prefix + "-presence" }
}
