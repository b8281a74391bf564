import Foundation
import Transport

extension ClusterConfig {
    /// The cluster's CURVE key pair when `cluster.security.curve` is on: every socket of the cluster authenticates
    /// with it, so only holders of the cluster's secret key can join or talk on the data plane.
    public func curveSecurity() throws -> CurveSecurity? {
        try cluster.security.curveSecurity()
    }
}

extension SecuritySpec {
    public func curveSecurity() throws -> CurveSecurity? {
        guard curve else { return nil }
        guard let secretFile = secretKeyFile else {
            throw RuntimeError.invalid("cluster.security.secret_key_file: required when curve is true (make one with `cohort keys`)")
        }
        return try loadCurveSecurity(secretKeyFile: secretFile)
    }
}

/// Reads a Z85 secret key written by `cohort keys` (the public key is derived from it).
public func loadCurveSecurity(secretKeyFile path: String) throws -> CurveSecurity {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
        throw RuntimeError.invalid("\(path): cannot read the cluster's secret key file")
    }
    let secret = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
        .first { !$0.isEmpty && !$0.hasPrefix("#") } ?? ""
    do {
        let pair = try CurveKeyPair(publicKey: CurveKeyPair.publicKey(fromSecret: secret), secretKey: secret)
        return CurveSecurity(cluster: pair)
    } catch {
        throw RuntimeError.invalid("\(path): not a Z85 CURVE secret key (40 characters): \(error)")
    }
}
