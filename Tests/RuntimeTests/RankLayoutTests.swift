import Config
import Runtime
import Testing

@Suite struct RankLayoutTests {
    @Test(arguments: [(1, 1), (2, 1), (4, 1), (1, 3), (2, 2), (3, 4)])
    func ranksAndCoordinatesAreABijection(_ shape: (Int, Int)) {
        let layout = RankLayout(dataParallel: shape.0, pipelineStages: shape.1)
        #expect(layout.worldSize == shape.0 * shape.1)
        var seen = Set<RankCoordinates>()
        for rank in 0..<layout.worldSize {
            let c = layout.coordinates(ofRank: rank)
            #expect((0..<shape.1).contains(c.stage) && (0..<shape.0).contains(c.replica))
            #expect(layout.rank(of: c) == rank)
            seen.insert(c)
        }
        #expect(seen.count == layout.worldSize)
    }

    @Test(arguments: [(2, 3), (3, 1), (1, 4)])
    func groupsPartitionTheRanks(_ shape: (Int, Int)) {
        let layout = RankLayout(dataParallel: shape.0, pipelineStages: shape.1)
        let byStage = (0..<layout.pipelineStages).flatMap { layout.dataParallelGroup(stage: $0) }
        let byReplica = (0..<layout.dataParallel).flatMap { layout.pipeline(replica: $0) }
        #expect(byStage.sorted() == Array(0..<layout.worldSize))
        #expect(byReplica == Array(0..<layout.worldSize), "a replica's stages are consecutive ranks")
        for stage in 0..<layout.pipelineStages {
            #expect(layout.dataParallelGroup(stage: stage).allSatisfy { layout.coordinates(ofRank: $0).stage == stage })
        }
        for rank in 0..<layout.worldSize {
            if let next = layout.nextStage(ofRank: rank) {
                #expect(layout.previousStage(ofRank: next) == rank)
                #expect(layout.coordinates(ofRank: next).replica == layout.coordinates(ofRank: rank).replica)
            } else {
                #expect(layout.coordinates(ofRank: rank).stage == layout.pipelineStages - 1)
            }
        }
    }

    @Test func twoReplicasOfThreeStages() {
        let layout = RankLayout(dataParallel: 2, pipelineStages: 3)
        #expect(layout.coordinates(ofRank: 4) == RankCoordinates(stage: 1, replica: 1))
        #expect(layout.dataParallelGroup(stage: 2) == [2, 5])
        #expect(layout.pipeline(replica: 1) == [3, 4, 5])
        #expect(layout.previousStage(ofRank: 3) == nil)
    }
}
