#include "coordinator/http/http_server.h"

#include <algorithm>
#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/core/detect_ssl.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/log.h"
#include "common/status.h"

namespace sparsescale::coordinator::http {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = net::ip::tcp;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

namespace {

constexpr std::chrono::milliseconds kStreamWriteTimeout{30'000};
// After an error answer to a request whose body is still arriving (413), the rest of the body
// is read and dropped, up to this much for this long, before the connection closes; closing
// with unread bytes would send a reset that can destroy the answer before the client reads it.
constexpr int64_t kDrainBytes = 64 << 20;
constexpr std::chrono::seconds kDrainTimeout(5);
constexpr std::chrono::milliseconds kStopGrace{2'000};
constexpr const char* kEventStreamHead =
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
    "Connection: close\r\n\r\n";
// The answer to plain text on the HTTPS port (sent unencrypted, so that a curl or browser
// pointed at http:// shows why).
constexpr const char* kPlainOnTlsBody = "this port serves HTTPS: use https:// (TLS is on)\n";

std::string BearerToken(const std::string& authorization) {
  constexpr absl::string_view kPrefix = "Bearer ";
  return absl::StartsWithIgnoreCase(authorization, kPrefix) ? authorization.substr(kPrefix.size())
                                                            : std::string();
}

// The browser's way to carry a token (EventSource cannot set headers): the cookie
// `sparsescale_token`, used only when there is no Authorization header. "" when absent.
std::string CookieToken(absl::string_view cookies) {
  constexpr absl::string_view kName = "sparsescale_token=";
  for (absl::string_view part : absl::StrSplit(cookies, ';')) {
    part = absl::StripAsciiWhitespace(part);
    if (absl::StartsWith(part, kName)) {
      return std::string(part.substr(kName.size()));
    }
  }
  return "";
}

HttpRequest ToRequest(const bhttp::request<bhttp::string_body>& req) {
  HttpRequest request;
  request.method = std::string(req.method_string());
  const std::string target(req.target());
  const size_t question = target.find('?');
  request.path = target.substr(0, question);
  if (question != std::string::npos) {
    request.query = ParseQuery(target.substr(question + 1));
  }
  request.authorization = std::string(req[bhttp::field::authorization]);
  if (request.authorization.empty()) {
    const auto cookies = req[bhttp::field::cookie];
    const std::string token = CookieToken(absl::string_view(cookies.data(), cookies.size()));
    if (!token.empty()) {
      request.authorization = "Bearer " + token;
    }
  }
  request.if_none_match = std::string(req[bhttp::field::if_none_match]);
  request.body = req.body();
  return request;
}

// Closes the TCP connection under a plain or TLS stream. A TLS stream sends no close_notify:
// every answer has a Content-Length or ends an event stream the client is done with, so a
// truncated TLS stream loses nothing, and waiting for a peer's close_notify would let a slow
// peer hold the session.
template <class Stream>
void CloseStream(Stream& stream) {
  beast::tcp_stream& tcp = beast::get_lowest_layer(stream);
  beast::error_code ec;
  tcp.socket().shutdown(tcp::socket::shutdown_both, ec);
  tcp.close();
}

std::string PeerOf(beast::tcp_stream& stream) {
  beast::error_code ec;
  const tcp::endpoint peer = stream.socket().remote_endpoint(ec);
  return ec ? std::string("an unknown peer")
            : absl::StrCat(peer.address().to_string(), ":", peer.port());
}

// The server's TLS context from PEM files; InvalidArgument naming the flag and OpenSSL's
// reason when one cannot be loaded or the key does not match the certificate.
absl::StatusOr<std::unique_ptr<ssl::context>> TlsContext(const std::string& cert_file,
                                                         const std::string& key_file) {
  auto context = std::make_unique<ssl::context>(ssl::context::tls_server);
  context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                       ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
  beast::error_code ec;
  context->use_certificate_chain_file(cert_file, ec);
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat("--tls-cert: cannot load ", cert_file, " for HTTPS: ", ec.message()));
  }
  context->use_private_key_file(key_file, ssl::context::pem, ec);
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat("--tls-key: cannot load ", key_file, " for HTTPS: ", ec.message()));
  }
  if (::SSL_CTX_check_private_key(context->native_handle()) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("--tls-key: ", key_file,
                                                   " is not the private key of ", cert_file));
  }
  return context;
}

}  // namespace

class SessionBase {
 public:
  virtual ~SessionBase() = default;
  virtual void Close() = 0;
};

