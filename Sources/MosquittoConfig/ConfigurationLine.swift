import MQTTBroker
/// One meaningful (non-blank, non-comment) line of a configuration file, split into its
/// key and arguments, plus the value-parsing helpers the key table uses.
struct ConfigurationLine: Sendable {
    let file: String
    let number: Int
    let key: String
    /// Whitespace-separated words after the key.
    let arguments: [String]
    /// Everything after the key with surrounding whitespace removed; used for values
    /// that may contain spaces, such as paths.
    let remainder: String

    /// Splits `text`; returns `nil` for blank lines and `#` comment lines.
    init?(file: String, number: Int, text: Substring) {
        let trimmed = Self.trim(text)
        guard let first = trimmed.first, first != "#" else { return nil }
        let keyEnd = trimmed.firstIndex(where: \.isWhitespace) ?? trimmed.endIndex
        self.file = file
        self.number = number
        self.key = String(trimmed[..<keyEnd])
        let rest = Self.trim(trimmed[keyEnd...])
        self.remainder = String(rest)
        self.arguments = rest.split(whereSeparator: \.isWhitespace).map(String.init)
    }

    static func trim(_ text: Substring) -> Substring {
        var text = text
        while let first = text.first, first.isWhitespace { text.removeFirst() }
        while let last = text.last, last.isWhitespace { text.removeLast() }
        return text
    }

    // MARK: - Diagnostics

    func error(_ kind: ConfigurationError.Kind, _ message: String) -> ConfigurationError {
        ConfigurationError(kind: kind, file: file, line: number, key: key, message: message)
    }

    func invalidValue(expected: String, got value: String) -> ConfigurationError {
        error(.invalidValue, "key '\(key)': expected \(expected), got '\(value)'")
    }

    func missingValue(expected: String) -> ConfigurationError {
        error(.missingValue, "key '\(key)': missing value, expected \(expected)")
    }

    func unsupportedValue(_ value: String, detail: String? = nil) -> ConfigurationError {
        var message = "key '\(key)': '\(value)' is not supported by Parley yet"
        if let detail { message += " (\(detail))" }
        return error(.unsupportedValue, message)
    }

    func warning(_ message: String) -> ConfigurationWarning {
        ConfigurationWarning(file: file, line: number, key: key, message: message)
    }

    // MARK: - Values

    /// The arguments up to a trailing `#` comment (Mosquitto tolerates
    /// `key value # comment` for single-word values).
    var argumentsBeforeComment: ArraySlice<String> {
        let end = arguments.firstIndex { $0.hasPrefix("#") } ?? arguments.endIndex
        return arguments[..<end]
    }

    /// Exactly one word.
    func singleArgument(expected: String) throws(ConfigurationError) -> String {
        let words = argumentsBeforeComment
        guard let value = words.first else { throw missingValue(expected: expected) }
        guard words.count == 1 else {
            throw invalidValue(expected: expected, got: words.joined(separator: " "))
        }
        return value
    }

    /// The rest of the line (may contain spaces), which must not be empty.
    func text(expected: String) throws(ConfigurationError) -> String {
        guard !remainder.isEmpty else { throw missingValue(expected: expected) }
        return remainder
    }

    func integer(
        in range: ClosedRange<Int>,
        expected: String? = nil
    ) throws(ConfigurationError) -> Int {
        let expected = expected ?? "an integer between \(range.lowerBound) and \(range.upperBound)"
        let word = try singleArgument(expected: expected)
        guard let value = Int(word), range.contains(value) else {
            throw invalidValue(expected: expected, got: word)
        }
        return value
    }

    /// `true`/`false`, and `1`/`0` which Mosquitto accepts too.
    func boolean() throws(ConfigurationError) -> Bool {
        let expected = "true or false"
        let word = try singleArgument(expected: expected)
        switch word {
        case "true", "1": return true
        case "false", "0": return false
        default: throw invalidValue(expected: expected, got: word)
        }
    }
}
