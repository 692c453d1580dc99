// Makes the data-parallel Communicator that suits a compute backend: the TCP ring
// (kernels/cpu/tcp_comm.h) for the CPU backend; NCCL (kernels/cuda/nccl_comm.h) for CUDA, with
// rank 0's NCCL unique id carried to the other ranks over a TCP ring made by the same
// rendezvous, so both backends start from the same "file:PATH" / "env" / "tcp:HOST:PORT"; or,
// when the config has an exchange (the coordinator's Rendezvous RPC), the id travels through
// that exchange itself and no TCP ring is made.
// Plain C++ (no CUDA header). Thread-compatible.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "kernels/comm.h"
#include "kernels/cpu/tcp_comm.h"
#include "kernels/ops.h"

namespace sparsescale::kernels {

// Joins the group `config` describes, for buffers of `ops` (which must outlive the result).
// Blocks until every rank has joined. Errors as ConnectTcpCommunicator and
// MakeNcclCommunicator; Unimplemented for CUDA in a build without NCCL.
absl::StatusOr<std::unique_ptr<Communicator>> MakeCommunicator(Ops& ops, const CommConfig& config,
                                                               const TcpCommOptions& options = {});

// Rank 0's `value` on every rank, through a communicator over host memory (the TCP ring).
// Every rank must call it; the others' `value` is ignored.
absl::StatusOr<std::string> BroadcastString(Communicator& host_comm, const std::string& value);

}  // namespace sparsescale::kernels
