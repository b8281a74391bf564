import Config
import Datasets
import Foundation

/// Every trial of a study reads the same data set, and each `cohort train` process would decompress
/// Fashion-MNIST's gzip files again: about half of a trial process's start (0.34 of 0.63 s on a 2-core Xeon), paid
/// once per trial and per promotion. The study decompresses them once into its own folder, and its local trials
/// read the plain IDX files there (`FashionMNIST.locate` takes a plain file when no `.gz` is beside it). Ray Tune
/// keeps data in reused actors for the same reason. Remote trials keep the cluster file's path.
enum TrialDataCache {
    static let files = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]

    /// The folder of plain IDX files for `job`'s data set under `directory` (made now, or kept from an earlier run
    /// of the study when its sources are unchanged); nil when the data set is not a compressed Fashion-MNIST or
    /// MNIST folder, or the copy cannot be made (the trials then read the original, as before).
    static func prepare(_ job: JobSpec, in directory: String) -> String? {
        guard job.data.dataset == "fashion-mnist" || job.data.dataset == "mnist" else { return nil }
        let source = job.data.path ?? FashionMNIST.defaultDirectory
        let sources = files.map { (source as NSString).appendingPathComponent($0 + ".gz") }
        guard sources.allSatisfy({ FileManager.default.fileExists(atPath: $0) }) else { return nil }
        let cache = (directory as NSString).appendingPathComponent("data")
        let stampPath = (cache as NSString).appendingPathComponent("source")
        let stamp = sources.map { "\($0) \(fileStamp($0))" }.joined(separator: "\n") + "\n"
        if (try? String(contentsOfFile: stampPath, encoding: .utf8)) == stamp { return cache }
        do {
            try FileManager.default.createDirectory(atPath: cache, withIntermediateDirectories: true)
            try? FileManager.default.removeItem(atPath: stampPath)
            for (name, path) in zip(files, sources) {
                let bytes = try IDX.readAllBytes(path)
                let target = (cache as NSString).appendingPathComponent(name)
                try Data(bytes).write(to: URL(fileURLWithPath: target), options: .atomic)
            }
            // Written last: a cache cut off mid-copy has no stamp and is made again.
            try stamp.write(toFile: stampPath, atomically: true, encoding: .utf8)
            return cache
        } catch {
            printError("tune: notice: trials read \(source) directly (cannot decompress it into \(cache): \(error))")
            return nil
        }
    }

    /// Size and modification time: a replaced source file makes a new cache.
    private static func fileStamp(_ path: String) -> String {
        let a = try? FileManager.default.attributesOfItem(atPath: path)
        let size = (a?[.size] as? NSNumber)?.intValue ?? -1
        let modified = (a?[.modificationDate] as? Date)?.timeIntervalSince1970 ?? -1
        return "\(size) \(modified)"
    }
}
