import MQTTCore

/// An ACL file in Mosquitto's format, read once and consulted on every publish, subscribe and
/// delivery.
///
/// ```
/// topic read public/#            # before any `user` line: clients without a user name
/// user alice
/// topic readwrite alice/#
/// topic deny alice/secret
/// pattern write devices/%c/status  # every client; %c and %u fill whole levels
/// ```
///
/// A client gets the rules of its section (its user's, or the anonymous one) plus every
/// `pattern`. A `deny` rule matching the topic wins; otherwise the topic must match a rule
/// granting the access; no rule means no access. Filters follow MQTT matching, so `#` does not
/// reach `$SYS`: grant `$SYS/#` explicitly. A `%c` or `%u` level matches only a client whose
/// identifier or user name is one whole level (no `/`, `+` or `#`), so nobody can widen a
/// pattern by choosing their name.
public struct AccessControlList: Sendable, Equatable {
    public enum Access: String, Sendable, Hashable {
        case read, write, readwrite, deny

        func grants(_ operation: Operation) -> Bool {
            switch (self, operation) {
            case (.readwrite, _), (.read, .read), (.write, .write): true
            default: false
            }
        }
    }

    public enum Operation: Sendable, Hashable {
        case read, write
    }

    struct Rule: Sendable, Equatable {
        var access: Access
        var levels: [Substring]
        /// Line in the file, for diagnostics and tests.
        var line: Int
    }

    var anonymousRules: [Rule] = []
    /// By the user name's bytes, as clients send it and Mosquitto compares it.
    var userRules: [UTF8Key: [Rule]] = [:]
    var patterns: [Rule] = []

