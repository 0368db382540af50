extension StringProtocol {
    /// Whether the two hold the same UTF-8 bytes: how MQTT compares topics, client identifiers
    /// and user names. `==` on Swift strings compares by canonical equivalence instead, under
    /// which a composed "é" (C3 A9) equals a decomposed one (65 CC 81).
    @inlinable public func hasSameBytes(as other: some StringProtocol) -> Bool {
        utf8.count == other.utf8.count && utf8.elementsEqual(other.utf8)
    }
}

extension Hasher {
    /// Feeds `text`'s UTF-8 bytes, the hash that goes with `hasSameBytes(as:)`.
    @inlinable mutating func combineUTF8(of text: Substring) {
        var text = text
        text.withUTF8 { combine(bytes: UnsafeRawBufferPointer($0)) }
    }
}
