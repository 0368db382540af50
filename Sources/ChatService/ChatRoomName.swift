/// Room names become one MQTT topic level, so they are kept to characters that need no
/// encoding and read the same in every tool.
enum ChatRoomName {
    static let maximumLength = 32

    static func isValid(_ name: String) -> Bool {
        !name.isEmpty && name.count <= maximumLength
            && name.unicodeScalars.allSatisfy { scalar in
                scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || "_.-".unicodeScalars.contains(scalar))
            }
    }

    static func validated(_ name: String) throws(ChatError) -> String {
        guard isValid(name) else {
            throw ChatError(.invalidRoom, "Room names are 1 to \(maximumLength) letters, digits, '_', '.' or '-'")
        }
        return name
    }
}