    public init(contents: String, file: String) throws(SecurityFileError) {
        var currentUser: String?
        for (index, rawLine) in contents.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let number = index + 1
            let line = rawLine.drop { $0 == " " || $0 == "\t" }
            if line.isEmpty || line.hasPrefix("#") { continue }
            let trimmed = line.reversed().drop { $0 == " " || $0 == "\t" }.reversed()
            let text = Substring(String(trimmed))
            guard let space = text.firstIndex(where: { $0 == " " || $0 == "\t" }) else {
                throw SecurityFileError(file: file, line: number, message: "'\(text)' needs a value")
            }
            let keyword = text[..<space]
            let rest = text[space...].drop { $0 == " " || $0 == "\t" }
            switch keyword {
            case "user":
                guard !rest.isEmpty else { throw SecurityFileError(file: file, line: number, message: "'user' needs a user name") }
                currentUser = String(rest)
                userRules[UTF8Key(String(rest)), default: []] = userRules[UTF8Key(String(rest))] ?? []
            case "topic", "pattern":
                let rule = try Self.rule(rest, keyword: keyword, file: file, line: number)
                if keyword == "pattern" {
                    patterns.append(rule)
                } else if let currentUser {
                    userRules[UTF8Key(currentUser), default: []].append(rule)
                } else {
                    anonymousRules.append(rule)
                }
            default:
                throw SecurityFileError(
                    file: file, line: number, message: "unknown keyword '\(keyword)' (expected user, topic or pattern)")
            }
        }
    }

    /// Reads and parses the file at `path`.
    public init(contentsOf path: String) throws(SecurityFileError) {
        try self.init(contents: try PasswordFile.read(path), file: path)
    }

    /// `[read|write|readwrite|deny] FILTER`; a lone filter means `readwrite`. As in Mosquitto,
    /// with more than one word the first is the access and the rest, spaces and all, the filter.
    private static func rule(_ text: Substring, keyword: Substring, file: String, line: Int) throws(SecurityFileError) -> Rule {
        var access = Access.readwrite
        var filter = text
        if let space = text.firstIndex(where: { $0 == " " || $0 == "\t" }) {
            let word = String(text[..<space])
            guard let given = Access(rawValue: word) else {
                throw SecurityFileError(
                    file: file, line: line, message: "'\(word)' is not an access (read, write, readwrite or deny)")
            }
            access = given
            filter = text[space...].drop { $0 == " " || $0 == "\t" }
        } else if Access(rawValue: String(text)) != nil {
            throw SecurityFileError(file: file, line: line, message: "'\(keyword) \(text)' needs a topic filter")
        }
        guard !filter.isEmpty else {
            throw SecurityFileError(file: file, line: line, message: "'\(keyword)' needs a topic filter")
        }
        do {
            try TopicValidation.validateTopicFilter(String(filter))
        } catch {
            throw SecurityFileError(file: file, line: line, message: "invalid topic filter '\(filter)': \(error.message)")
        }
        return Rule(access: access, levels: String(filter).topicLevels, line: line)
    }

    // MARK: - Checks

    /// Whether `client` may publish to (`.write`) or receive from (`.read`) `topic`.
    public func permits(_ operation: Operation, topic: String, client: ClientInfo) -> Bool {
        let topicLevels = topic.topicLevels
        var granted = false
        var denied = false
        forEachRule(for: client) { access, levels in
            guard Self.matches(filter: levels, topic: topicLevels) else { return }
            if access == .deny { denied = true } else if access.grants(operation) { granted = true }
        }
        return granted && !denied
    }

    /// Whether `client` may subscribe to `filter`: a `deny` rule must not cover all of it, and
    /// some rule must let it read at least part of it. What it then receives is still checked
    /// message by message, so a subscription to `#` brings only the topics the client may read.
    public func permitsSubscription(to filter: String, client: ClientInfo) -> Bool {
        let plain = SharedSubscription(filter)?.topicFilter ?? filter
        let filterLevels = plain.topicLevels
        var readable = false
        var covered = false
        forEachRule(for: client) { access, levels in
            if access == .deny {
                if Self.covers(levels, filterLevels) { covered = true }
            } else if access.grants(.read), Self.intersects(levels, filterLevels) {
                readable = true
            }
        }
        return readable && !covered
    }

    /// Calls `body` with every rule that applies to `client`, patterns already filled in.
    private func forEachRule(for client: ClientInfo, _ body: (Access, [Substring]) -> Void) {
        let section = client.username.map { userRules[UTF8Key($0)] ?? [] } ?? anonymousRules
        for rule in section { body(rule.access, rule.levels) }
        for rule in patterns {
            if let levels = Self.fill(rule.levels, client: client) { body(rule.access, levels) }
        }
    }

    /// A pattern's levels with `%c` and `%u` replaced; nil when the client's identifier or user
    /// name cannot stand as one level, or a `%u` pattern meets a client without a user name.
    private static func fill(_ levels: [Substring], client: ClientInfo) -> [Substring]? {
        var filled = levels
        for index in levels.indices {
            switch levels[index] {
            case "%c":
                guard isSingleLevel(client.clientIdentifier) else { return nil }
                filled[index] = Substring(client.clientIdentifier)
            case "%u":
                guard let username = client.username, isSingleLevel(username) else { return nil }
                filled[index] = Substring(username)
            default:
                continue
            }
        }
        return filled
    }

    private static func isSingleLevel(_ name: String) -> Bool {
        !name.isEmpty && !name.utf8.contains { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "#") }
    }

    private static func startsWithWildcard(_ levels: [Substring]) -> Bool {
        levels.first.map { $0.hasSameBytes(as: "+") || $0.hasSameBytes(as: "#") } ?? false
    }

    private static func isDollar(_ level: Substring?) -> Bool { level?.utf8.first == UInt8(ascii: "$") }


    /// MQTT topic matching on pre-split levels.
    static func matches(filter: [Substring], topic: [Substring]) -> Bool {
        if isDollar(topic.first), startsWithWildcard(filter) { return false }
        var index = 0
        for level in filter {
            if level == "#" { return true }
            guard index < topic.count else { return false }
            if level != "+" && !level.hasSameBytes(as: topic[index]) { return false }
            index += 1
        }
        return index == topic.count
    }

    /// Whether some topic matches both filters.
    static func intersects(_ a: [Substring], _ b: [Substring]) -> Bool {
        if (isDollar(a.first) && startsWithWildcard(b)) || (isDollar(b.first) && startsWithWildcard(a)) { return false }
        var index = 0
        while index < a.count && index < b.count {
            let x = a[index], y = b[index]
            if x == "#" || y == "#" { return true }
            if x != "+" && y != "+" && !x.hasSameBytes(as: y) { return false }
            index += 1
        }
        if a.count == b.count { return true }
        // `a/#` also matches `a` itself.
        let longer = a.count > b.count ? a : b
        return longer.count == index + 1 && longer[index] == "#"
    }

    /// Whether every topic matching `inner` also matches `outer`.
    static func covers(_ outer: [Substring], _ inner: [Substring]) -> Bool {
        if startsWithWildcard(outer) && isDollar(inner.first) { return false }
        var index = 0
        while index < outer.count {
            let o = outer[index]
            if o == "#" { return true }
            guard index < inner.count else { return false }
            let i = inner[index]
            if i == "#" { return false }
            if o != "+" && (i == "+" || !o.hasSameBytes(as: i)) { return false }
            index += 1
        }
        return index == inner.count
    }
}
