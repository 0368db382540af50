// swift-tools-version: 6.1
import Foundation
import PackageDescription

let package = Package(
    name: "Parley",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "MQTTCore", targets: ["MQTTCore"]),
        .library(name: "MQTTBroker", targets: ["MQTTBroker"]),
        .library(name: "Mosquitto", targets: ["Mosquitto"]),
        .library(name: "PubSub", targets: ["PubSub"]),
        .library(name: "ChatService", targets: ["ChatService"]),
        .library(name: "MQTTBridge", targets: ["MQTTBridge"]),
        .library(name: "MosquittoConfig", targets: ["MosquittoConfig"]),
        .executable(name: "parley", targets: ["parley"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-atomics", from: "1.3.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket", from: "2.8.1"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        .target(
            name: "MQTTCore",
            dependencies: [.product(name: "NIOCore", package: "swift-nio")]
        ),
        .target(name: "ProcessMemory"),
        .target(
            name: "MQTTBroker",
            dependencies: [
                "MQTTCore",
                "ProcessMemory",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Atomics", package: "swift-atomics"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        .systemLibrary(
            name: "CMosquitto",
            pkgConfig: "libmosquitto",
            providers: [.apt(["libmosquitto-dev"])]
        ),
        .target(
            name: "Mosquitto",
            dependencies: ["CMosquitto"]
        ),
        .target(
            name: "PubSub",
            dependencies: [
                "Mosquitto",
                "MQTTCore",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "MQTTBridge",
            dependencies: [
                "MQTTBroker",
                "MQTTCore",
                "Mosquitto",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        .target(
            name: "MosquittoConfig",
            dependencies: ["MQTTBroker", "MQTTBridge", "MQTTCore"]
        ),
        .target(
            name: "ChatService",
            dependencies: [
                "PubSub",
                "ProcessMemory",
                "Mosquitto",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            resources: [.copy("Resources")]
        ),
        .target(
            name: "MQTTBench",
            dependencies: [
                "MQTTCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "Atomics", package: "swift-atomics"),
            ]
        ),
        .executableTarget(
            name: "parley",
            dependencies: [
                "MQTTBench",
                "ProcessMemory",
                "MQTTBroker",
                "MQTTBridge",
                "MosquittoConfig",
                "ChatService",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .executableTarget(
            name: "EmbeddedBroker",
            dependencies: ["MQTTBroker"],
            path: "examples/EmbeddedBroker"
        ),
        .executableTarget(
            name: "PubSubChat",
            dependencies: [
                "PubSub", "MQTTBroker",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "examples/PubSubChat"
        ),
        .executableTarget(
            name: "DevicePublisher",
            dependencies: ["Mosquitto", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "examples/DevicePublisher"
        ),
        .target(
            name: "TestSupport",
            path: "Tests/TestSupport"
        ),
        .testTarget(
            name: "MQTTCoreTests",
            dependencies: [
                "MQTTCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "MQTTBrokerTests",
            dependencies: [
                "MQTTBroker",
                "ProcessMemory",
                "Mosquitto",
                "TestSupport",
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "MQTTBenchTests",
            dependencies: [
                "MQTTBench", "MQTTBroker", "MQTTCore",
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "MosquittoConfigTests",
            dependencies: ["MosquittoConfig", "MQTTBroker", "MQTTBridge", "MQTTCore"]
        ),
        .testTarget(
            name: "PubSubTests",
            dependencies: ["PubSub", "Mosquitto", "MQTTBroker", "TestSupport"]
        ),
        .testTarget(
            name: "MosquittoTests",
            dependencies: ["Mosquitto", "MQTTBroker", "TestSupport"]
        ),
        .testTarget(
            name: "MQTTBridgeTests",
            dependencies: ["MQTTBridge", "MQTTBroker", "MQTTCore", "TestSupport", .product(name: "Logging", package: "swift-log")]
        ),
        .testTarget(
            name: "ChatServiceTests",
            dependencies: [
                "ChatService", "PubSub", "MQTTBroker", "TestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HummingbirdWSTesting", package: "hummingbird-websocket"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)

// The libFuzzer target exists only for `make fuzz` (PARLEY_FUZZ=1 with --sanitize=fuzzer): it has
// no `main`, so an ordinary build could not link it.
if ProcessInfo.processInfo.environment["PARLEY_FUZZ"] != nil {
    package.targets.append(.executableTarget(
        name: "ParleyFuzz",
        dependencies: ["MQTTCore", "MQTTBroker", .product(name: "NIOCore", package: "swift-nio")],
        path: "Tests/Fuzz"))
    package.products.append(.executable(name: "ParleyFuzz", targets: ["ParleyFuzz"]))
}
