// The HTTP request and response as the dashboard's handlers see them: plain structs with no
// Beast types, so that handlers, the router and their tests include no networking headers.
// HttpServer (http_server.h) converts to and from Beast's messages.
// Thread-safety: plain values.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace sparsescale::coordinator::http {

struct HttpRequest {
  std::string method;                        // "GET", "POST", ...
  std::string path;                          // the target up to '?', not decoded
  std::map<std::string, std::string> query;  // decoded; a repeated name keeps its last value
  std::string authorization;                 // the Authorization header, "" when absent
  std::string if_none_match;                 // the If-None-Match header, "" when absent
  std::string body;
  // Filled by the router: the {name} segments of the matched pattern.
  std::map<std::string, std::string> params;
};

// A response that goes on after its headers (server-sent events). The server calls `poll`
// every `period` on its own thread: it must not block, and returns the text to send now, or
// nothing. When nothing was sent for `keep_alive`, the server sends a comment line instead.
// The stream ends when the client goes away or the server shuts down.
struct EventStream {
  std::function<std::optional<std::string>()> poll;
  std::chrono::milliseconds period{250};
  std::chrono::milliseconds keep_alive{15'000};
};

// A body produced piece by piece, for answers too large to hold in memory (checkpoint
// downloads): the server sends the headers with Content-Length: size_bytes, then calls `read`
// for the piece at `offset`, one call at a time and in order, until size_bytes are sent. `done`
// may run on any thread, with the next bytes (non-empty) or an error. After an error, empty
// bytes or bytes past size_bytes the server closes the connection, so the client sees a body
// shorter than its Content-Length.
struct BodySource {
  using Piece = std::function<void(absl::StatusOr<std::string>)>;
  int64_t size_bytes = 0;
  std::function<void(int64_t offset, Piece done)> read;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers, e.g. ETag
  std::optional<EventStream> stream;                         // set: body is ignored
  std::optional<BodySource> source;                          // set: body is ignored
};

// Answers a request exactly once, from any thread.
using Reply = std::function<void(HttpResponse)>;
using Handler = std::function<void(const HttpRequest&, Reply)>;

// The JSON error body of the dashboard contract:
// {"error": {"code": status, "message": message, "parameter": parameter}} (parameter omitted
// when empty).
HttpResponse ErrorResponse(int status, const std::string& message,
                           const std::string& parameter = "");

// "a%20b+c" -> "a b c"; malformed escapes are kept as they are.
std::string PercentDecode(const std::string& text);
// Splits "a=1&b=x%20y" into decoded pairs.
std::map<std::string, std::string> ParseQuery(const std::string& query);

}  // namespace sparsescale::coordinator::http
