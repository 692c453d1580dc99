#include "bench/coordinator/http_get.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace sparsescale::bench {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;

struct HttpGetter::Impl {
  int port = 0;
  net::io_context io;
  std::unique_ptr<beast::tcp_stream> stream;
  beast::flat_buffer buffer;

  bool Connect() {
    stream = std::make_unique<beast::tcp_stream>(io);
    beast::error_code ec;
    stream->connect(
        net::ip::tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port)),
        ec);
    buffer.clear();
    return !ec;
  }
};

HttpGetter::HttpGetter(int port) : impl_(std::make_unique<Impl>()) {
  impl_->port = port;
  impl_->Connect();
}

HttpGetter::~HttpGetter() = default;

int HttpGetter::Get(const std::string& target, std::string* body) {
  for (int attempt = 0; attempt < 2; ++attempt) {  // once more on a connection the server closed
    bhttp::request<bhttp::empty_body> req(bhttp::verb::get, target, 11);
    req.set(bhttp::field::host, "127.0.0.1");
    req.keep_alive(true);
    beast::error_code ec;
    bhttp::write(*impl_->stream, req, ec);
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(1ULL << 30);
    if (!ec) {
      bhttp::read(*impl_->stream, impl_->buffer, parser, ec);
    }
    if (!ec) {
      if (body != nullptr) {
        *body = parser.get().body();
      }
      if (!parser.get().keep_alive()) {
        impl_->Connect();
      }
      return parser.get().result_int();
    }
    if (!impl_->Connect()) {
      return 0;
    }
  }
  return 0;
}

}  // namespace sparsescale::bench
