/// A `$share/<group>/<filter>` subscription, split into its group and the filter it shares.
public struct SharedSubscription: Sendable, Hashable {
    public static let prefix = "$share/"

    public var group: String
    public var topicFilter: String

    /// Nil unless `filter` is a well-formed shared filter: a non-empty group without `+`, `#`
    /// or `/`, then a non-empty filter. Read as bytes, as topics are matched (a combining mark
    /// after `/` or `+` makes one `Character` of them, yet the bytes are still there).
    public init?(_ filter: String) {
        guard Self.isShared(filter) else { return nil }
        let rest = filter.utf8.dropFirst(Self.prefix.utf8.count)
        guard let slash = rest.firstIndex(of: UInt8(ascii: "/")) else { return nil }
        let group = Substring(filter.utf8[rest.startIndex..<slash])
        let shared = Substring(filter.utf8[filter.utf8.index(after: slash)...])
        guard !group.isEmpty, !shared.isEmpty, !group.utf8.contains(where: { $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "#") }) else {
            return nil
        }
        self.group = String(group)
        self.topicFilter = String(shared)
    }

    /// Whether `filter` starts with the `$share/` bytes, well-formed or not.
    public static func isShared(_ filter: String) -> Bool { filter.utf8.starts(with: prefix.utf8) }
}
