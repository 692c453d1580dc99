#include "kernels/cpu/tcp_comm.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace sparsescale::kernels {
namespace {

using Clock = std::chrono::steady_clock;

constexpr uint32_t kMagic = 0x53534450;  // "SSDP": sparsescale data parallel
constexpr uint32_t kVersion = 1;
constexpr uint32_t kKindJoin = 1;
constexpr uint32_t kKindRing = 2;
constexpr uint32_t kKindCollective = 3;
// Floats per ring chunk in one segment of a collective: bounds the scratch buffer (1 MiB) while
// keeping each message large enough that per-message costs do not dominate.
constexpr size_t kChunkFloats = size_t{1} << 18;
constexpr int kRetryMs = 20;

std::string ErrnoText(int err) { return std::strerror(err); }

// Owns a file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) {
      ::close(fd_);
    }
  }
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      if (fd_ >= 0) {
        ::close(fd_);
      }
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_ = -1;
};

int MsLeft(Clock::time_point deadline) {
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return static_cast<int>(std::clamp<int64_t>(left, 0, 1 << 30));
}

// "host:port" -> IPv4 socket address. Names are resolved (e.g. "localhost").
absl::StatusOr<sockaddr_in> ParseAddress(const std::string& address, const std::string& what) {
  const size_t colon = address.rfind(':');
  int port = -1;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(address.substr(colon + 1), &port) || port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": expected host:port, got \"", address, "\""));
  }
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const std::string host = address.substr(0, colon);
  const int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &found);
  if (rc != 0 || found == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": cannot resolve host \"", host, "\": ", ::gai_strerror(rc)));
  }
  sockaddr_in addr{};
  std::memcpy(&addr, found->ai_addr, sizeof(addr));
  ::freeaddrinfo(found);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  return addr;
}

std::string FormatAddress(const sockaddr_in& addr) {
  char host[INET_ADDRSTRLEN] = {};
  ::inet_ntop(AF_INET, &addr.sin_addr, host, sizeof(host));
  return absl::StrCat(host, ":", ntohs(addr.sin_port));
}