struct HttpServer::Impl {
  // First, so that sessions destroyed with the io_context can still unregister.
  std::mutex mu;
  std::condition_variable threads_done;
  int threads_running = 0;                                                // guarded by mu
  std::unordered_map<SessionBase*, std::weak_ptr<SessionBase>> sessions;  // guarded by mu

  HttpServerOptions options;
  const Router* router = nullptr;
  Authorizer authorizer;
  net::io_context io;
  std::unique_ptr<ssl::context> tls;  // null: plain HTTP
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work{io.get_executor()};
  tcp::acceptor acceptor{io};
  std::vector<std::thread> threads;
  std::string host;
  int port = 0;
  std::atomic<bool> stopped{false};

  void Accept();
  void Dispatch(HttpRequest request, Reply reply);
  void Register(const std::shared_ptr<SessionBase>& session);
  void Unregister(SessionBase* session);
};

// One connection. Stream: beast::tcp_stream, or TlsStream (which first tells TLS from plain
// text and handshakes; see Detect).
template <class Stream>
class Session : public SessionBase, public std::enable_shared_from_this<Session<Stream>> {
 public:
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

  Session(Stream stream, HttpServer::Impl* server)
      : stream_(std::move(stream)), server_(server), timer_(stream_.get_executor()) {}
  ~Session() override { server_->Unregister(this); }

  void Start() {
    net::dispatch(stream_.get_executor(), [self = this->shared_from_this()] {
      if constexpr (kTls) {
        self->Detect();
      } else {
        self->Read();
      }
    });
  }
  void Close() override {
    net::post(stream_.get_executor(), [self = this->shared_from_this()] { self->Shut(); });
  }

 private:
  beast::tcp_stream& Tcp() { return beast::get_lowest_layer(stream_); }

  void Shut() {
    closing_ = true;
    timer_.cancel();
    CloseStream(stream_);
  }

  // HTTPS only: reads until the first bytes tell a TLS ClientHello from anything else (kept in
  // buffer_ either way), within the read timeout.
  void Detect() {
    Tcp().expires_after(server_->options.read_timeout);
    beast::async_detect_ssl(Tcp(), buffer_,
                            [self = this->shared_from_this()](beast::error_code ec, bool tls) {
                              self->OnDetect(ec, tls);
                            });
  }

  void OnDetect(beast::error_code ec, bool tls) {
    if (closing_) {
      return;
    }
    if (ec) {
      Shut();  // closed or timed out before saying anything
      return;
    }
    if (!tls) {
      LogWarning("https: %s sent plain text (not TLS) to the HTTPS port %d: answered 400 and closed",
                 PeerOf(Tcp()), server_->port);
      auto text = std::make_shared<std::string>(absl::StrCat(
          "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n"
          "Content-Length: ",
          std::char_traits<char>::length(kPlainOnTlsBody), "\r\n\r\n", kPlainOnTlsBody));
      Tcp().expires_after(kDrainTimeout);
      net::async_write(Tcp(), net::buffer(*text),
                       [self = this->shared_from_this(), text](beast::error_code e, size_t) {
                         if (e) {
                           self->Shut();
                           return;
                         }
                         self->plain_drain_ = true;
                         self->Drain();
                       });
      return;
    }
    if constexpr (kTls) {
      stream_.async_handshake(ssl::stream_base::server, buffer_.data(),
                              [self = this->shared_from_this()](beast::error_code e, size_t used) {
                                self->OnHandshake(e, used);
                              });
    }
  }

  void OnHandshake(beast::error_code ec, size_t used) {
    if (closing_) {
      return;
    }
    if (ec) {
      LogWarning("https: TLS handshake with %s failed: %s", PeerOf(Tcp()), ec.message());
      Shut();
      return;
    }
    buffer_.consume(used);
    Read();
  }

