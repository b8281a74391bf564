import ArgumentParser
import Collectives
import Config
import Foundation
import NN
import Parallel
import Training
import Transport

/// `bench allreduce --op broadcast | heal`: the copy that heals a joiner, against the link it crosses. Each timed
/// repetition is one copy after a barrier, as a heal is (not a stream of copies back to back); its time is the
/// slowest rank's, a receiver's, and the rate is the bytes one receiver got over it (every link of the chain
/// carries them once), in GB/s of 10⁹ bytes. `heal` adds `agree_s`: the whole agreement (checksums before and
/// after the copy), the slowest rank's, median.
extension BenchRank {
    /// `--op broadcast`: `Communicator.broadcast` of each size from rank 0, every receiver's copy checked.
    func broadcastBench(_ c: Communicator, _ sizes: [Int]) throws {
        for bytes in sizes {
            let count = bytes / 4
            let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: max(1, count))
            defer { buffer.deallocate() }
            let b = UnsafeMutableBufferPointer(rebasing: buffer[0..<count])
            var bad = 0
            let times = try timedReps(c, warmUp: 2) {
                Self.fillForBroadcast(b, root: c.rank == 0)
                try c.barrier()
                let t0 = Deadline.nowNanoseconds()
                try c.broadcast(b, root: 0)
                let t = Double(Deadline.nowNanoseconds() - t0) / 1e9
                if !Self.holdsBroadcast(b) { bad += 1 }
                return [t]
            }.map { $0[0] }
            let ok = try c.allGather([Float(bad)]).allSatisfy { $0 == 0 }
            if c.rank == 0 { printCopyLine("broadcast", c, bytes: bytes, seconds: times, ok: ok, extra: []) }
        }
    }

    /// `--op heal`: the state agreement itself (`agreeReplicaState`) for each workload's model: rank 0 is a replica
    /// one optimizer step in (weights, momentum, counters), every other rank a joiner with a fresh optimizer, so the
    /// agreement copies rank 0's state to them exactly as it heals a restarted worker. Times `copySeconds`.
    func healBench(_ c: Communicator, _ workloads: [String]) throws {
        for name in workloads {
            guard let spec = JobSpec.recipe(named: name) else {
                throw ValidationError("--workloads: expected names of \(JobSpec.workloadNames), got \(name)")
            }
            let source = try Self.replicaAfterOneStep(spec)
            var copied = Set<Int>()
            let times = try timedReps(c, warmUp: 1) {
                let trainer = c.rank == 0 ? source : try Self.joiner(spec, model: source.model)
                try c.barrier()
                let t0 = Deadline.nowNanoseconds()
                let a = try agreeReplicaState(trainer, communicator: c)
                copied.insert(a.source == 0 ? a.bytesPerReceiver : -1)
                return [a.copySeconds, Double(Deadline.nowNanoseconds() - t0) / 1e9]
            }
            let bytes = copied.count == 1 ? copied.first! : -1
            let ok = try c.allGather([Float(bytes == Self.stateBytes(source) ? 0 : 1)]).allSatisfy { $0 == 0 }
            let agree = times.map { $0[1] }.sorted()[times.count / 2]
            if c.rank == 0 {
                printCopyLine(
                    "heal", c, bytes: bytes, seconds: times.map { $0[0] }, ok: ok,
                    extra: [
                        ("workload", .string(name)), ("params", .int(source.model.parameters.count)),
                        ("agree_s", .fixed(agree, digits: 6)),
                    ])
            }
        }
    }

    /// Runs `body` `warmUp` times untimed, then `reps` times; per repetition the slowest rank's value of each of the
    /// seconds `body` returns (every rank returns as many).
    private func timedReps(_ c: Communicator, warmUp: Int, _ body: () throws -> [Double]) throws -> [[Double]] {
        for _ in 0..<warmUp { _ = try body() }
        var times: [[Double]] = []
        for _ in 0..<reps {
            let mine = try body()
            let all = try c.allGather(mine.map { Float($0) })
            times.append(mine.indices.map { i in Double(stride(from: i, to: all.count, by: mine.count).map { all[$0] }.max()!) })
        }
        return times
    }

    /// One JSON line: the median copy time and the rate it gives, with the fastest repetition's rate.
    private func printCopyLine(
        _ op: String, _ c: Communicator, bytes: Int, seconds: [Double], ok: Bool, extra: [(String, BenchLine.Value)]
    ) {
        let sorted = seconds.sorted()
        let median = sorted[sorted.count / 2]
        let rate = { (s: Double) in s > 0 ? Double(bytes) / s / 1e9 : 0 }
        print(
            BenchLine(
                [
                    ("bench", .string(op)), ("ranks", .int(c.size)), ("transport", .string(transport)),
                    ("bytes", .int(bytes)), ("copy_s", .fixed(median, digits: 9)),
                    ("copy_gbytes_per_s", .fixed(rate(median), digits: 4)),
                    ("copy_gbytes_per_s_max", .fixed(rate(sorted.first!), digits: 4)), ("reps", .int(reps)),
                    ("check", .string(ok ? "ok" : "FAIL")),
                ] + extra
            ).text)
        flushOutput()
    }

    /// The root's pattern, or −1 on a receiver (so a copy that did not arrive is seen).
    static func fillForBroadcast(_ b: UnsafeMutableBufferPointer<Float>, root: Bool) {
        if root {
            for i in b.indices { b[i] = Float(i % 251) }
        } else {
            b.update(repeating: -1)
        }
    }

    static func holdsBroadcast(_ b: UnsafeMutableBufferPointer<Float>) -> Bool {
        b.indices.allSatisfy { b[$0] == Float($0 % 251) }
    }

    /// A trainer of `spec`'s model after one optimizer update (zero gradients): its slots exist, its step is 1.
    static func replicaAfterOneStep(_ spec: JobSpec) throws -> Trainer {
        let model = try spec.makeModel()
        let t = Trainer(model: model, optimizer: try spec.makeOptimizer(), schedule: spec.makeSchedule(totalSteps: 1))
        model.gradients.buffer.update(repeating: 0)
        t.optimizer.update(parameters: model.parameters, gradients: model.gradients)
        t.resume(atStep: 1)
        return t
    }

    /// A restarted worker: `model`'s shape with other weights, a fresh optimizer (no slots), step 0.
    static func joiner(_ spec: JobSpec, model: Sequential) throws -> Trainer {
        model.parameters.buffer.update(repeating: 0.5)
        return Trainer(model: model, optimizer: try spec.makeOptimizer(), schedule: spec.makeSchedule(totalSteps: 1))
    }

    /// What a receiver gets from `source`: its weights and every optimizer slot (fp32).
    static func stateBytes(_ source: Trainer) -> Int {
        let slots = (source.optimizer as? SlotOptimizer)?.slotNames.count ?? 0
        return (1 + slots) * source.model.parameters.count * MemoryLayout<Float>.stride
    }
}
