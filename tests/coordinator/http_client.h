// Test support: a small blocking HTTP/1.1 client over loopback (Boost.Beast; HTTPS through
// asio::ssl), one connection per call unless a Connection is kept, and a reader for server-sent
// events.
// Not thread-safe.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"

namespace sparsescale::coordinator::testing {

struct HttpAnswer {
  int status = 0;                              // 0: the request failed (error says why)
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
  std::string error;
  nlohmann::json Json() const { return nlohmann::json::parse(body, nullptr, false); }
};

// One request on a new connection to 127.0.0.1:port.
HttpAnswer HttpFetch(int port, const std::string& method, const std::string& target,
                     const std::map<std::string, std::string>& headers = {},
                     const std::string& body = "");
inline HttpAnswer HttpGet(int port, const std::string& target,
                          const std::map<std::string, std::string>& headers = {}) {
  return HttpFetch(port, "GET", target, headers);
}

// One request over HTTPS to 127.0.0.1:port, verifying the server's certificate against the CA
// in `ca_file` and its name against 127.0.0.1. A refused handshake: status 0 and `error` with
// OpenSSL's reason ("certificate verify failed").
HttpAnswer HttpsFetch(int port, const std::string& ca_file, const std::string& method,
                      const std::string& target,
                      const std::map<std::string, std::string>& headers = {},
                      const std::string& body = "");

// A kept-alive connection: several requests on one socket.
class HttpConnection {
 public:
  explicit HttpConnection(int port);
  ~HttpConnection();
  HttpAnswer Get(const std::string& target);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A GET of an event stream; Next() returns the data of the next event called `event` within
// `timeout`, or "" when none came.
class EventReader {
 public:
  EventReader(int port, const std::string& target);
  ~EventReader();
  const std::map<std::string, std::string>& headers() const;
  std::string Next(const std::string& event, std::chrono::milliseconds timeout);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sparsescale::coordinator::testing
