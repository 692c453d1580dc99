#include "tests/coordinator/http_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "absl/strings/ascii.h"

namespace sparsescale::coordinator::testing {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

template <class Stream>
HttpAnswer Exchange(Stream& stream, const std::string& method, const std::string& target,
                    const std::map<std::string, std::string>& headers, const std::string& body,
                    bool keep_alive) {
  HttpAnswer answer;
  bhttp::request<bhttp::string_body> req(bhttp::string_to_verb(method), target, 11);
  req.set(bhttp::field::host, "127.0.0.1");
  for (const auto& [name, value] : headers) {
    req.set(name, value);
  }
  req.keep_alive(keep_alive);
  req.body() = body;
  if (headers.count("Content-Length") == 0) {  // a test may claim a length it does not send
    req.prepare_payload();
  }
  beast::error_code ec;
  beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(30));
  bhttp::write(stream, req, ec);
  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(1ULL << 30);
  if (!ec) {
    bhttp::read(stream, buffer, parser, ec);
  }
  if (ec) {
    answer.error = ec.message();
    return answer;
  }
  const auto& res = parser.get();
  answer.status = res.result_int();
  for (const auto& field : res) {
    answer.headers[absl::AsciiStrToLower(std::string(field.name_string()))] =
        std::string(field.value());
  }
  answer.body = res.body();
  return answer;
}

}  // namespace

HttpAnswer HttpFetch(int port, const std::string& method, const std::string& target,
                     const std::map<std::string, std::string>& headers, const std::string& body) {
  net::io_context io;
  beast::tcp_stream stream(io);
  beast::error_code ec;
  stream.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port)),
                 ec);
  if (ec) {
    HttpAnswer failed;
    failed.error = ec.message();
    return failed;
  }
  HttpAnswer answer = Exchange(stream, method, target, headers, body, /*keep_alive=*/false);
  stream.socket().shutdown(tcp::socket::shutdown_both, ec);
  return answer;
}

HttpAnswer HttpsFetch(int port, const std::string& ca_file, const std::string& method,
                      const std::string& target, const std::map<std::string, std::string>& headers,
                      const std::string& body) {
  HttpAnswer failed;
  net::io_context io;
  net::ssl::context tls(net::ssl::context::tls_client);
  beast::error_code ec;
  tls.load_verify_file(ca_file, ec);
  if (ec) {
    failed.error = "cannot load " + ca_file + ": " + ec.message();
    return failed;
  }
  tls.set_verify_mode(net::ssl::verify_peer);
  beast::ssl_stream<beast::tcp_stream> stream(io, tls);
  stream.set_verify_callback(net::ssl::host_name_verification("127.0.0.1"));
  beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(30));
  beast::get_lowest_layer(stream).connect(
      tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port)), ec);
  if (!ec) {
    stream.handshake(net::ssl::stream_base::client, ec);
  }
  if (ec) {
    failed.error = ec.message();
    return failed;
  }
  HttpAnswer answer = Exchange(stream, method, target, headers, body, /*keep_alive=*/false);
  beast::get_lowest_layer(stream).socket().shutdown(tcp::socket::shutdown_both, ec);
  return answer;
}

struct HttpConnection::Impl {
  net::io_context io;
  beast::tcp_stream stream{io};
};

HttpConnection::HttpConnection(int port) : impl_(std::make_unique<Impl>()) {
  impl_->stream.connect(
      tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port)));
}

HttpConnection::~HttpConnection() = default;

HttpAnswer HttpConnection::Get(const std::string& target) {
  return Exchange(impl_->stream, "GET", target, {}, "", /*keep_alive=*/true);
}

struct EventReader::Impl {
  net::io_context io;
  beast::tcp_stream stream{io};
  beast::flat_buffer buffer;
  std::map<std::string, std::string> headers;
  std::string pending;  // bytes read past the headers, not yet split into events
};

EventReader::EventReader(int port, const std::string& target) : impl_(std::make_unique<Impl>()) {
  impl_->stream.connect(
      tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port)));
  const std::string request = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  net::write(impl_->stream, net::buffer(request));
  bhttp::response_parser<bhttp::empty_body> parser;
  impl_->stream.expires_after(std::chrono::seconds(10));
  bhttp::read_header(impl_->stream, impl_->buffer, parser);
  for (const auto& field : parser.get()) {
    impl_->headers[absl::AsciiStrToLower(std::string(field.name_string()))] =
        std::string(field.value());
  }
  impl_->pending = beast::buffers_to_string(impl_->buffer.data());
  impl_->buffer.consume(impl_->buffer.size());
}

EventReader::~EventReader() = default;

const std::map<std::string, std::string>& EventReader::headers() const { return impl_->headers; }

std::string EventReader::Next(const std::string& event, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    const size_t end = impl_->pending.find("\n\n");
    if (end != std::string::npos) {
      const std::string block = impl_->pending.substr(0, end);
      impl_->pending.erase(0, end + 2);
      const std::string want = "event: " + event + "\ndata: ";
      if (block.rfind(want, 0) == 0) {
        return block.substr(want.size());
      }
      continue;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return "";
    }
    char chunk[4096];
    beast::error_code ec;
    size_t n = 0;
    impl_->stream.expires_at(deadline);  // the read ends by the deadline at the latest
    impl_->stream.async_read_some(net::buffer(chunk), [&](beast::error_code e, size_t k) {
      ec = e;
      n = k;
    });
    impl_->io.restart();
    impl_->io.run();
    if (ec) {
      return "";
    }
    impl_->pending.append(chunk, n);
  }
}

}  // namespace sparsescale::coordinator::testing
