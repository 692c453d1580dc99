// How the ranks of a data-parallel job find rank 0 before they connect: the rank and world size
// of this process and the channel that carries rank 0's address (or NCCL's unique id) to the
// others. Independent of the transport joined afterwards (kernels/cpu/tcp_comm.h's ring, NCCL),
// so the CLI, the worker daemon and the trainer agree on it without reaching into kernels/.
//
// Channels, as a rendezvous string:
//   - "file:PATH": rank 0 writes "host:port" to PATH (temporary file + rename) and removes it
//     once everyone has joined; the others poll PATH until it names a live rank 0,
//   - "env": SPARSESCALE_RENDEZVOUS=host:port, a fixed port rank 0 binds (or =file:PATH, as
//     above); rank and world size from SPARSESCALE_RANK and SPARSESCALE_WORLD_SIZE,
//   - "tcp:host:port": the same address given explicitly,
// or a RendezvousExchange, an outside service that takes precedence over the string.
//
// Pure functions apart from the environment and the rendezvous file; thread-safe.
#pragma once

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace sparsescale {

// Carries rank 0's rendezvous bytes to the other ranks by some outside service (the
// coordinator's WorkerService.Rendezvous RPC under the worker daemon): rank 0 calls it with its
// value and gets it back; every other rank calls it with "" and gets rank 0's value, blocking
// until it is known (DeadlineExceeded when it never appears). Must be callable once per rank.
using RendezvousExchange = std::function<absl::StatusOr<std::string>(const std::string& value)>;

// Rank and world size of this process plus the rendezvous string, or an exchange, which takes
// precedence over the string when set.
struct RendezvousConfig {
  int rank = 0;
  int world_size = 1;
  std::string rendezvous;
  RendezvousExchange exchange = nullptr;
};

// Reads SPARSESCALE_RANK, SPARSESCALE_WORLD_SIZE (missing: rank 0 of 1) with rendezvous "env".
// InvalidArgument names a bad variable.
absl::StatusOr<RendezvousConfig> RendezvousConfigFromEnv();

// InvalidArgument unless 1 <= world_size <= 65536 and 0 <= rank < world_size.
absl::Status CheckRendezvousRank(int rank, int world_size);

// Where rank 0's address is found, a rendezvous string resolved.
struct RendezvousChannel {
  enum class Kind { kFile, kTcp };
  Kind kind = Kind::kTcp;
  std::string target;  // kFile: the path; kTcp: rank 0's "host:port" (not checked here)
};

// Resolves "file:PATH", "tcp:HOST:PORT" or "env" (through SPARSESCALE_RENDEZVOUS).
// InvalidArgument names the problem ("rendezvous: ..." or the variable).
absl::StatusOr<RendezvousChannel> ParseRendezvous(const std::string& rendezvous);

// The file channel. Publish writes `address` through a temporary file and a rename, so readers
// see all or nothing (Internal when it cannot). Read returns the address, Unavailable while the
// file is missing or empty (rank 0 has not written it yet).
absl::Status PublishRendezvousAddress(const std::string& path, const std::string& address);
absl::StatusOr<std::string> ReadRendezvousAddress(const std::string& path);

}  // namespace sparsescale