void SetNoDelay(int fd) {
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

// Moves send_n bytes out on send_fd and recv_n bytes in on recv_fd concurrently (both sockets
// are non-blocking), so ring neighbours that send large messages to each other never deadlock
// on full socket buffers. Fails after timeout_ms without any progress. Errors name the peers.
absl::Status Exchange(int send_fd, const char* send, size_t send_n, int recv_fd, char* recv,
                      size_t recv_n, int timeout_ms, const std::string& send_peer,
                      const std::string& recv_peer) {
  auto last_progress = Clock::now();
  while (send_n > 0 || recv_n > 0) {
    pollfd fds[2];
    int nfds = 0;
    int si = -1;
    int ri = -1;
    if (recv_n > 0) {
      ri = nfds;
      fds[nfds++] = pollfd{recv_fd, POLLIN, 0};
    }
    if (send_n > 0) {
      si = nfds;
      fds[nfds++] = pollfd{send_fd, POLLOUT, 0};
    }
    const int left = MsLeft(last_progress + std::chrono::milliseconds(timeout_ms));
    if (left <= 0) {
      const std::string& who = recv_n > 0 ? recv_peer : send_peer;
      return absl::InternalError(absl::StrCat("no data moved to or from ", who, " for ", timeout_ms,
                                              " ms (is it stuck?)"));
    }
    const int rc = ::poll(fds, static_cast<nfds_t>(nfds), left);
    if (rc < 0) {
      if (errno == EINTR) {
        continue;
      }
      return absl::InternalError("poll: " + ErrnoText(errno));
    }
    if (ri >= 0 && fds[ri].revents != 0) {
      const ssize_t got = ::recv(recv_fd, recv, recv_n, 0);
      if (got > 0) {
        recv += got;
        recv_n -= static_cast<size_t>(got);
        last_progress = Clock::now();
      } else if (got == 0) {
        return absl::UnavailableError(recv_peer + " closed the connection (did it exit?)");
      } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        return absl::UnavailableError(
            absl::StrCat("receiving from ", recv_peer, ": ", ErrnoText(errno)));
      }
    }
    if (si >= 0 && fds[si].revents != 0) {
      const ssize_t put = ::send(send_fd, send, send_n, MSG_NOSIGNAL);
      if (put > 0) {
        send += put;
        send_n -= static_cast<size_t>(put);
        last_progress = Clock::now();
      } else if (put < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        return absl::UnavailableError(absl::StrCat("sending to ", send_peer, ": ",
                                                   ErrnoText(errno),
                                                   errno == EPIPE ? " (did it exit?)" : ""));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status SendAll(int fd, const void* data, size_t n, int timeout_ms, const std::string& peer) {
  return Exchange(fd, static_cast<const char*>(data), n, fd, nullptr, 0, timeout_ms, peer, peer);
}

absl::Status RecvAll(int fd, void* data, size_t n, int timeout_ms, const std::string& peer) {
  return Exchange(fd, nullptr, 0, fd, static_cast<char*>(data), n, timeout_ms, peer, peer);
}

absl::StatusOr<Fd> AcceptBefore(int listen_fd, Clock::time_point deadline,
                                const std::string& waiting_for) {
  while (true) {
    pollfd p{listen_fd, POLLIN, 0};
    const int left = MsLeft(deadline);
    const int rc = ::poll(&p, 1, left);
    if (rc < 0 && errno != EINTR) {
      return absl::InternalError("poll: " + ErrnoText(errno));
    }
    if (rc > 0) {
      Fd fd(::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
      if (fd.get() >= 0) {
        SetNoDelay(fd.get());
        return fd;
      }
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED) {
        return absl::InternalError("accept: " + ErrnoText(errno));
      }
    }
    if (left <= 0) {
      return absl::DeadlineExceededError(
          absl::StrCat("rendezvous: timed out waiting for ", waiting_for));
    }
  }
}

// One connection attempt; returns the errno of a refused or failed attempt as `err`.
Fd TryConnect(const sockaddr_in& addr, Clock::time_point deadline, int* err) {
  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) {
    *err = errno;
    return Fd();
  }
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0) {
    return fd;
  }
  if (errno != EINPROGRESS) {
    *err = errno;
    return Fd();
  }
  pollfd p{fd.get(), POLLOUT, 0};
  if (::poll(&p, 1, std::max(1, MsLeft(deadline))) <= 0) {
    *err = ETIMEDOUT;
    return Fd();
  }
  int so_error = 0;
  socklen_t len = sizeof(so_error);
  ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &so_error, &len);
  if (so_error != 0) {
    *err = so_error;
    return Fd();
  }
  return fd;
}

// Connects to the address `resolve` gives, retrying while the peer is not listening yet (or,
// for a file rendezvous, while the file is missing: resolve returns Unavailable).
absl::StatusOr<Fd> ConnectBefore(const std::function<absl::StatusOr<std::string>()>& resolve,
                                 Clock::time_point deadline, const std::string& peer) {
  std::string last_problem = "no attempt made";
  while (true) {
    auto address = resolve();
    if (address.ok()) {
      ASSIGN_OR_RETURN(sockaddr_in addr, ParseAddress(*address, "address of " + peer));
      int err = 0;
      Fd fd = TryConnect(addr, deadline, &err);
      if (fd.get() >= 0) {
        SetNoDelay(fd.get());
        return fd;
      }
      if (err != ECONNREFUSED && err != ETIMEDOUT && err != ECONNRESET && err != EAGAIN &&
          err != EINTR) {
        return absl::InternalError(
            absl::StrCat("connecting to ", peer, " at ", *address, ": ", ErrnoText(err)));
      }
      last_problem = absl::StrCat(*address, ": ", ErrnoText(err));
    } else if (absl::IsUnavailable(address.status())) {
      last_problem = std::string(address.status().message());
    } else {
      return address.status();
    }
    if (MsLeft(deadline) <= 0) {
      return absl::DeadlineExceededError(
          absl::StrCat("rendezvous: could not reach ", peer, " in time (", last_problem, ")"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min(kRetryMs, MsLeft(deadline))));
  }
}

// The first message on every connection (network byte order).
struct Hello {
  uint32_t magic = kMagic;
  uint32_t version = kVersion;
  uint32_t kind = 0;
  uint32_t world_size = 0;
  uint32_t rank = 0;
  uint32_t port = 0;  // join: the sender's listening port
};

absl::Status SendHello(int fd, Hello h, int timeout_ms, const std::string& peer) {
  uint32_t words[6] = {htonl(h.magic),      htonl(h.version), htonl(h.kind),
                       htonl(h.world_size), htonl(h.rank),    htonl(h.port)};
  return SendAll(fd, words, sizeof(words), timeout_ms, peer);
}

// Receives a hello and checks that it comes from a peer of the same job and protocol.
absl::StatusOr<Hello> RecvHello(int fd, uint32_t kind, int world_size, int timeout_ms,
                                const std::string& peer) {
  uint32_t words[6];
  RETURN_IF_ERROR(RecvAll(fd, words, sizeof(words), timeout_ms, peer));
  Hello h{ntohl(words[0]), ntohl(words[1]), ntohl(words[2]),
          ntohl(words[3]), ntohl(words[4]), ntohl(words[5])};
  if (h.magic != kMagic || h.version != kVersion) {
    return absl::InternalError(
        absl::StrCat("rendezvous: ", peer, " is not a sparsescale rank of this protocol version"));
  }
  if (h.kind != kind) {
    return absl::InternalError(
        absl::StrCat("rendezvous: unexpected message kind ", h.kind, " from ", peer));
  }
  if (h.world_size != static_cast<uint32_t>(world_size)) {
    return absl::InternalError(absl::StrCat("rendezvous: rank ", h.rank, " has world size ",
                                            h.world_size, ", this rank has ", world_size));
  }
  if (h.rank >= static_cast<uint32_t>(world_size)) {
    return absl::InternalError(absl::StrCat("rendezvous: peer claims rank ", h.rank));
  }
  return h;
}

// The ring all-reduce over two connected sockets: to the next rank and from the previous.
class TcpCommunicator final : public Communicator {
 public:
  TcpCommunicator(int rank, int world_size, Fd to_next, Fd from_prev, int io_timeout_ms)
      : rank_(rank),
        world_size_(world_size),
        to_next_(std::move(to_next)),
        from_prev_(std::move(from_prev)),
        io_timeout_ms_(io_timeout_ms),
        next_name_(absl::StrCat("rank ", (rank + 1) % world_size)),
        prev_name_(absl::StrCat("rank ", (rank + world_size - 1) % world_size)) {}

  int rank() const override { return rank_; }
  int world_size() const override { return world_size_; }

  absl::Status AllReduceSum(float* x, size_t n) override {
    if (n > 0 && x == nullptr) {
      return absl::InvalidArgumentError("AllReduceSum: x is null");
    }
    if (!broken_.ok()) {
      return absl::Status(broken_.code(),
                          absl::StrCat("communicator unusable after an earlier error: ",
                                       broken_.message()));
    }
    if (world_size_ == 1) {
      return absl::OkStatus();
    }
    absl::Status s = Run(x, n);
    if (!s.ok()) {
      // The code is kept: UNAVAILABLE for a peer that is gone (its process or machine died, so
      // the worker reports an infrastructure failure and the gang resumes from its checkpoint),
      // INTERNAL for ranks that disagree.
      broken_ = absl::Status(s.code(), absl::StrCat("rank ", rank_, ": ", s.message()));
      return broken_;
    }
    return absl::OkStatus();
  }

  absl::Status Barrier() override {
    // Every rank's result depends on every other rank's data, so none returns early.
    std::vector<float> token(static_cast<size_t>(world_size_), 1.0f);
    return AllReduceSum(token.data(), token.size());
  }

 private:
  absl::Status Run(float* x, size_t n) {
    RETURN_IF_ERROR(CheckHeader(n));
    const size_t segment = kChunkFloats * static_cast<size_t>(world_size_);
    scratch_.resize(std::min(n, kChunkFloats) + 1);
    for (size_t begin = 0; begin < n; begin += segment) {
      RETURN_IF_ERROR(RingSegment(x + begin, std::min(segment, n - begin)));
    }
    return absl::OkStatus();
  }

  // Every collective starts with (kind, sequence number, n) from each rank to the next: ranks
  // that issue different collectives fail here instead of exchanging mismatched bytes.
  absl::Status CheckHeader(size_t n) {
    const uint64_t seq = seq_++;
    const uint64_t mine[3] = {kKindCollective, seq, n};
    uint64_t theirs[3] = {0, 0, 0};
    RETURN_IF_ERROR(Exchange(to_next_.get(), reinterpret_cast<const char*>(mine), sizeof(mine),
                             from_prev_.get(), reinterpret_cast<char*>(theirs), sizeof(theirs),
                             io_timeout_ms_, next_name_, prev_name_));
    if (theirs[0] != mine[0] || theirs[1] != mine[1] || theirs[2] != mine[2]) {
      return absl::InternalError(
          absl::StrCat("collective #", seq, " is an all-reduce of ", n, " floats here but ",
                       prev_name_, " sent #", theirs[1], " of ", theirs[2],
                       " floats (every rank must issue the same collectives in the same order)"));
    }
    return absl::OkStatus();
  }

  // Ring reduce-scatter then ring all-gather of x[0, m): chunk c = [m*c/W, m*(c+1)/W).
  absl::Status RingSegment(float* x, size_t m) {
    const size_t w = static_cast<size_t>(world_size_);
    const size_t r = static_cast<size_t>(rank_);
    auto begin = [&](size_t c) { return m * c / w; };
    auto size = [&](size_t c) { return begin(c + 1) - begin(c); };
    auto mod = [&](size_t i) { return i % w; };
    // Reduce-scatter: after step s, chunk r-s-1 here holds the sum of ranks r-s-1 .. r.
    for (size_t s = 0; s + 1 < w; ++s) {
      const size_t sc = mod(r + w - s);
      const size_t rc = mod(r + 2 * w - s - 1);
      RETURN_IF_ERROR(Exchange(to_next_.get(), reinterpret_cast<const char*>(x + begin(sc)),
                               size(sc) * sizeof(float), from_prev_.get(),
                               reinterpret_cast<char*>(scratch_.data()), size(rc) * sizeof(float),
                               io_timeout_ms_, next_name_, prev_name_));
      float* dst = x + begin(rc);
      const float* src = scratch_.data();
      const size_t k = size(rc);
      for (size_t i = 0; i < k; ++i) {
        dst[i] += src[i];
      }
    }
    // All-gather: chunk r+1 is complete here; pass complete chunks around the ring.
    for (size_t s = 0; s + 1 < w; ++s) {
      const size_t sc = mod(r + 1 + w - s);
      const size_t rc = mod(r + w - s);
      RETURN_IF_ERROR(Exchange(to_next_.get(), reinterpret_cast<const char*>(x + begin(sc)),
                               size(sc) * sizeof(float), from_prev_.get(),
                               reinterpret_cast<char*>(x + begin(rc)), size(rc) * sizeof(float),
                               io_timeout_ms_, next_name_, prev_name_));
    }
    return absl::OkStatus();
  }

  int rank_;
  int world_size_;
  Fd to_next_;
  Fd from_prev_;
  int io_timeout_ms_;
  std::string next_name_;
  std::string prev_name_;
  uint64_t seq_ = 0;
  std::vector<float> scratch_;
  absl::Status broken_;
};

// Every rank binds a port of its own (port 0) before the exchange, so rank 0's address is known
// to be live when it is published and the others' listeners are ready for the ring.
absl::StatusOr<std::unique_ptr<Communicator>> ConnectThroughExchange(
    const CommConfig& config, const TcpCommOptions& options) {
  ASSIGN_OR_RETURN(auto listener,
                   TcpCommListener::Listen(config.rank, config.world_size, "", options));
  absl::StatusOr<std::string> rank0 =
      config.exchange(config.rank == 0 ? listener->address() : std::string());
  if (!rank0.ok()) {
    return absl::Status(
        rank0.status().code(),
        absl::StrCat(
            "rendezvous exchange (rank ", config.rank, " of ", config.world_size,
            config.rank == 0 ? ", publishing its address" : ", asking for rank 0's address",
            "): ", rank0.status().message()));
  }
  if (config.rank != 0) {
    RETURN_IF_ERROR(ParseAddress(*rank0, "rendezvous exchange: rank 0's address").status());
  }
  return listener->Join(*rank0);
}

}  // namespace

absl::StatusOr<std::unique_ptr<TcpCommListener>> TcpCommListener::Listen(
    int rank, int world_size, const std::string& bind_address, const TcpCommOptions& options) {
  RETURN_IF_ERROR(CheckRendezvousRank(rank, world_size));
  const std::string where = bind_address.empty() ? options.bind_host + ":0" : bind_address;
  ASSIGN_OR_RETURN(sockaddr_in addr, ParseAddress(where, "rendezvous"));
  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) {
    return absl::InternalError("socket: " + ErrnoText(errno));
  }
  const int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    return absl::InternalError(
        absl::StrCat("rendezvous: cannot bind ", where, ": ", ErrnoText(errno)));
  }
  if (::listen(fd.get(), std::min(world_size + 16, 4096)) != 0) {
    return absl::InternalError("listen: " + ErrnoText(errno));
  }
  socklen_t len = sizeof(addr);
  ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len);
  if (addr.sin_addr.s_addr == htonl(INADDR_ANY)) {
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);  // a reachable name for local peers
  }
  return std::unique_ptr<TcpCommListener>(
      new TcpCommListener(fd.release(), rank, world_size, FormatAddress(addr), options));
}

