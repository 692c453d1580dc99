// Collective communication between the data-parallel replicas of one training job.
//
// A Communicator joins `world_size` processes (one GPU each); every rank calls the same
// collectives in the same order. The CUDA/NCCL implementation lives in kernels/cuda/nccl_comm.h;
// this header stays free of CUDA and NCCL so the trainer can hold a Communicator without them.
//
// Buffers passed to a collective live in the memory of the Ops backend the communicator was
// made for (device memory for CUDA) and the call is ordered after every op already issued on
// that backend. Not thread-safe: one trainer thread owns a Communicator.
#pragma once

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace sparsescale::kernels {

class Communicator {
 public:
  virtual ~Communicator() = default;

  // This process's rank in [0, world_size()).
  virtual int rank() const = 0;
  virtual int world_size() const = 0;

  // x[i] = sum over ranks of x[i], in place. Returns Internal on a transport error (the
  // communicator is then unusable) and InvalidArgument for a null x with n > 0.
  virtual absl::Status AllReduceSum(float* x, size_t n) = 0;

  // Starts x[i] = sum over ranks of x[i], to be complete for every op issued after the next
  // WaitAll; x must not be touched in between. Lets a backend overlap the reduction with
  // compute (NCCL: a communication stream that waits for the compute stream's work so far).
  // The default reduces at once. Errors as AllReduceSum.
  virtual absl::Status AllReduceSumAsync(float* x, size_t n) { return AllReduceSum(x, n); }
  // Orders every started AllReduceSumAsync before the backend's later ops (and collectives).
  virtual absl::Status WaitAll() { return absl::OkStatus(); }

  // Returns once every rank has reached the barrier and all collectives issued before it on
  // this rank have completed. Returns Internal on a transport error.
  virtual absl::Status Barrier() = 0;
};

}  // namespace sparsescale::kernels
