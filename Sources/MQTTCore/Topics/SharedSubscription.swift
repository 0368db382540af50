/// A `$share/<group>/<filter>` subscription, split into its group and the filter it shares.
public struct SharedSubscription: Sendable, Hashable {
    public static let prefix = "$share/"

    public var group: String
    public var topicFilter: String

    /// Nil unless `filter` is a well-formed shared filter: a non-empty group without `+`, `#`
    /// or `/`, then a non-empty filter.
    public init?(_ filter: String) {
        guard filter.hasPrefix(Self.prefix) else { return nil }
        let rest = filter.utf8.dropFirst(Self.prefix.utf8.count)
        guard let slash = rest.firstIndex(of: UInt8(ascii: "/")) else { return nil }
        let group = Substring(filter.utf8[rest.startIndex..<slash])
        let shared = Substring(filter.utf8[filter.utf8.index(after: slash)...])
        guard !group.isEmpty, !shared.isEmpty, !group.contains(where: { $0 == "+" || $0 == "#" }) else { return nil }
        self.group = String(group)
        self.topicFilter = String(shared)
    }
}
