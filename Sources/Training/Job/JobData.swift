import Config
import Datasets
import Foundation

/// The data a job trains and is evaluated on, ready to use (standardised when asked).
public struct JobData: Sendable {
    public var train: LabeledDataset
    public var validation: LabeledDataset?
    public var test: LabeledDataset
    /// Set when the data came from somewhere else than asked (the synthetic fallback): say it to the user.
    public var notice: String?
    public var standardizer: Standardizer?
}

extension JobSpec {
    /// Synthetic sets have Fashion-MNIST's size unless a job trains for few steps.
    static let syntheticTrainCount = 60_000
    static let syntheticTestCount = 10_000

    /// Loads (or generates) the data, splits off validation data, standardises with the training statistics,
    /// and checks the model's input/output widths fit it.
    public func loadData() throws -> JobData {
        try validate()
        var (train, test, notice) = try loadSplits()
        if let n = data.maxTrainExamples, n < train.count { train = train.subset(Array(0..<n)) }
        if let n = data.maxTestExamples, n < test.count { test = test.subset(Array(0..<n)) }
        guard train.count > 0 else { throw JobError("data", "\(train.name) has no examples") }
        // The math runs unchecked: every set the model sees must have exactly its input width.
        try checkFitsModel(train)
        try checkFitsModel(test)
        var validation: LabeledDataset?
        if data.validationFraction > 0 {
            let parts = train.split(validationFraction: Double(data.validationFraction), seed: seed ^ 0x5A11D)
            train = parts.train
            validation = parts.validation
        }
        var standardizer: Standardizer?
        if data.standardize {
            let s = Standardizer(fitting: train)
            s.apply(to: train)
            if let validation { s.apply(to: validation) }
            s.apply(to: test)
            standardizer = s
        }
        return JobData(train: train, validation: validation, test: test, notice: notice, standardizer: standardizer)
    }

    /// The training and test sets as the data section names them, and a notice when synthetic data stands in.
    func loadSplits() throws -> (train: LabeledDataset, test: LabeledDataset, notice: String?) {
        let inputs = model.layers.first ?? 0
        let classes = model.layers.last ?? 0
        func synthetic() -> (LabeledDataset, LabeledDataset, String?) {
            let s = Synthetic.classification(
                trainCount: data.maxTrainExamples ?? Self.syntheticTrainCount,
                testCount: data.maxTestExamples ?? Self.syntheticTestCount,
                featureCount: inputs, classCount: classes, seed: seed)
            return (s.train, s.test, nil)
        }
        switch data.dataset {
        case "fashion-mnist", "mnist":
            let dir = data.path ?? FashionMNIST.defaultDirectory
            if FashionMNIST.isAvailable(in: dir) {
                let (train, test) = try FashionMNIST.load(from: dir)
                return (train, test, nil)
            }
            guard data.syntheticFallback else {
                throw JobError(
                    "data.path",
                    "\(data.dataset) not found in \(dir) (need train-images-idx3-ubyte[.gz] etc.; or set data.synthetic_fallback)"
                )
            }
            let (train, test, _) = synthetic()
            return (
                train, test,
                "notice: \(data.dataset) not found in \(dir); training on SYNTHETIC data instead (data.synthetic_fallback)"
            )
        case "synthetic":
            return synthetic()
        case "csv":
            guard let path = data.path else { throw JobError("data.path", "the csv data set needs a file path") }
            let all = try CSVDataset.read(path, classCount: classes)
            // A single CSV: hold out a seeded 10% as the test set.
            let parts = all.split(validationFraction: 0.1, seed: seed ^ 0x7E57)
            return (parts.train, parts.validation, nil)
        default:
            throw JobError("data.dataset", "expected one of fashion-mnist, synthetic, csv, got \"\(data.dataset)\"")
        }
    }

    /// `set` has the model's input width and no more classes than its output width.
    func checkFitsModel(_ set: LabeledDataset) throws {
        let inputs = model.layers.first ?? 0
        let classes = model.layers.last ?? 0
        guard set.featureCount == inputs else {
            throw JobError("model.layers", "input width \(inputs) but \(set.name) has \(set.featureCount) features")
        }
        guard set.classCount <= classes else {
            throw JobError("model.layers", "output width \(classes) but \(set.name) has \(set.classCount) classes")
        }
    }
}