  void Read() {
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(server_->options.max_header_bytes));
    parser_->body_limit(static_cast<uint64_t>(server_->options.max_body_bytes));
    Tcp().expires_after(server_->options.read_timeout);
    bhttp::async_read(
        stream_, buffer_, *parser_,
        [self = this->shared_from_this()](beast::error_code ec, size_t) { self->OnRead(ec); });
  }

  void OnRead(beast::error_code ec) {
    if (closing_) {
      return;
    }
    if (ec == bhttp::error::body_limit || ec == bhttp::error::header_limit) {
      keep_alive_ = false;
      drain_ = true;
      const bool body = ec == bhttp::error::body_limit;
      Write(ErrorResponse(
          body ? 413 : 431,
          body
              ? absl::StrCat("request body over ", server_->options.max_body_bytes, " bytes")
              : absl::StrCat("request header over ", server_->options.max_header_bytes, " bytes")));
      return;
    }
    if (ec) {
      Shut();  // end of stream, timeout or a malformed request: nothing to answer
      return;
    }
    Tcp().expires_never();  // the handler's answer may take a while; the write has a deadline
    keep_alive_ = parser_->get().keep_alive();
    server_->Dispatch(
        ToRequest(parser_->get()), [self = this->shared_from_this()](HttpResponse response) {
          net::post(self->stream_.get_executor(), [self, response = std::move(response)]() mutable {
            self->Write(std::move(response));
          });
        });
  }

  void Write(HttpResponse response) {
    if (closing_) {
      return;
    }
    if (response.stream.has_value()) {
      events_ = std::move(*response.stream);
      Send(kEventStreamHead);
      return;
    }
    if (response.source.has_value()) {
      StartSource(std::move(response));
      return;
    }
    auto res = std::make_shared<bhttp::response<bhttp::string_body>>();
    SetHead(response, *res);
    res->body() = std::move(response.body);
    res->prepare_payload();
    Tcp().expires_after(server_->options.write_timeout);
    bhttp::async_write(stream_, *res,
                       [self = this->shared_from_this(), res](beast::error_code ec, size_t) {
                         if (!ec && self->drain_) {
                           self->Drain();
                           return;
                         }
                         if (ec || !self->keep_alive_ || res->need_eof()) {
                           self->Shut();
                           return;
                         }
                         self->Read();
                       });
  }

  // The status line and headers of every answer but an event stream: Server, Content-Type, the
  // handler's extra headers, and Connection as the request asked.
  template <class Body>
  void SetHead(const HttpResponse& response, bhttp::response<Body>& res) const {
    res.version(11);
    res.result(static_cast<bhttp::status>(response.status));
    res.set(bhttp::field::server, "sparsescale-coordinator");
    if (!response.content_type.empty()) {
      res.set(bhttp::field::content_type, response.content_type);
    }
    for (const auto& [name, value] : response.headers) {
      res.set(name, value);
    }
    res.keep_alive(keep_alive_);
  }

  // A BodySource answer: the headers (with its Content-Length), then one piece at a time.
  void StartSource(HttpResponse response) {
    source_ = std::move(*response.source);
    source_sent_ = 0;
    bhttp::response<bhttp::empty_body> head;
    SetHead(response, head);
    head.content_length(source_.size_bytes);
    std::ostringstream text;
    text << head.base();  // Beast writes the status line, the fields and the blank line
    WritePiece(std::move(text).str());
  }

  // Writes `bytes` (within the write timeout), then asks the source for the next piece; after
  // the last one the connection reads the next request (or closes without keep-alive).
  void WritePiece(std::string bytes) {
    auto buffer = std::make_shared<std::string>(std::move(bytes));
    Tcp().expires_after(server_->options.write_timeout);
    net::async_write(stream_, net::buffer(*buffer),
                     [self = this->shared_from_this(), buffer](beast::error_code ec, size_t) {
                       if (ec || self->closing_) {
                         self->Shut();
                         return;
                       }
                       self->NextPiece();
                     });
  }

  void NextPiece() {
    if (source_sent_ == source_.size_bytes) {
      source_ = BodySource{};
      keep_alive_ ? Read() : Shut();
      return;
    }
    Tcp().expires_never();  // the source's read may take a while; each write has a deadline
    source_.read(
        source_sent_, [self = this->shared_from_this()](absl::StatusOr<std::string> piece) {
          net::post(self->stream_.get_executor(), [self, piece = std::move(piece)]() mutable {
            self->OnPiece(std::move(piece));
          });
        });
  }

  void OnPiece(absl::StatusOr<std::string> piece) {
    if (closing_) {
      return;
    }
    if (!piece.ok() || piece->empty() ||
        static_cast<int64_t>(piece->size()) > source_.size_bytes - source_sent_) {
      LogWarning("http: body of %d bytes to %s stopped at byte %d: %s", source_.size_bytes,
                 PeerOf(Tcp()), source_sent_,
                 piece.ok() ? std::string(piece->empty() ? "the source ended early"
                                                         : "the source overran its size")
                            : piece.status().ToString());
      Shut();
      return;
    }
    source_sent_ += static_cast<int64_t>(piece->size());
    WritePiece(std::move(*piece));
  }

  // Half-closes, then reads and drops what the client still sends (kDrainBytes, kDrainTimeout)
  // before closing.
  void Drain() {
    beast::error_code ec;
    Tcp().socket().shutdown(tcp::socket::shutdown_send, ec);
    Tcp().expires_after(kDrainTimeout);
    drain_scratch_.resize(64 << 10);
    DrainSome();
  }

  // Reads through TLS, except after the plain-text refusal (the bytes are not TLS).
  void DrainSome() {
    auto next = [self = this->shared_from_this()](beast::error_code ec, size_t n) {
      self->drained_ += static_cast<int64_t>(n);
      if (ec || self->closing_ || self->drained_ > kDrainBytes) {
        self->Shut();
        return;
      }
      self->DrainSome();
    };
    if (plain_drain_) {
      Tcp().async_read_some(net::buffer(drain_scratch_), std::move(next));
    } else {
      stream_.async_read_some(net::buffer(drain_scratch_), std::move(next));
    }
  }

  // Event streams: write `text`, then poll again after the period.
  void Send(std::string text) {
    auto buffer = std::make_shared<std::string>(std::move(text));
    Tcp().expires_after(kStreamWriteTimeout);
    net::async_write(stream_, net::buffer(*buffer),
                     [self = this->shared_from_this(), buffer](beast::error_code ec, size_t) {
                       if (ec || self->closing_) {
                         self->Shut();
                         return;
                       }
                       self->last_sent_ = std::chrono::steady_clock::now();
                       self->Wait();
                     });
  }

  void Wait() {
    Tcp().expires_never();
    timer_.expires_after(events_.period);
    timer_.async_wait([self = this->shared_from_this()](beast::error_code ec) {
      if (ec || self->closing_) {
        self->Shut();
        return;
      }
      std::optional<std::string> text = self->events_.poll();
      if (!text.has_value() &&
          std::chrono::steady_clock::now() - self->last_sent_ >= self->events_.keep_alive) {
        text = ": keep-alive\n\n";
      }
      if (text.has_value()) {
        self->Send(std::move(*text));
      } else {
        self->Wait();
      }
    });
  }

  Stream stream_;
  HttpServer::Impl* const server_;
  net::steady_timer timer_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  bool keep_alive_ = true;
  bool closing_ = false;
  bool drain_ = false;  // the answer is an error sent before the request was read whole
  bool plain_drain_ = false;  // draining what a plain-text client sent to the HTTPS port
  std::vector<char> drain_scratch_;
  int64_t drained_ = 0;
  EventStream events_;
  std::chrono::steady_clock::time_point last_sent_;
  BodySource source_;        // the answer being sent, when it is a BodySource
  int64_t source_sent_ = 0;  // its bytes sent so far
};

