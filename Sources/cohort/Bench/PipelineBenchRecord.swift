import Foundation

/// One `bench pipeline` row: a `--json` line (through `JSONLine`) and a CSV row. Simulated-only rows leave the
/// measured fields nil, which both outputs leave out.
struct PipelineBenchRecord: Encodable {
    var bench = "pipeline"
    var stages: Int
    var microBatches: Int
    var schedule: String
    var simulated: Bool
    var cores: Int
    var stepSeconds: Double
    var pipelineSeconds: Double? = nil
    var samplesPerSecond: Double? = nil
    var bubbleMeasured: Double? = nil
    var bubbleSimulated: Double
    var bubbleTheory: Double
    var verdict: String? = nil
    var maxStashed: Int
    var bytesPerStep: Int? = nil
    var simulatedStepSeconds: Double? = nil
    var forwardSeconds: [Double]? = nil
    var backwardSeconds: [Double]? = nil
    var sendActivationSeconds: [Double]? = nil
    var sendGradientSeconds: [Double]? = nil

    enum CodingKeys: String, CodingKey {
        case bench, stages
        case microBatches = "micro_batches"
        case schedule, simulated, cores
        case stepSeconds = "step_s"
        case pipelineSeconds = "pipeline_s"
        case samplesPerSecond = "samples_per_s"
        case bubbleMeasured = "bubble_measured"
        case bubbleSimulated = "bubble_simulated"
        case bubbleTheory = "bubble_theory"
        case verdict
        case maxStashed = "max_stashed"
        case bytesPerStep = "bytes_per_step"
        case simulatedStepSeconds = "simulated_step_s"
        case forwardSeconds = "forward_s"
        case backwardSeconds = "backward_s"
        case sendActivationSeconds = "send_activation_s"
        case sendGradientSeconds = "send_gradient_s"
    }

    /// The CSV columns, in order (what scripts/plot_pipeline.py reads).
    static let csvColumns: [CodingKeys] = [
        .simulated, .stages, .microBatches, .schedule, .stepSeconds, .samplesPerSecond, .bubbleMeasured,
        .bubbleSimulated, .bubbleTheory, .maxStashed, .bytesPerStep, .cores,
    ]

    static var csvHeader: String { csvColumns.map(\.rawValue).joined(separator: ",") }

    /// The row for `csvColumns`; a nil field is an empty cell.
    var csvRow: String {
        func cell(_ key: CodingKeys) -> String {
            switch key {
            case .simulated: return "\(simulated)"
            case .stages: return "\(stages)"
            case .microBatches: return "\(microBatches)"
            case .schedule: return schedule
            case .stepSeconds: return "\(stepSeconds)"
            case .samplesPerSecond: return samplesPerSecond.map { "\($0)" } ?? ""
            case .bubbleMeasured: return bubbleMeasured.map { "\($0)" } ?? ""
            case .bubbleSimulated: return "\(bubbleSimulated)"
            case .bubbleTheory: return "\(bubbleTheory)"
            case .maxStashed: return "\(maxStashed)"
            case .bytesPerStep: return bytesPerStep.map { "\($0)" } ?? ""
            case .cores: return "\(cores)"
            default: return ""
            }
        }
        return Self.csvColumns.map(cell).joined(separator: ",")
    }
}
