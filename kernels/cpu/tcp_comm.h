// A Communicator (kernels/comm.h) over TCP for data-parallel CPU training: one process per rank
// on one machine (loopback), or any mix of threads and processes in tests.
//
// Topology: a ring. Every rank listens on a socket; rank r connects to rank r+1's listener and
// accepts rank r-1's connection. AllReduceSum is a ring reduce-scatter followed by a ring
// all-gather over segments of the buffer, so each element is summed by exactly one rank in a
// fixed order and copied to the others: every rank gets bit-identical results, and the same
// inputs give the same bits on every run (the order depends on world size and n only).
//
// Start-up: the ranks only need rank 0's address. Rank 0 listens first; every other rank
// connects to it and sends its own listening port; rank 0 answers with the table of all
// addresses; then the ring connections are made. How rank 0's address reaches the others
// ("file:PATH", "env", "tcp:host:port" or an exchange) is common/rendezvous.h's; the two-phase
// TcpCommListener API lets a caller carry it by any other means (rank 0 binds port 0, publishes
// address(), and every rank calls Join).
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
#include "common/rendezvous.h"
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

// Rank, world size and rendezvous of this process (common/rendezvous.h).
using CommConfig = RendezvousConfig;

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

// Starts a communicator for `config` (world size 1 needs no rendezvous and makes no socket).
// The rendezvous is config.exchange when set, else "file:PATH", "env" (SPARSESCALE_RENDEZVOUS:
// host:port or file:PATH) or "tcp:HOST:PORT". InvalidArgument names the problem
// ("rendezvous: ..."); an exchange's error is returned with its code, the message prefixed
// "rendezvous exchange (rank R of W, ...)". Blocks until every rank has joined.
absl::StatusOr<std::unique_ptr<Communicator>> ConnectTcpCommunicator(
    const CommConfig& config, const TcpCommOptions& options = {});

}  // namespace sparsescale::kernels
