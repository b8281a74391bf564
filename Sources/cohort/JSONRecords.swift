import Foundation
import Runtime

/// The `--json` lines of `validate`, `launch` and `coordinator`: one Codable record per kind of line, written by
/// `JSONLine` (sorted keys, non-finite numbers as null). Field names are what scripts and tests read.

/// `launch --json` / `coordinator --json`: the last stdout line.
struct DoneLine: Encodable {
    var summary: JobSummary

    enum CodingKeys: String, CodingKey {
        case event, workers
        case testAccuracy = "test_accuracy"
        case samplesPerSecond = "samples_per_s"
        case steps, seconds
        case computeSeconds = "compute_s"
        case allReduceSeconds = "allreduce_s"
        case waitSeconds = "wait_s"
        case weightChecksums = "weight_checksums"
        case links
        case socketBytes = "socket_bytes"
        case sharedMemoryBytes = "shm_bytes"
        case steadySamplesPerSecond = "steady_samples_per_s"
        case steadyStepSeconds = "steady_step_s"
        case steadySteps = "steady_steps"
        case steadySocketBytes = "steady_socket_bytes"
        case stragglers
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode("done", forKey: .event)
        try c.encode(summary.workers, forKey: .workers)
        // Written as null when the run measured none (NaN → null), never left out: readers index it.
        try c.encode(summary.testAccuracy ?? .nan, forKey: .testAccuracy)
        try c.encode(summary.samplesPerSecond, forKey: .samplesPerSecond)
        try c.encode(summary.steps, forKey: .steps)
        try c.encode(summary.seconds, forKey: .seconds)
        try c.encode(summary.computeSeconds, forKey: .computeSeconds)
        try c.encode(summary.allReduceSeconds, forKey: .allReduceSeconds)
        try c.encode(summary.waitSeconds, forKey: .waitSeconds)
        try c.encode(summary.weightChecksums, forKey: .weightChecksums)
        try c.encode(summary.links, forKey: .links)
        try c.encode(summary.totalBytes("socket"), forKey: .socketBytes)
        try c.encode(summary.totalBytes("shm"), forKey: .sharedMemoryBytes)
        // The steps after --warmup-steps: the slowest rank's time, every rank's samples; absent without a warm-up.
        if let steady = summary.steady, steady.seconds > 0, steady.steps > 0 {
            try c.encode(Double(steady.samples) / steady.seconds, forKey: .steadySamplesPerSecond)
            try c.encode(steady.seconds / Double(steady.steps), forKey: .steadyStepSeconds)
            try c.encode(steady.steps, forKey: .steadySteps)
            try c.encode(summary.steadySocketBytes, forKey: .steadySocketBytes)
        }
        // Per-rank median step, compute and wait, and `waited_on`: the rank the others waited for (null: none).
        try c.encodeIfPresent(summary.stragglers, forKey: .stragglers)
    }
}

/// `validate --json`: the layout of a valid cluster file.
struct ValidLine: Encodable {
    struct Rank: Encodable {
        var rank: Int
        var host: String
        var local: Int
        var port: Int
        var stage: Int
        var replica: Int
    }

    var event = "valid"
    var file: String
    var workers: Int
    var hosts: Int
    var dataParallel: Int
    var pipelineStages: Int
    var ranks: [Rank]

    enum CodingKeys: String, CodingKey {
        case event, file, workers, hosts
        case dataParallel = "data_parallel"
        case pipelineStages = "pipeline_stages"
        case ranks
    }
}
