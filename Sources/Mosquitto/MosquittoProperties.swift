import CMosquitto
import Foundation

/// The MQTT 5 properties Parley sends and reads on PUBLISH (ignored under 3.1.1).
public struct MosquittoProperties: Sendable, Hashable {
    public var userProperties: [MosquittoUserProperty]
    public var contentType: String?
    public var payloadFormatIndicator: UInt8?
    public var messageExpiryInterval: UInt32?
    /// The identifiers of the subscriptions a received message matched (set by the broker).
    public var subscriptionIdentifiers: [UInt32] = []

    public init(userProperties: [MosquittoUserProperty] = [], contentType: String? = nil) {
        self.userProperties = userProperties
        self.contentType = contentType
    }

    /// The first value of the user property `name`.
    public func userProperty(_ name: String) -> String? {
        userProperties.first { $0.name == name }?.value
    }

    var isEmpty: Bool { userProperties.isEmpty && contentType == nil && payloadFormatIndicator == nil && messageExpiryInterval == nil }

    /// Builds a libmosquitto property list; the caller frees it with `mosquitto_property_free_all`.
    func makeList() throws(MosquittoError) -> OpaquePointer? {
        var list: OpaquePointer?
        func check(_ code: Int32) throws(MosquittoError) {
            guard code == Int32(MOSQ_ERR_SUCCESS.rawValue) else {
                mosquitto_property_free_all(&list)
                throw MosquittoError.library(code, "add an MQTT 5 property")
            }
        }
        for pair in userProperties {
            try check(mosquitto_property_add_string_pair(&list, Int32(MQTT_PROP_USER_PROPERTY.rawValue), pair.name, pair.value))
        }
        if let contentType {
            try check(mosquitto_property_add_string(&list, Int32(MQTT_PROP_CONTENT_TYPE.rawValue), contentType))
        }
        if let payloadFormatIndicator {
            try check(mosquitto_property_add_byte(&list, Int32(MQTT_PROP_PAYLOAD_FORMAT_INDICATOR.rawValue), payloadFormatIndicator))
        }
        if let messageExpiryInterval {
            try check(mosquitto_property_add_int32(&list, Int32(MQTT_PROP_MESSAGE_EXPIRY_INTERVAL.rawValue), messageExpiryInterval))
        }
        return list
    }

    /// Reads the properties Parley cares about from a received list.
    init(reading list: OpaquePointer?) {
        self.init()
        guard let list else { return }
        var name: UnsafeMutablePointer<CChar>?
        var value: UnsafeMutablePointer<CChar>?
        var property = mosquitto_property_read_string_pair(list, Int32(MQTT_PROP_USER_PROPERTY.rawValue), &name, &value, false)
        while property != nil {
            if let name, let value { userProperties.append(MosquittoUserProperty(String(cString: name), String(cString: value))) }
            free(name)
            free(value)
            name = nil
            value = nil
            property = mosquitto_property_read_string_pair(property, Int32(MQTT_PROP_USER_PROPERTY.rawValue), &name, &value, true)
        }
        var text: UnsafeMutablePointer<CChar>?
        if mosquitto_property_read_string(list, Int32(MQTT_PROP_CONTENT_TYPE.rawValue), &text, false) != nil, let text {
            contentType = String(cString: text)
            free(text)
        }
        var byte: UInt8 = 0
        if mosquitto_property_read_byte(list, Int32(MQTT_PROP_PAYLOAD_FORMAT_INDICATOR.rawValue), &byte, false) != nil {
            payloadFormatIndicator = byte
        }
        var interval: UInt32 = 0
        if mosquitto_property_read_int32(list, Int32(MQTT_PROP_MESSAGE_EXPIRY_INTERVAL.rawValue), &interval, false) != nil {
            messageExpiryInterval = interval
        }
        let subscriptionIdentifier = Int32(MQTT_PROP_SUBSCRIPTION_IDENTIFIER.rawValue)
        var identifier: UInt32 = 0
        var found = mosquitto_property_read_varint(list, subscriptionIdentifier, &identifier, false)
        while found != nil {
            subscriptionIdentifiers.append(identifier)
            found = mosquitto_property_read_varint(found, subscriptionIdentifier, &identifier, true)
        }
    }
}

/// An MQTT 5 User Property.
public struct MosquittoUserProperty: Sendable, Hashable {
    public var name: String
    public var value: String

    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}
