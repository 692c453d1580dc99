// Support for the dashboard benchmark: a blocking HTTP/1.1 GET client over one kept-alive
// loopback connection (Boost.Beast). Not thread-safe: one per thread.
#pragma once

#include <memory>
#include <string>

namespace sparsescale::bench {

class HttpGetter {
 public:
  explicit HttpGetter(int port);
  ~HttpGetter();
  // GETs `target`; the status code (0 when the connection failed) and the body in *body.
  int Get(const std::string& target, std::string* body = nullptr);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sparsescale::bench
