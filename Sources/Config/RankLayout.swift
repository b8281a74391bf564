/// Where a rank sits in a D×K grid: which pipeline stage it runs and which data-parallel replica it belongs to.
public struct RankCoordinates: Hashable, Sendable, Codable, CustomStringConvertible {
    public var stage: Int
    public var replica: Int
    public init(stage: Int, replica: Int) {
        self.stage = stage
        self.replica = replica
    }
    public var description: String { "(stage \(stage), replica \(replica))" }
}

/// Maps ranks to (stage, replica) coordinates for `dataParallel` replicas × `pipelineStages` stages.
///
/// Ranks are numbered replica-major: `rank = replica * pipelineStages + stage`, so the K stages of one replica
/// have consecutive ranks. Ranks are handed out host by host, so a replica's pipeline (activations every
/// micro-batch) stays on one host whenever a host's worker count is a multiple of K, and only the once-per-step
/// gradient all-reduce of each stage crosses hosts. With K = 1 this is plain data parallelism: rank == replica.
public struct RankLayout: Hashable, Sendable, Codable, CustomStringConvertible {
    public let dataParallel: Int
    public let pipelineStages: Int

    public init(dataParallel: Int, pipelineStages: Int = 1) {
        precondition(dataParallel >= 1 && pipelineStages >= 1, "RankLayout needs at least one replica and one stage")
        self.dataParallel = dataParallel
        self.pipelineStages = pipelineStages
    }

    public var worldSize: Int { dataParallel * pipelineStages }

    public func coordinates(ofRank rank: Int) -> RankCoordinates {
        precondition((0..<worldSize).contains(rank), "rank \(rank) outside 0..<\(worldSize)")
        return RankCoordinates(stage: rank % pipelineStages, replica: rank / pipelineStages)
    }

    public func rank(stage: Int, replica: Int) -> Int {
        precondition(
            (0..<pipelineStages).contains(stage) && (0..<dataParallel).contains(replica),
            "(stage \(stage), replica \(replica)) outside \(pipelineStages) stages × \(dataParallel) replicas")
        return replica * pipelineStages + stage
    }

    public func rank(of coordinates: RankCoordinates) -> Int {
        rank(stage: coordinates.stage, replica: coordinates.replica)
    }

    /// The ranks that hold the same stage in every replica, in replica order: they all-reduce that stage's gradients.
    public func dataParallelGroup(stage: Int) -> [Int] {
        (0..<dataParallel).map { rank(stage: stage, replica: $0) }
    }

    /// The ranks of one replica's pipeline, first stage first.
    public func pipeline(replica: Int) -> [Int] {
        (0..<pipelineStages).map { rank(stage: $0, replica: replica) }
    }

    /// The rank that receives this rank's activations (nil on the last stage).
    public func nextStage(ofRank rank: Int) -> Int? {
        let c = coordinates(ofRank: rank)
        return c.stage + 1 < pipelineStages ? self.rank(stage: c.stage + 1, replica: c.replica) : nil
    }

    /// The rank that sends this rank its activations (nil on the first stage).
    public func previousStage(ofRank rank: Int) -> Int? {
        let c = coordinates(ofRank: rank)
        return c.stage > 0 ? self.rank(stage: c.stage - 1, replica: c.replica) : nil
    }

    public var description: String {
        "\(dataParallel) data-parallel × \(pipelineStages) pipeline stage\(pipelineStages == 1 ? "" : "s") = \(worldSize) ranks"
    }
}