TcpCommListener::~TcpCommListener() {
  if (fd_ >= 0) {
    ::close(fd_);
  }
}

absl::StatusOr<std::unique_ptr<Communicator>> TcpCommListener::Join(
    const std::string& rank0_address) {
  return Join([rank0_address]() -> absl::StatusOr<std::string> { return rank0_address; });
}

absl::StatusOr<std::unique_ptr<Communicator>> TcpCommListener::Join(
    const std::function<absl::StatusOr<std::string>()>& rank0_address) {
  if (fd_ < 0) {
    return absl::FailedPreconditionError("TcpCommListener::Join: already joined");
  }
  Fd listener(std::exchange(fd_, -1));
  const int w = world_size_;
  const int io_ms = options_.io_timeout_ms;
  if (w == 1) {
    return std::unique_ptr<Communicator>(
        std::make_unique<TcpCommunicator>(0, 1, Fd(), Fd(), io_ms));
  }
  const auto deadline = Clock::now() + std::chrono::milliseconds(options_.connect_timeout_ms);
  const int connect_ms = std::max(1, options_.connect_timeout_ms);
  ASSIGN_OR_RETURN(const sockaddr_in own, ParseAddress(address_, "listener"));
  // table[r] = rank r's listening address (IPv4 and port, network byte order).
  std::vector<uint32_t> table(static_cast<size_t>(2 * w), 0);
  if (rank_ == 0) {
    std::vector<Fd> joins(static_cast<size_t>(w));
    for (int i = 1; i < w; ++i) {
      ASSIGN_OR_RETURN(Fd fd,
                       AcceptBefore(listener.get(), deadline,
                                    absl::StrCat(w - i, " more rank(s) to join ", address_)));
      ASSIGN_OR_RETURN(Hello h, RecvHello(fd.get(), kKindJoin, w, connect_ms, "a joining rank"));
      if (h.rank == 0 || joins[h.rank].get() >= 0) {
        return absl::InternalError(absl::StrCat("rendezvous: rank ", h.rank, " joined twice"));
      }
      sockaddr_in peer{};
      socklen_t len = sizeof(peer);
      ::getpeername(fd.get(), reinterpret_cast<sockaddr*>(&peer), &len);
      table[2 * h.rank] = peer.sin_addr.s_addr;
      table[2 * h.rank + 1] = htonl(h.port);
      joins[h.rank] = std::move(fd);
    }
    table[0] = own.sin_addr.s_addr;
    table[1] = htonl(ntohs(own.sin_port));
    for (int i = 1; i < w; ++i) {
      RETURN_IF_ERROR(SendAll(joins[static_cast<size_t>(i)].get(), table.data(),
                              table.size() * sizeof(uint32_t), connect_ms,
                              absl::StrCat("rank ", i)));
    }
  } else {
    ASSIGN_OR_RETURN(Fd fd, ConnectBefore(rank0_address, deadline, "rank 0"));
    Hello h;
    h.kind = kKindJoin;
    h.world_size = static_cast<uint32_t>(w);
    h.rank = static_cast<uint32_t>(rank_);
    h.port = ntohs(own.sin_port);
    RETURN_IF_ERROR(SendHello(fd.get(), h, connect_ms, "rank 0"));
    RETURN_IF_ERROR(RecvAll(fd.get(), table.data(), table.size() * sizeof(uint32_t),
                            std::max(1, MsLeft(deadline)), "rank 0"));
  }
  // Ring: connect to the next rank (a pending connection needs no accept yet), then accept the
  // previous one's.
  const int next = (rank_ + 1) % w;
  const int prev = (rank_ + w - 1) % w;
  sockaddr_in next_addr{};
  next_addr.sin_family = AF_INET;
  next_addr.sin_addr.s_addr = table[static_cast<size_t>(2 * next)];
  next_addr.sin_port =
      htons(static_cast<uint16_t>(ntohl(table[static_cast<size_t>(2 * next + 1)])));
  const std::string next_address = FormatAddress(next_addr);
  ASSIGN_OR_RETURN(Fd to_next,
                   ConnectBefore([&]() -> absl::StatusOr<std::string> { return next_address; },
                                 deadline, absl::StrCat("rank ", next)));
  Hello ring;
  ring.kind = kKindRing;
  ring.world_size = static_cast<uint32_t>(w);
  ring.rank = static_cast<uint32_t>(rank_);
  RETURN_IF_ERROR(SendHello(to_next.get(), ring, connect_ms, absl::StrCat("rank ", next)));
  ASSIGN_OR_RETURN(Fd from_prev,
                   AcceptBefore(listener.get(), deadline, absl::StrCat("rank ", prev)));
  ASSIGN_OR_RETURN(Hello h, RecvHello(from_prev.get(), kKindRing, w, std::max(1, MsLeft(deadline)),
                                      absl::StrCat("rank ", prev)));
  if (h.rank != static_cast<uint32_t>(prev)) {
    return absl::InternalError(
        absl::StrCat("rendezvous: expected rank ", prev, " on the ring, got rank ", h.rank));
  }
  return std::unique_ptr<Communicator>(
      std::make_unique<TcpCommunicator>(rank_, w, std::move(to_next), std::move(from_prev), io_ms));
}

