/// A v5 User Property: a name/value pair an application attaches and the broker forwards unchanged.
public struct UserProperty: Sendable, Hashable {
    public var name: String
    public var value: String

    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}
