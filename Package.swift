// swift-tools-version:6.1
import PackageDescription

// The kernels (GEMM micro-kernels, vector exp, the FMA-peak loop) are compiled once per instruction set, each in its
// own target with its own CPU flag (the Swift compiler emits FMA on wide registers only when told the CPU), and
// chosen at run time by CPU features.
#if arch(x86_64)
    let avx512Flags: [SwiftSetting] = [.unsafeFlags(["-target-cpu", "skylake-avx512", "-Ounchecked"])]
    let avx2Flags: [SwiftSetting] = [.unsafeFlags(["-target-cpu", "haswell", "-Ounchecked"])]
#else
    let avx512Flags: [SwiftSetting] = []
    let avx2Flags: [SwiftSetting] = []
#endif

let package = Package(
    name: "Cohort",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "cohort", targets: ["cohort"]),
        .library(name: "Tensors", targets: ["Tensors"]),
        .library(name: "NN", targets: ["NN"]),
        .library(name: "Collectives", targets: ["Collectives"]),
        .library(name: "Config", targets: ["Config"]),
        .library(name: "Training", targets: ["Training"]),
        .library(name: "Parallel", targets: ["Parallel"]),
        .library(name: "Runtime", targets: ["Runtime"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
        .package(url: "https://github.com/apple/swift-numerics", from: "1.0.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    ],
    targets: [
        // C shims over system libraries.
        .systemLibrary(name: "CZeroMQ", pkgConfig: "libzmq", providers: [.apt(["libzmq3-dev"])]),
        .systemLibrary(name: "CSharedMemory"),
        .systemLibrary(name: "CProcess"),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),

        // Math: tensors, GEMM and the per-ISA kernel targets it dispatches to.
        .target(name: "VectorMath", swiftSettings: [.unsafeFlags(["-Ounchecked"])]),
        .target(name: "KernelsAVX512", dependencies: ["VectorMath"], swiftSettings: avx512Flags),
        .target(name: "KernelsAVX2", dependencies: ["VectorMath"], swiftSettings: avx2Flags),
        // The int8 GEMM's kernels (VNNI, AVX2, portable) and packing, in C: Swift's SIMD types cannot emit
        // vpdpbusd. Each ISA kernel carries a `target` attribute, so the target builds with baseline flags.
        .target(name: "CInt8Kernels", cSettings: [.unsafeFlags(["-O3", "-ffp-contract=off"])]),
        // The bf16 and fp16 wires' encode, decode-and-add and rounding with error feedback, per ISA with run-time choice.
        .target(name: "CWireKernels", cSettings: [.unsafeFlags(["-O3", "-ffp-contract=off"])]),
        .target(
            name: "Tensors",
            dependencies: [
                "KernelsAVX512", "KernelsAVX2", "CInt8Kernels", "VectorMath",
                .product(name: "Numerics", package: "swift-numerics"),
            ],
            swiftSettings: [.unsafeFlags(["-Ounchecked"])]),
        .target(
            name: "NN",
            dependencies: ["Tensors", .product(name: "Numerics", package: "swift-numerics")],
            swiftSettings: [.unsafeFlags(["-Ounchecked"])]),
        .target(name: "Datasets", dependencies: ["Tensors", "CZlib"]),

        // Communication: libzmq → transport → collectives.
        .target(name: "Transport", dependencies: ["CZeroMQ", "CSharedMemory"]),
        .target(name: "Collectives", dependencies: ["Transport", "CWireKernels"]),

        // The runtime, split by role: Config → Training → Parallel → Runtime (the cluster) → cohort. Config and
        // Training never import the transport; Parallel is the first to use Collectives.
        .target(name: "Config", dependencies: ["NN", .product(name: "Yams", package: "Yams")]),
        .target(name: "Training", dependencies: ["Config", "NN", "Tensors", "Datasets"]),
        .target(name: "Parallel", dependencies: ["Training", "Config", "NN", "Tensors", "Datasets", "Collectives"]),
        .target(name: "Runtime", dependencies: ["Parallel", "Training", "Config", "Collectives", "Transport"]),
        // Watching a run (issue 18): the coordinator's HTTP endpoint (/metrics, /api/status, the live page), fed by
        // the coordinator's observer hook; it never sits on a worker's data path.
        .target(
            name: "Observability",
            dependencies: [
                "Runtime", "Config", "Training", "Transport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .executableTarget(
            name: "cohort",
            dependencies: [
                "Runtime", "Observability", "Parallel", "Training", "Config", "CProcess",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),

        // Tests: one target per module, plus helpers and end-to-end tests of the built binary.
        .target(name: "CohortTestSupport", dependencies: ["Transport", "Collectives"], path: "Tests/CohortTestSupport"),
        .testTarget(name: "TensorsTests", dependencies: ["Tensors"]),
        .testTarget(name: "NNTests", dependencies: ["NN", "Tensors"]),
        .testTarget(name: "DatasetsTests", dependencies: ["Datasets"]),
        .testTarget(name: "TransportTests", dependencies: ["Transport", "CohortTestSupport"]),
        .testTarget(name: "CollectivesTests", dependencies: ["Collectives", "CohortTestSupport", "CWireKernels"]),
        .testTarget(
            name: "RuntimeTests", dependencies: ["Runtime", "Parallel", "Training", "Config", "CohortTestSupport"]),
        .testTarget(name: "CohortCLITests", dependencies: ["CohortTestSupport", "Datasets"]),
        .testTarget(name: "ObservabilityTests", dependencies: ["Observability", "Runtime", "Config", "CohortTestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)

// Fuzzing (issue 13): `cohort-fuzz`, one libFuzzer target per decoder of outside input. A plain build replays the seed
// corpus (Tests/FuzzCorpus, `scripts/fuzz.sh --replay`); scripts/fuzz.sh builds it with -sanitize=fuzzer,address.
package.products.append(.executable(name: "cohort-fuzz", targets: ["cohort-fuzz"]))
package.targets += [
    .target(name: "CFuzzerDriver", path: "Sources/Fuzz/CFuzzerDriver"),
    .executableTarget(
        name: "cohort-fuzz",
        dependencies: ["CFuzzerDriver", "Transport", "Config", "Training", "Datasets", "NN", "CZlib"],
        path: "Sources/Fuzz/cohort-fuzz"),
]

// Hyperparameter search (issue 15): search spaces, random/grid/ASHA, the resumable study file and the trial
// processes behind `cohort tune`. Only Config below it, so its tests build quickly.
package.targets += [
    .target(name: "Tune", dependencies: ["Config", .product(name: "Yams", package: "Yams")]),
    .testTarget(name: "TuneTests", dependencies: ["Tune", "Config"]),
]
package.targets.first { $0.name == "cohort" }?.dependencies.append("Tune")
