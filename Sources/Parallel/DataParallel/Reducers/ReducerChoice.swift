import Collectives
import Config
import NN

/// The reducer `parallelism.gradient` asks for (the fp32 sum when it asks for none).
public func makeGradientReducer(_ spec: GradientSpec?, communicator: Communicator, model: Sequential) -> GradientReducer {
    guard let spec else { return SumReducer(communicator: communicator) }
    switch spec.compression {
    case .none:
        return SumReducer(communicator: communicator)
    case .bf16, .fp16:
        return HalfPrecisionReducer(
            communicator: communicator, wire: spec.compression == .bf16 ? .bfloat16 : .float16,
            errorFeedback: spec.errorFeedback, startStep: spec.startStep)
    case .powersgd:
        return PowerSGDReducer(
            communicator: communicator, matrices: PowerSGDReducer.matrices(of: model), rank: spec.rank,
            errorFeedback: spec.errorFeedback, startStep: spec.startStep)
    case .topk:
        return TopKReducer(
            communicator: communicator, density: spec.density, errorFeedback: spec.errorFeedback,
            startStep: spec.startStep)
    }
}
