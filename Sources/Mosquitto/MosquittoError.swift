import CMosquitto
import Foundation

/// A libmosquitto failure, with the library's own explanation.
public struct MosquittoError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What Parley was doing (e.g. "connect to 127.0.0.1:1883").
    public var operation: String
    /// libmosquitto's `MOSQ_ERR_*` code, or an MQTT reason code when `isReasonCode` is set.
    public var code: Int32
    public var isReasonCode: Bool
    /// `mosquitto_strerror` (or the reason-code text, or errno's text for system errors).
    public var message: String

    public init(operation: String, code: Int32, isReasonCode: Bool = false, message: String) {
        self.operation = operation
        self.code = code
        self.isReasonCode = isReasonCode
        self.message = message
    }

    /// Wraps a `MOSQ_ERR_*` code; for `MOSQ_ERR_ERRNO` the system error is reported instead.
    static func library(_ code: Int32, _ operation: String, errno systemError: Int32 = errno) -> MosquittoError {
        let message: String
        if code == Int32(MOSQ_ERR_ERRNO.rawValue) {
            message = String(cString: strerror(systemError))
        } else {
            message = String(cString: mosquitto_strerror(code))
        }
        return MosquittoError(operation: operation, code: code, message: message)
    }

    /// Wraps a CONNACK or SUBACK reason code.
    static func reason(_ code: Int32, _ operation: String) -> MosquittoError {
        MosquittoError(operation: operation, code: code, isReasonCode: true, message: String(cString: mosquitto_reason_string(code)))
    }

    static let notConnected = MosquittoError(operation: "use the client", code: Int32(MOSQ_ERR_NO_CONN.rawValue), message: "not connected")

    public var description: String { "could not \(operation): \(message)" }
}
