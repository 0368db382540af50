/// One level of a topic name or filter as a dictionary key, equal only to the same bytes.
///
/// MQTT compares topics as UTF-8 bytes and forbids normalizing them (MQTT 5 §4.7.3). Swift's
/// `String` and `Substring` compare and hash by canonical equivalence, under which a composed
/// "é" (C3 A9) equals a decomposed one (65 CC 81): keyed by them, a subscription to one would
/// receive the other's messages and one retained message would replace the other's.
@usableFromInline
struct TopicLevel: Hashable, Sendable {
    @usableFromInline let text: Substring

    @inlinable init(_ text: Substring) { self.text = text }

    @inlinable static func == (lhs: TopicLevel, rhs: TopicLevel) -> Bool {
        lhs.text.hasSameBytes(as: rhs.text)
    }

    @inlinable func hash(into hasher: inout Hasher) { hasher.combineUTF8(of: text) }

    @usableFromInline static let multiLevelWildcard = TopicLevel("#")
    @usableFromInline static let singleLevelWildcard = TopicLevel("+")
}

extension String {
    /// The levels between the `/` bytes. Split on bytes, not `Character`s: a `/` followed by a
    /// combining mark is one `Character`, yet it still separates two levels.
    @inlinable public var topicLevels: [Substring] {
        utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false).map { Substring($0) }
    }
}
