import ArgumentParser
import Foundation
import Transport

/// `cohort keys [--output FILE]`: a fresh CURVE key pair for a cluster (zmq_curve_keypair), printed in Z85.
/// Every node of the cluster gets the same pair (cluster.yaml); with it set, the data plane encrypts and admits
/// only peers holding the cluster secret.
struct Keys: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "keys", abstract: "Generate a CURVE key pair for the cluster.")

    @Option(name: .shortAndLong, help: "Also write the pair to this file (mode 0600).") var output: String?
    @OptionGroup var format: OutputOptions

    func run() throws {
        let pair = try CurveKeyPair.generate()
        let text =
            format.json
            ? "{\"curve_public_key\":\"\(pair.publicKey)\",\"curve_secret_key\":\"\(pair.secretKey)\"}\n"
            : "curve_public_key: \"\(pair.publicKey)\"\ncurve_secret_key: \"\(pair.secretKey)\"\n"
        if let path = output {
            guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600])
            else {
                throw ValidationError("cannot write key file \(path)")
            }
        }
        print(text, terminator: "")
    }
}
