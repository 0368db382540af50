import Foundation

/// What a benchmark measured: its parameters and its results, as a table for people and as
/// JSON for scripts (`scripts/compare-mosquitto.sh` reads the JSON).
public struct BenchReport: Sendable {
    public struct Entry: Sendable {
        public var name: String
        public var value: Double
        public var unit: String
    }

    public var scenario: String
    public var parameters: [(name: String, value: String)] = []
    public var results: [Entry] = []

    public init(scenario: String) {
        self.scenario = scenario
    }

    public mutating func parameter(_ name: String, _ value: CustomStringConvertible) {
        parameters.append((name, value.description))
    }

    public mutating func result(_ name: String, _ value: Double, _ unit: String = "") {
        results.append(Entry(name: name, value: value, unit: unit))
    }

    public subscript(result name: String) -> Double? { results.first { $0.name == name }?.value }

    public var table: String {
        let parameterLine = parameters.map { "\($0.name)=\($0.value)" }.joined(separator: " ")
        let width = results.map(\.name.count).max() ?? 0
        var lines = ["\(scenario): \(parameterLine)"]
        for entry in results {
            let name = entry.name.padding(toLength: width, withPad: " ", startingAt: 0)
            lines.append("  \(name)  \(Self.format(entry.value)) \(entry.unit)")
        }
        return lines.joined(separator: "\n")
    }

    public var json: String {
        var object: [String: Any] = ["scenario": scenario]
        object["parameters"] = Dictionary(parameters.map { ($0.name, $0.value) }, uniquingKeysWith: { $1 })
        object["results"] = Dictionary(results.map { ($0.name, $0.value) }, uniquingKeysWith: { $1 })
        object["units"] = Dictionary(results.map { ($0.name, $0.unit) }, uniquingKeysWith: { $1 })
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    static func format(_ value: Double) -> String {
        if value == value.rounded() && abs(value) < 1e15 { return String(Int64(value)) }
        return String(format: value < 10 ? "%.3f" : "%.1f", value)
    }
}