absl::StatusOr<std::unique_ptr<Communicator>> ConnectTcpCommunicator(
    const CommConfig& config, const TcpCommOptions& options) {
  RETURN_IF_ERROR(CheckRendezvousRank(config.rank, config.world_size));
  if (config.world_size == 1) {
    ASSIGN_OR_RETURN(auto listener, TcpCommListener::Listen(0, 1, "", options));
    return listener->Join("");
  }
  if (config.exchange) {
    return ConnectThroughExchange(config, options);
  }
  ASSIGN_OR_RETURN(RendezvousChannel channel, ParseRendezvous(config.rendezvous));
  if (channel.kind == RendezvousChannel::Kind::kFile) {
    const std::string& path = channel.target;
    if (config.rank == 0) {
      ASSIGN_OR_RETURN(auto listener, TcpCommListener::Listen(0, config.world_size, "", options));
      RETURN_IF_ERROR(PublishRendezvousAddress(path, listener->address()));
      auto comm = listener->Join("");
      std::remove(path.c_str());  // everyone has read it (or the join failed): never stale
      return comm;
    }
    ASSIGN_OR_RETURN(auto listener,
                     TcpCommListener::Listen(config.rank, config.world_size, "", options));
    return listener->Join([path] { return ReadRendezvousAddress(path); });
  }
  const std::string& address = channel.target;
  RETURN_IF_ERROR(ParseAddress(address, "rendezvous").status());
  ASSIGN_OR_RETURN(auto listener,
                   TcpCommListener::Listen(config.rank, config.world_size,
                                           config.rank == 0 ? address : "", options));
  return listener->Join(address);
}

}  // namespace sparsescale::kernels
