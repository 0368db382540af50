/// A string as a dictionary key, equal only to the same UTF-8 bytes.
///
/// `String` keys compare by canonical equivalence, so a composed and a decomposed "é" would
/// share an entry. MQTT compares topic names and filters byte for byte and forbids
/// normalizing them (MQTT 5 §4.7.3), and a client identifier is the bytes the client sent: the
/// broker keys what it holds per topic, filter or client by this instead.
public struct UTF8Key: Hashable, Comparable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
    public let string: String

    @inlinable public init(_ string: String) { self.string = string }

    public init(stringLiteral value: String) { self.string = value }

    @inlinable public static func == (lhs: UTF8Key, rhs: UTF8Key) -> Bool {
        lhs.string.hasSameBytes(as: rhs.string)
    }

    @inlinable public func hash(into hasher: inout Hasher) { hasher.combineUTF8(of: string[...]) }

    /// Byte order, so that what is sorted by it (a stored session's filters) is stable.
    public static func < (lhs: UTF8Key, rhs: UTF8Key) -> Bool {
        lhs.string.utf8.lexicographicallyPrecedes(rhs.string.utf8)
    }

    public var description: String { string }
}
