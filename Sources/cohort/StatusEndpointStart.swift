import Config
import Foundation
import Logging
import Observability
import Runtime

/// Starts `output.http`'s endpoint for `coordinator` (nil when the file asks for none) and says where it is on
/// stderr, with the token a browser needs: `status: http://127.0.0.1:8080/?token=…`.
func startStatusEndpoint(_ cluster: ClusterConfig, _ coordinator: Coordinator) throws -> StatusEndpoint? {
    guard let endpoint = try StatusEndpoint.start(config: cluster, coordinator: coordinator) else { return nil }
    // Printed whatever the level: the way in (and its token) must not be filtered away.
    FileHandle.standardError.write(Data("status: \(endpoint.url)\n".utf8))
    Logger(label: "cohort").debug("status endpoint on \(endpoint.server.address)")
    return endpoint
}
