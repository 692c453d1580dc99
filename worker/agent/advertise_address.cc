#include "worker/agent/advertise_address.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace sparsescale::agent {
namespace {

struct AddrInfoFree {
  void operator()(addrinfo* info) const { freeaddrinfo(info); }
};

// "HOST:PORT" without a gRPC scheme prefix, split at the last colon.
absl::Status SplitHostPort(std::string target, std::string* host, std::string* port) {
  for (const char* prefix : {"dns:///", "dns:", "ipv4:"}) {
    if (absl::StartsWith(target, prefix)) {
      target = target.substr(std::strlen(prefix));
      break;
    }
  }
  const size_t colon = target.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == target.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--coordinator: expected HOST:PORT, got \"", target, "\""));
  }
  *host = target.substr(0, colon);
  *port = target.substr(colon + 1);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> DetectAdvertiseAddress(const std::string& coordinator) {
  std::string host, port;
  if (absl::Status s = SplitHostPort(coordinator, &host, &port); !s.ok()) {
    return s;
  }
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* found = nullptr;
  if (int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    return absl::UnavailableError(absl::StrCat("cannot resolve the coordinator's host \"", host,
                                               "\" to an IPv4 address: ", gai_strerror(rc)));
  }
  std::unique_ptr<addrinfo, AddrInfoFree> list(found);
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return absl::UnavailableError(absl::StrCat("socket: ", std::strerror(errno)));
  }
  sockaddr_in local{};
  socklen_t length = sizeof(local);
  const bool routed = connect(fd, list->ai_addr, list->ai_addrlen) == 0 &&
                      getsockname(fd, reinterpret_cast<sockaddr*>(&local), &length) == 0;
  const int error = errno;
  close(fd);
  if (!routed) {
    return absl::UnavailableError(
        absl::StrCat("no route to the coordinator ", coordinator, ": ", std::strerror(error)));
  }
  char text[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &local.sin_addr, text, sizeof(text));
  return std::string(text);
}

absl::Status CheckAdvertiseAddress(const std::string& host) {
  in_addr parsed{};
  if (inet_pton(AF_INET, host.c_str(), &parsed) != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--advertise-address: expected an IPv4 address of this machine, got \"", host, "\""));
  }
  return absl::OkStatus();
}

}  // namespace sparsescale::agent
