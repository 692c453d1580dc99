#include "common/rendezvous.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace sparsescale {
namespace {

absl::StatusOr<int> EnvInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') {
    return fallback;
  }
  int parsed = 0;
  if (!absl::SimpleAtoi(v, &parsed) || parsed < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": must be a non-negative integer, got \"", v, "\""));
  }
  return parsed;
}

bool StartsWith(const std::string& text, const char* prefix) {
  return text.rfind(prefix, 0) == 0;
}

}  // namespace

absl::StatusOr<RendezvousConfig> RendezvousConfigFromEnv() {
  RendezvousConfig c;
  ASSIGN_OR_RETURN(c.rank, EnvInt("SPARSESCALE_RANK", 0));
  ASSIGN_OR_RETURN(c.world_size, EnvInt("SPARSESCALE_WORLD_SIZE", 1));
  if (c.world_size < 1 || c.rank >= c.world_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("SPARSESCALE_RANK: must be below SPARSESCALE_WORLD_SIZE (", c.world_size,
                     "), got ", c.rank));
  }
  c.rendezvous = "env";
  return c;
}

absl::Status CheckRendezvousRank(int rank, int world_size) {
  if (world_size < 1 || world_size > 65536) {
    return absl::InvalidArgumentError(
        absl::StrCat("world_size: must be in [1, 65536], got ", world_size));
  }
  if (rank < 0 || rank >= world_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("rank: must be in [0, world_size = ", world_size, "), got ", rank));
  }
  return absl::OkStatus();
}

absl::StatusOr<RendezvousChannel> ParseRendezvous(const std::string& rendezvous) {
  std::string rv = rendezvous;
  if (rv == "env") {
    const char* v = std::getenv("SPARSESCALE_RENDEZVOUS");
    if (v == nullptr || *v == '\0') {
      return absl::InvalidArgumentError(
          "SPARSESCALE_RENDEZVOUS: required for rendezvous env (host:port of rank 0, or "
          "file:PATH)");
    }
    rv = StartsWith(v, "file:") ? v : absl::StrCat("tcp:", v);
  }
  if (StartsWith(rv, "file:")) {
    if (rv.size() == 5) {
      return absl::InvalidArgumentError("rendezvous: file: needs a path (file:PATH)");
    }
    return RendezvousChannel{RendezvousChannel::Kind::kFile, rv.substr(5)};
  }
  if (StartsWith(rv, "tcp:")) {
    return RendezvousChannel{RendezvousChannel::Kind::kTcp, rv.substr(4)};
  }
  return absl::InvalidArgumentError(
      absl::StrCat("rendezvous: expected file:PATH, env or tcp:HOST:PORT, got \"", rv, "\""));
}

absl::Status PublishRendezvousAddress(const std::string& path, const std::string& address) {
  const std::string tmp = absl::StrCat(path, ".tmp.", ::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << address << "\n";
    out.flush();
    if (!out) {
      return absl::InternalError("rendezvous: cannot write " + tmp);
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    std::remove(tmp.c_str());
    return absl::InternalError(
        absl::StrCat("rendezvous: cannot rename ", tmp, " to ", path, ": ", std::strerror(err)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadRendezvousAddress(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::UnavailableError(path + " does not exist yet");
  }
  std::ostringstream content;
  content << in.rdbuf();
  std::string text = content.str();
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) {
    text.pop_back();
  }
  if (text.empty()) {
    return absl::UnavailableError(path + " is empty");
  }
  return text;
}

}  // namespace sparsescale
