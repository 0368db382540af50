// swift-tools-version: 6.1
// Micro benchmarks of Parley's hot paths (ordo-one/benchmark): `swift package benchmark` in
// this folder. A package of its own, so that the project's build and CI never compile the
// benchmark harness.
import PackageDescription

let package = Package(
    name: "ParleyBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "Parley", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        .executableTarget(
            name: "ParleyBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "MQTTCore", package: "Parley"),
                .product(name: "MQTTBroker", package: "Parley"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Benchmarks/ParleyBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        )
    ],
    swiftLanguageModes: [.v6]
)
