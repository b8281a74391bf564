import Foundation
import HTTPTypes
import Hummingbird

/// Who may read the endpoint: with a token, only requests that carry it, as `Authorization: Bearer TOKEN` or the
/// `cohort_token` cookie; `/?token=TOKEN` (the link printed at launch) sets that cookie and redirects to `/`, so
/// the token leaves the address bar and the page's own requests carry the cookie, as Jupyter does. Without a
/// token (`output.http.public: true`) every request passes. Tokens are compared in constant time.
struct TokenAccess<Context: RequestContext>: RouterMiddleware {
    static var cookieName: String { "cohort_token" }
    let token: String?

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        guard let token else { return try await next(request, context) }
        if let offered = Self.offered(request), Self.same(offered, token) {
            return try await next(request, context)
        }
        if request.uri.path == "/", let query = request.uri.queryParameters.get("token"), Self.same(query, token) {
            var headers = HTTPFields()
            headers[.location] = "/"
            headers[.setCookie] = "\(Self.cookieName)=\(Self.cookieValue(token)); Path=/; HttpOnly; SameSite=Strict"
            headers[.cacheControl] = "no-store"
            return Response(status: .seeOther, headers: headers)
        }
        var headers = HTTPFields()
        headers[.wwwAuthenticate] = "Bearer realm=\"cohort\""
        headers[.contentType] = "text/plain; charset=utf-8"
        return Response(
            status: .unauthorized, headers: headers,
            body: .init(
                byteBuffer: ByteBuffer(
                    string:
                        "401: this endpoint needs the job's token: Authorization: Bearer TOKEN, or open /?token=TOKEN\n"
                )))
    }

    /// The token a request carries: its bearer header, else its cookie.
    static func offered(_ request: Request) -> String? {
        if let auth = request.headers[.authorization] {
            let parts = auth.split(separator: " ", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "bearer" {
                return parts[1].trimmingCharacters(in: .whitespaces)
            }
        }
        return request.cookies[cookieName]?.value.removingPercentEncoding
    }

    /// A token file may hold any printable character, `;` and `,` included: the cookie carries it percent-encoded.
    static func cookieValue(_ token: String) -> String {
        token.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? token
    }

    /// Equal strings, in time independent of where they differ.
    static func same(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8)
        let y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var diff: UInt8 = 0
        for i in 0..<x.count { diff |= x[i] ^ y[i] }
        return diff == 0
    }
}
