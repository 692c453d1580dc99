// Gradient all-reduce in buckets, issued while the backward pass is still running.
//
// The trainer keeps all gradients in one flat buffer; the backward pass finishes them from the
// end of the buffer towards the start (last layer first). After each layer's backward the
// trainer calls Ready(offset, count) for that layer's slice; as soon as at least
// `bucket_floats` finished gradients are waiting, they are all-reduced as one
// Communicator::AllReduceSumAsync call, so the communication overlaps the rest of the
// backward pass where the communicator can (NCCL on its own stream). Finish() reduces what is
// left and waits for all of it (WaitAll); it must be called before the optimiser step.
// Plain C++; not thread-safe.
#pragma once

#include <cstddef>

#include "absl/status/status.h"
#include "kernels/comm.h"

namespace sparsescale::kernels {

class BucketedAllReducer {
 public:
  // `grads` has n floats in the communicator's backend memory; bucket_floats >= 1.
  BucketedAllReducer(Communicator* comm, float* grads, size_t n, size_t bucket_floats);

  // Starts a new step: nothing is finished yet.
  void Reset();

  // Marks grads[offset, offset + count) final. Slices must arrive from the end of the buffer
  // towards the start, each ending where the previous one began; InvalidArgument otherwise.
  absl::Status Ready(size_t offset, size_t count);

  // All-reduces every finished gradient not yet reduced and orders all the step's reductions
  // before later ops (Communicator::WaitAll); InvalidArgument unless the whole buffer has
  // been marked ready.
  absl::Status Finish();

  // Number of AllReduceSumAsync calls issued this step (for tests and logs).
  int calls() const { return calls_; }

 private:
  absl::Status Flush();

  Communicator* comm_;
  float* grads_;
  size_t n_;
  size_t bucket_floats_;
  size_t ready_begin_;    // grads_[ready_begin_, n_) are final
  size_t reduced_begin_;  // grads_[reduced_begin_, n_) have been all-reduced
  int calls_ = 0;
};

}  // namespace sparsescale::kernels
