// A Communicator (kernels/comm.h) over TCP for data-parallel CPU training: one process per rank
// on one machine (loopback), or any mix of threads and processes in tests.
//
// Topology: a ring. Every rank listens on a socket; rank r connects to rank r+1's listener and
// accepts rank r-1's connection. AllReduceSum is a ring reduce-scatter followed by a ring
// all-gather over segments of the buffer, so each element is summed by exactly one rank in a
// fixed order and copied to the others: every rank gets bit-identical results, and the same
// inputs give the same bits on every run (the order depends on world size and n only).
//
// Start-up (rendezvous): the ranks only need rank 0's address. Rank 0 listens first; every
// other rank connects to it and sends its own listening port; rank 0 answers with the table of
// all addresses; then the ring connections are made. Rank 0's address reaches the others by
//   - "file:PATH": rank 0 writes "host:port" to PATH (temporary file + rename) and removes it
//     once everyone has joined; the others poll PATH until it names a live rank 0,
//   - "env": SPARSESCALE_RENDEZVOUS=host:port, a fixed port rank 0 binds (or =file:PATH, as
//     above); rank and world size from SPARSESCALE_RANK and SPARSESCALE_WORLD_SIZE
//     (CommConfigFromEnv),
//   - "tcp:host:port": the same address given explicitly, or
//   - the two-phase TcpCommListener API: rank 0 binds port 0, publishes address() by any means,
//     and every rank calls Join, or
//   - CommConfig::exchange (kernels/comm.h), which does that for ConnectTcpCommunicator: every
//     rank binds port 0, rank 0 hands its address to the exchange and the others get it from
//     it (under the worker daemon: the coordinator's Rendezvous RPC).
//
// Errors: a peer that exits closes its sockets and the next collective returns Internal naming
// the peer; a peer that stops responding makes the collective return Internal after
// io_timeout_ms without progress. After any error the communicator is unusable (every later
// call returns Internal). Ranks calling collectives of different sizes are detected (Internal)
// by a small header sent with each call.
//
// Thread-safety: a communicator or listener is used by one thread at a time.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/comm.h"

namespace sparsescale::kernels {

struct TcpCommOptions {
  // Longest wait at start-up: for the rendezvous file, rank 0's listener and every join.
  int connect_timeout_ms = 120000;
  // Longest time a collective waits without any byte moving before it fails. Generous because
  // a rank can be busy for a while between collectives (rank 0 writing a checkpoint).
  int io_timeout_ms = 600000;
  // Host the non-zero ranks' listeners bind (rank 0 binds the rendezvous address's host).
  std::string bind_host = "127.0.0.1";
};

// Rank and world size of this process plus the rendezvous ("file:PATH", "env", "tcp:H:P"), or
// an exchange (kernels/comm.h), which takes precedence over the rendezvous string when set.
struct CommConfig {
  int rank = 0;
  int world_size = 1;
  std::string rendezvous;
  RendezvousExchange exchange = nullptr;
};

// A rank's bound listening socket before it joins the ring.
class TcpCommListener {
 public:
  // Binds `bind_address` ("host:port"; port 0 picks a free one; empty means
  // options.bind_host with port 0). InvalidArgument for a bad rank/world size or address,
  // Internal when the socket cannot be bound.
  static absl::StatusOr<std::unique_ptr<TcpCommListener>> Listen(int rank, int world_size,
                                                                 const std::string& bind_address,
                                                                 const TcpCommOptions& options);
  ~TcpCommListener();
  TcpCommListener(const TcpCommListener&) = delete;
  TcpCommListener& operator=(const TcpCommListener&) = delete;

  // "host:port" of this listener; rank 0's is the address the other ranks join.
  const std::string& address() const { return address_; }
  int rank() const { return rank_; }
  int world_size() const { return world_size_; }

  // Joins the ring (rank0_address is ignored on rank 0) and returns the communicator; the
  // listener is spent afterwards. DeadlineExceeded when the peers do not all appear within
  // connect_timeout_ms; InvalidArgument for a bad address; Internal for a protocol mismatch
  // (different world sizes, a rank taken twice, not a sparsescale peer).
  absl::StatusOr<std::unique_ptr<Communicator>> Join(const std::string& rank0_address);
  // As above, with rank 0's address asked for before every connection attempt: Unavailable
  // means "not known yet" (retried every 20 ms until the deadline), any other error is final.
  absl::StatusOr<std::unique_ptr<Communicator>> Join(
      const std::function<absl::StatusOr<std::string>()>& rank0_address);

 private:
  TcpCommListener(int fd, int rank, int world_size, std::string address, TcpCommOptions options)
      : fd_(fd),
        rank_(rank),
        world_size_(world_size),
        address_(std::move(address)),
        options_(std::move(options)) {}

  int fd_;
  int rank_;
  int world_size_;
  std::string address_;
  TcpCommOptions options_;
};

// Reads SPARSESCALE_RANK, SPARSESCALE_WORLD_SIZE (missing: rank 0 of 1) with rendezvous "env".
// InvalidArgument names a bad variable.
absl::StatusOr<CommConfig> CommConfigFromEnv();

// Starts a communicator for `config` (world size 1 needs no rendezvous and makes no socket).
// The rendezvous is config.exchange when set, else "file:PATH", "env" (SPARSESCALE_RENDEZVOUS:
// host:port or file:PATH) or "tcp:HOST:PORT". InvalidArgument names the problem
// ("rendezvous: ..."); an exchange's error is returned with its code, the message prefixed
// "rendezvous exchange (rank R of W, ...)". Blocks until every rank has joined.
absl::StatusOr<std::unique_ptr<Communicator>> ConnectTcpCommunicator(
    const CommConfig& config, const TcpCommOptions& options = {});

}  // namespace sparsescale::kernels