void HttpServer::Impl::Register(const std::shared_ptr<SessionBase>& session) {
  std::lock_guard<std::mutex> lock(mu);
  sessions.emplace(session.get(), session);
}

void HttpServer::Impl::Unregister(SessionBase* session) {
  std::lock_guard<std::mutex> lock(mu);
  sessions.erase(session);
}

void HttpServer::Impl::Accept() {
  acceptor.async_accept(net::make_strand(io), [this](beast::error_code ec, tcp::socket socket) {
    if (ec) {
      if (!stopped.load()) {
        LogWarning("http accept: %s", ec.message());
        Accept();
      }
      return;
    }
    size_t open = 0;
    {
      std::lock_guard<std::mutex> lock(mu);
      open = sessions.size();
    }
    if (open >= static_cast<size_t>(options.max_connections)) {
      beast::error_code ignored;
      socket.close(ignored);
    } else if (tls != nullptr) {
      auto session = std::make_shared<Session<TlsStream>>(
          TlsStream(beast::tcp_stream(std::move(socket)), *tls), this);
      Register(session);
      session->Start();
    } else {
      auto session =
          std::make_shared<Session<beast::tcp_stream>>(beast::tcp_stream(std::move(socket)), this);
      Register(session);
      session->Start();
    }
    Accept();
  });
}

