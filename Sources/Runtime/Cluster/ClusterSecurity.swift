import Config
import Foundation
import Training
import Transport

extension ClusterConfig {
    /// The cluster's CURVE key pair when `cluster.security.curve` is on: every socket of the cluster authenticates
    /// with it, so only holders of the cluster's key file can join or talk on the data plane.
    public func curveSecurity() throws -> CurveSecurity? {
        guard let keys = try cluster.security.loadKeys() else { return nil }
        return CurveSecurity(cluster: try CurveKeyPair(publicKey: keys.publicKey, secretKey: keys.secretKey))
    }
}

/// Reads the key file `cohort keys` writes (the same file every member of the cluster holds).
public func loadCurveSecurity(keyFile path: String) throws -> CurveSecurity {
    guard let keys = try SecuritySpec(curve: true, keyFile: path).loadKeys() else {
        throw RuntimeError.invalid("\(path): no CURVE keys")
    }
    return CurveSecurity(cluster: try CurveKeyPair(publicKey: keys.publicKey, secretKey: keys.secretKey))
}
