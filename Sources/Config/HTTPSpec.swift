import Foundation

/// `output.http:` — the coordinator's HTTP endpoint for watching a run (`/metrics` for Prometheus, `/api/status`,
/// the live page at `/`). Absent: no endpoint (off by default). It never sits on a worker's data path: it reads the
/// coordinator's aggregated reports.
public struct HTTPSpec: Codable, Sendable, Equatable {
    /// What the endpoint binds to: an IP address or `*`. nil: the coordinator's own bind address
    /// (`cluster.interface`, else `cluster.coordinator.host`), never all interfaces unless asked.
    public var address: String?
    /// The TCP port; 0 picks a free one (its address is printed and written to `/api/status`'s caller).
    public var port: Int
    /// true: no token is asked for. Otherwise every request must carry the job's token (a bearer header, the
    /// `cohort_token` cookie, or `?token=` on the page, which sets the cookie), as Jupyter does.
    public var isPublic: Bool

    /// The default of each omitted key, shared by `init` and the decoder.
    public enum Defaults {
        public static let port = 8080
        public static let isPublic = false
    }

    public init(address: String? = nil, port: Int = Defaults.port, isPublic: Bool = Defaults.isPublic) {
        self.address = address
        self.port = port
        self.isPublic = isPublic
    }

    enum CodingKeys: String, CodingKey {
        case address, port
        case isPublic = "public"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        address = try c.decodeIfPresent(String.self, forKey: .address)
        port = try c.decode(.port, default: Defaults.port)
        isPublic = try c.decode(.isPublic, default: Defaults.isPublic)
    }
}

extension HTTPSpec {
    /// `*`, or a numeric IPv4 or IPv6 address (names are not resolved here: a bind needs an address).
    public static func isBindable(_ address: String) -> Bool {
        if address == "*" { return true }
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, address, &v4) == 1 || inet_pton(AF_INET6, address, &v6) == 1
    }
}