void HttpServer::Impl::Dispatch(HttpRequest request, Reply reply) {
  Router::Match match = router->Find(request.method, request.path);
  if (match.route == nullptr) {
    if (match.status == 404) {
      reply(ErrorResponse(404, absl::StrCat("no such path: ", request.path)));
      return;
    }
    HttpResponse refused =
        ErrorResponse(405, absl::StrCat(request.method, " is not allowed on ", request.path,
                                        " (allowed: ", match.allowed, ")"));
    refused.headers.emplace_back("Allow", match.allowed);
    reply(std::move(refused));
    return;
  }
  const absl::Status allowed = authorizer(BearerToken(request.authorization), match.route->role);
  if (!allowed.ok()) {
    reply(ErrorResponse(absl::IsUnauthenticated(allowed) ? 401 : 403,
                        std::string(allowed.message())));
    return;
  }
  request.params = std::move(match.params);
  try {
    match.route->handler(request, std::move(reply));
  } catch (const std::exception& e) {  // a handler bug must not take the server down
    LogError("http handler for %s threw: %s", request.path, e.what());
  }
}

Authorizer AllowAll() {
  return [](const std::string&, Role) { return absl::OkStatus(); };
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(const HttpServerOptions& options,
                                                              const Router* router,
                                                              Authorizer authorizer) {
  const size_t colon = options.listen.rfind(':');
  int port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(options.listen.substr(colon + 1), &port) ||
      port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("http listen address \"", options.listen, "\" is not HOST:PORT"));
  }
  std::string host = options.listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  auto impl = std::make_unique<Impl>();
  if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
    return absl::InvalidArgumentError("--tls-cert and --tls-key: give both or neither");
  }
  if (!options.tls_cert_file.empty()) {
    ASSIGN_OR_RETURN(impl->tls, TlsContext(options.tls_cert_file, options.tls_key_file));
  }
  impl->options = options;
  impl->router = router;
  impl->authorizer = authorizer ? std::move(authorizer) : AllowAll();
  beast::error_code ec;
  tcp::resolver resolver(impl->io);
  auto endpoints = resolver.resolve(host, std::to_string(port), ec);
  if (ec || endpoints.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("http listen host \"", host, "\": ", ec.message()));
  }
  const tcp::endpoint endpoint = *endpoints.begin();
  impl->acceptor.open(endpoint.protocol(), ec);
  if (!ec) {
    impl->acceptor.set_option(net::socket_base::reuse_address(true), ec);
    impl->acceptor.bind(endpoint, ec);
  }
  if (!ec) {
    impl->acceptor.listen(net::socket_base::max_listen_connections, ec);
  }
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen for http on ", options.listen, ": ", ec.message()));
  }
  impl->host = host;
  impl->port = impl->acceptor.local_endpoint().port();
  impl->Accept();
  Impl* raw = impl.get();
  raw->threads_running = std::max(1, options.threads);
  for (int i = 0; i < raw->threads_running; ++i) {
    raw->threads.emplace_back([raw] {
      raw->io.run();
      std::lock_guard<std::mutex> lock(raw->mu);
      raw->threads_running -= 1;
      raw->threads_done.notify_all();
    });
  }
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

void HttpServer::Stop() {
  if (impl_->stopped.exchange(true)) {
    return;
  }
  net::post(impl_->io, [impl = impl_.get()] {
    beast::error_code ec;
    impl->acceptor.close(ec);
  });
  std::vector<std::shared_ptr<SessionBase>> open;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    for (auto& [raw, weak] : impl_->sessions) {
      if (auto session = weak.lock()) {
        open.push_back(std::move(session));
      }
    }
  }
  for (auto& session : open) {
    session->Close();
  }
  open.clear();
  impl_->work.reset();
  {
    // Sessions waiting for a handler's answer hold no operation, so the threads end once every
    // connection is closed; a peer that does not let go is cut off after the grace.
    std::unique_lock<std::mutex> lock(impl_->mu);
    impl_->threads_done.wait_for(lock, kStopGrace, [this] { return impl_->threads_running == 0; });
  }
  impl_->io.stop();
  for (std::thread& thread : impl_->threads) {
    thread.join();
  }
}

HttpServer::~HttpServer() { Stop(); }

int HttpServer::port() const { return impl_->port; }

bool HttpServer::tls() const { return impl_->tls != nullptr; }

std::string HttpServer::address() const {
  const bool v6 = impl_->host.find(':') != std::string::npos;
  return v6 ? absl::StrCat("[", impl_->host, "]:", impl_->port)
            : absl::StrCat(impl_->host, ":", impl_->port);
}

}  // namespace sparsescale::coordinator::http
