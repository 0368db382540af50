/// Which sequence numbers of one publisher were seen, one bit each: a run of millions of
/// messages costs a few hundred kilobytes, and loss and duplicates are exact.
struct SequenceSet {
    private var words: [UInt64] = []
    private(set) var count = 0

    /// Adds `sequence`; returns false when it was already there (a duplicate).
    @discardableResult
    mutating func insert(_ sequence: UInt32) -> Bool {
        let word = Int(sequence >> 6)
        let bit = UInt64(1) << UInt64(sequence & 63)
        if word >= words.count { words.append(contentsOf: repeatElement(0, count: max(word + 1 - words.count, words.count))) }
        if words[word] & bit != 0 { return false }
        words[word] |= bit
        count += 1
        return true
    }

    func contains(_ sequence: UInt32) -> Bool {
        let word = Int(sequence >> 6)
        return word < words.count && words[word] & (UInt64(1) << UInt64(sequence & 63)) != 0
    }

    /// How many members of `self` are missing from `other`.
    func countMissing(from other: SequenceSet) -> Int {
        var missing = 0
        for (index, word) in words.enumerated() {
            let theirs = index < other.words.count ? other.words[index] : 0
            missing += (word & ~theirs).nonzeroBitCount
        }
        return missing
    }
}
