import Foundation
import Tensors

/// Fashion-MNIST (or MNIST: same format) from a folder of IDX files, by default Debian's `dataset-fashion-mnist`
/// package. Pixels become Float in [0, 1] (÷255); standardisation is a separate, explicit step (`Standardizer`).
public enum FashionMNIST {
    public static let defaultDirectory = "/usr/share/datasets/fashion-mnist"
    public static let classNames = [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
        "Sneaker", "Bag", "Ankle boot",
    ]

    /// Whether the folder holds the four files (compressed or not).
    public static func isAvailable(in directory: String = defaultDirectory) -> Bool {
        ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
            .allSatisfy { (try? locate($0, in: directory)) != nil }
    }

    public static func load(from directory: String = defaultDirectory) throws -> (train: LabeledDataset, test: LabeledDataset) {
        let train = try loadPair(
            images: "train-images-idx3-ubyte", labels: "train-labels-idx1-ubyte",
            in: directory, name: "fashion-mnist-train")
        let test = try loadPair(
            images: "t10k-images-idx3-ubyte", labels: "t10k-labels-idx1-ubyte",
            in: directory, name: "fashion-mnist-test")
        // The model reads every row as train's width: a narrower test set would be read past its end.
        guard test.featureCount == train.featureCount else {
            let path = (try? locate("t10k-images-idx3-ubyte", in: directory)) ?? directory
            throw DatasetError(
                file: path, "test images have \(test.featureCount) pixels each, the training images \(train.featureCount)")
        }
        return (train, test)
    }

    /// The file `base` or `base.gz` in `directory`.
    static func locate(_ base: String, in directory: String) throws -> String {
        for candidate in [base + ".gz", base] {
            let path = (directory as NSString).appendingPathComponent(candidate)
            if FileManager.default.fileExists(atPath: path) { return path }
        }
        throw DatasetError(file: (directory as NSString).appendingPathComponent(base + ".gz"), "no such file (nor without .gz)")
    }

    /// Reads an images file [N, rows, cols] and a labels file [N] and checks they agree.
    public static func loadPair(images: String, labels: String, in directory: String, name: String) throws -> LabeledDataset {
        let imagePath = try locate(images, in: directory)
        let labelPath = try locate(labels, in: directory)
        return try loadFiles(images: imagePath, labels: labelPath, name: name)
    }

    public static func loadFiles(
        images imagePath: String, labels labelPath: String, name: String,
        classCount: Int = 10
    ) throws -> LabeledDataset {
        let img = try IDX.read(imagePath, expectedRank: 3)
        let lab = try IDX.read(labelPath, expectedRank: 1)
        guard img.dimensions[0] == lab.dimensions[0] else {
            throw DatasetError(file: labelPath, "\(lab.dimensions[0]) labels but \(imagePath) has \(img.dimensions[0]) images")
        }
        // IDX.read bounds the product of the dimensions, so this cannot overflow.
        let n = img.dimensions[0]
        let d = img.dimensions[1] * img.dimensions[2]
        let x = Tensor(shape: [n, d])
        let p = x.pointer
        img.bytes.withUnsafeBufferPointer { src in
            for i in 0..<(n * d) { p[i] = Float(src[i]) * (1 / 255) }
        }
        var y = [Int32](repeating: 0, count: n)
        for i in 0..<n {
            let v = Int32(lab.bytes[i])
            guard v < classCount else {
                throw DatasetError(file: labelPath, "label \(v) at index \(i) is not below \(classCount)")
            }
            y[i] = v
        }
        return LabeledDataset(name: name, features: x, labels: y, classCount: classCount)
    }
}
