// NCCL-backed Communicator (kernels/comm.h) for data-parallel training, one GPU per process.
//
// Start-up: rank 0 makes a unique id (MakeNcclUniqueId: 128 opaque bytes), the coordinator or a
// shared file carries it to every rank, and each rank calls MakeNcclCommunicator with the same
// bytes, its rank and the world size. For standalone runs RendezvousNcclUniqueId does the
// carrying through a file (rank 0 writes it atomically, the others wait for it), with rank,
// world size and file path from the environment (NcclRendezvousFromEnv).
//
// Plain C++ header (no NCCL or CUDA types). Builds without NCCL return Unimplemented.
// A communicator is not thread-safe; collectives run on the Ops backend's stream, so they are
// ordered after the ops that produced the gradients.
#pragma once

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/comm.h"
#include "kernels/ops.h"

namespace sparsescale::kernels::cuda {

// True when this build links NCCL.
bool NcclAvailable();

// A new NCCL unique id as bytes (call on rank 0 only). Internal on an NCCL error.
absl::StatusOr<std::string> MakeNcclUniqueId();

// Joins the communicator identified by `unique_id` as `rank` of `world_size`, on the device
// and stream of `ops` (which must be the CUDA backend and outlive the communicator). Blocks
// until all ranks have joined. InvalidArgument for a bad rank, size or id length; Internal on
// an NCCL error.
absl::StatusOr<std::unique_ptr<Communicator>> MakeNcclCommunicator(Ops& ops,
                                                                   const std::string& unique_id,
                                                                   int rank, int world_size);

struct NcclRendezvous {
  int rank = 0;
  int world_size = 1;
  std::string id_path;  // file through which rank 0 publishes the unique id
};

// Reads SPARSESCALE_RANK, SPARSESCALE_WORLD_SIZE and SPARSESCALE_NCCL_ID_FILE. Missing
// variables mean a single process (rank 0 of 1, no file). InvalidArgument names a bad variable.
absl::StatusOr<NcclRendezvous> NcclRendezvousFromEnv();

// Rank 0 writes `unique_id` to `path` (temporary file + rename, so readers never see half of
// it) and returns it; other ranks poll for the file every poll_ms until timeout_ms and return
// its content. DeadlineExceeded when the file does not appear in time.
absl::StatusOr<std::string> RendezvousNcclUniqueId(const NcclRendezvous& r,
                                                   const std::string& unique_id_if_rank0,
                                                   int timeout_ms, int poll_ms = 50);

}  // namespace sparsescale::kernels::cuda
