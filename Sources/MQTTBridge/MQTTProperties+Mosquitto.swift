import Mosquitto
import MQTTCore

extension MosquittoProperties {
    /// The application properties a bridge carries across (both sides must speak MQTT 5).
    init(bridging properties: MQTTProperties) {
        self.init(
            userProperties: properties.userProperties.map { MosquittoUserProperty($0.name, $0.value) },
            contentType: properties.contentType)
        payloadFormatIndicator = properties.payloadFormatIndicator
        messageExpiryInterval = properties.messageExpiryInterval
    }
}

extension MQTTProperties {
    init(bridging properties: MosquittoProperties) {
        self.init()
        userProperties = properties.userProperties.map { UserProperty($0.name, $0.value) }
        contentType = properties.contentType
        payloadFormatIndicator = properties.payloadFormatIndicator
        messageExpiryInterval = properties.messageExpiryInterval
    }
}
