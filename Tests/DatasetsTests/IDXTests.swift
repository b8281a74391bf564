import Datasets
import Foundation
import Tensors
import Testing

/// A fresh temporary folder per test.
func temporaryDirectory() -> String {
    let dir = NSTemporaryDirectory() + "cohort-datasets-\(UUID().uuidString)"
    try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

@Suite struct IDXTests {
    let images = IDXArray(dimensions: [3, 2, 4], bytes: (0..<24).map { UInt8($0 * 10) })
    let labels = IDXArray(dimensions: [3], bytes: [7, 0, 9])

    @Test(arguments: [false, true])
    func roundTrip(compressed: Bool) throws {
        let dir = temporaryDirectory()
        let suffix = compressed ? ".gz" : ""
        try IDX.write(images, to: "\(dir)/train-images-idx3-ubyte\(suffix)", compressed: compressed)
        try IDX.write(labels, to: "\(dir)/train-labels-idx1-ubyte\(suffix)", compressed: compressed)
        #expect(try IDX.read("\(dir)/train-images-idx3-ubyte\(suffix)") == images)
        #expect(try IDX.read("\(dir)/train-labels-idx1-ubyte\(suffix)") == labels)
        let data = try FashionMNIST.loadPair(
            images: "train-images-idx3-ubyte", labels: "train-labels-idx1-ubyte",
            in: dir, name: "t")
        #expect(data.count == 3 && data.featureCount == 8 && data.labels == [7, 0, 9])
        #expect(abs(data.features[1, 0] - 80 / 255) < 1e-6)
        if compressed {  // really compressed: starts with the gzip magic
            let raw = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/train-images-idx3-ubyte.gz"))
            #expect(raw.prefix(2) == Data([0x1F, 0x8B]))
        }
    }

    func expectError(_ path: String, containing text: String, expectedRank: Int? = nil) {
        do {
            _ = try IDX.read(path, expectedRank: expectedRank)
            Issue.record("reading \(path) should fail with '\(text)'")
        } catch let e as DatasetError {
            #expect(e.file == path)
            #expect(e.problem.contains(text), "\(e)")
        } catch { Issue.record("unexpected \(error)") }
    }

    @Test func wrongMagic() throws {
        let dir = temporaryDirectory()
        try IDX.writeAllBytes([1, 2, 8, 1, 0, 0, 0, 1, 5], to: "\(dir)/a", compressed: false)
        expectError("\(dir)/a", containing: "magic")
        try IDX.writeAllBytes([0, 0, 0x0D, 1, 0, 0, 0, 1, 5, 5, 5, 5], to: "\(dir)/b", compressed: true)
        expectError("\(dir)/b", containing: "type 0x0d")
    }

    @Test func wrongDimensions() throws {
        let dir = temporaryDirectory()
        try IDX.write(labels, to: "\(dir)/labels", compressed: true)
        expectError("\(dir)/labels", containing: "rank 1, expected 3", expectedRank: 3)
        // Header says 4 elements, 5 present.
        try IDX.writeAllBytes([0, 0, 8, 1, 0, 0, 0, 4, 1, 2, 3, 4, 5], to: "\(dir)/long", compressed: false)
        expectError("\(dir)/long", containing: "1 bytes after the data")
        // Images and labels that disagree in count.
        try IDX.write(images, to: "\(dir)/img", compressed: false)
        try IDX.write(IDXArray(dimensions: [2], bytes: [1, 2]), to: "\(dir)/lab", compressed: false)
        #expect(throws: DatasetError.self) { try FashionMNIST.loadFiles(images: "\(dir)/img", labels: "\(dir)/lab", name: "x") }
    }

    @Test(arguments: [false, true])
    func truncated(compressed: Bool) throws {
        let dir = temporaryDirectory()
        let path = "\(dir)/images"
        try IDX.write(images, to: path, compressed: false)
        var bytes = try IDX.readAllBytes(path)
        bytes.removeLast(5)
        try IDX.writeAllBytes(bytes, to: path, compressed: compressed)
        expectError(path, containing: "truncated")
        // A header cut short.
        try IDX.writeAllBytes([0, 0, 8, 3, 0, 0], to: path, compressed: compressed)
        expectError(path, containing: "truncated IDX header")
    }

    @Test func truncatedGzipStream() throws {
        let dir = temporaryDirectory()
        let path = "\(dir)/big.gz"
        var rng = SplitMix64(seed: 1)
        let big = IDXArray(
            dimensions: [200, 28, 28], bytes: (0..<(200 * 784)).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
        try IDX.write(big, to: path, compressed: true)
        let raw = try Data(contentsOf: URL(fileURLWithPath: path))
        try raw.prefix(raw.count / 2).write(to: URL(fileURLWithPath: path))
        expectError(path, containing: "truncated")
    }

    /// A gzip bomb: 64 MiB of zeros after a header that claims 4 bytes. Reading stops one byte past the claim
    /// (the error counts at most 1 MiB + 1 of the rest), instead of inflating everything first.
    @Test func gzipBombStopsAtTheHeadersSize() throws {
        let dir = temporaryDirectory()
        let bomb = [0, 0, 8, 1, 0, 0, 0, 4] + [UInt8](repeating: 0, count: 64 << 20)
        try IDX.writeAllBytes(bomb, to: "\(dir)/bomb.gz", compressed: true)
        expectError("\(dir)/bomb.gz", containing: "\((1 << 20) + 1) or more bytes after the data")
    }

    @Test func dimensionsBeyondTheCapAreAnError() throws {
        let dir = temporaryDirectory()
        try IDX.writeAllBytes(
            [0, 0, 8, 3, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 2, 1], to: "\(dir)/huge", compressed: false)
        expectError("\(dir)/huge", containing: "describe more than")
    }

    /// A test set narrower than the training set would be read past its rows' end by the -Ounchecked math.
    @Test func testImagesOfAnotherSizeAreAnError() throws {
        let dir = temporaryDirectory()
        try IDX.write(images, to: "\(dir)/train-images-idx3-ubyte", compressed: false)
        try IDX.write(labels, to: "\(dir)/train-labels-idx1-ubyte", compressed: false)
        try IDX.write(
            IDXArray(dimensions: [3, 2, 2], bytes: [UInt8](repeating: 1, count: 12)), to: "\(dir)/t10k-images-idx3-ubyte",
            compressed: false)
        try IDX.write(labels, to: "\(dir)/t10k-labels-idx1-ubyte", compressed: false)
        do {
            _ = try FashionMNIST.load(from: dir)
            Issue.record("a 2×2 test set beside 2×4 training images loaded")
        } catch let e as DatasetError {
            #expect(e.file.hasSuffix("t10k-images-idx3-ubyte"))
            #expect(e.problem.contains("4 pixels each, the training images 8"), "\(e)")
        }
    }

    @Test func missingFile() {
        expectError("/nonexistent/cohort/x-idx3-ubyte.gz", containing: "no such file")
        #expect(!FashionMNIST.isAvailable(in: "/nonexistent/cohort"))
    }
}

@Suite struct CSVTests {
    @Test func readsHeaderLabelsAndFeatures() throws {
        let dir = temporaryDirectory()
        try "label,a,b\n1, 0.5, 2\n0,-1,3e2\n\n2,4,5\n".write(toFile: "\(dir)/d.csv", atomically: true, encoding: .utf8)
        let d = try CSVDataset.read("\(dir)/d.csv")
        #expect(d.labels == [1, 0, 2] && d.classCount == 3 && d.featureCount == 2)
        #expect(d.features.array == [0.5, 2, -1, 300, 4, 5])
    }

    @Test func badCellNamesFileAndLine() throws {
        let dir = temporaryDirectory()
        try "1,2,3\n0,x,1\n".write(toFile: "\(dir)/bad.csv", atomically: true, encoding: .utf8)
        #expect(throws: DatasetError(file: "\(dir)/bad.csv", "line 2: 'x' is not a number")) {
            try CSVDataset.read("\(dir)/bad.csv")
        }
        try "1,2,3\n0,1\n".write(toFile: "\(dir)/ragged.csv", atomically: true, encoding: .utf8)
        #expect(throws: DatasetError(file: "\(dir)/ragged.csv", "line 2: 2 columns, expected 3")) {
            try CSVDataset.read("\(dir)/ragged.csv")
        }
    }
}
