#include "kernels/bucketed_all_reduce.h"

#include <string>

#include "common/status.h"

namespace sparsescale::kernels {

BucketedAllReducer::BucketedAllReducer(Communicator* comm, float* grads, size_t n,
                                       size_t bucket_floats)
    : comm_(comm),
      grads_(grads),
      n_(n),
      bucket_floats_(bucket_floats < 1 ? 1 : bucket_floats),
      ready_begin_(n),
      reduced_begin_(n) {
  SS_CHECK(comm_ != nullptr);
}

void BucketedAllReducer::Reset() {
  ready_begin_ = n_;
  reduced_begin_ = n_;
  calls_ = 0;
}

absl::Status BucketedAllReducer::Ready(size_t offset, size_t count) {
  if (offset + count != ready_begin_ || count > ready_begin_) {
    return absl::InvalidArgumentError(
        "BucketedAllReducer::Ready: slice [" + std::to_string(offset) + ", " +
        std::to_string(offset + count) + ") must end at " + std::to_string(ready_begin_) +
        " (gradients finish from the end of the buffer towards the start)");
  }
  ready_begin_ = offset;
  if (reduced_begin_ - ready_begin_ >= bucket_floats_) {
    return Flush();
  }
  return absl::OkStatus();
}

absl::Status BucketedAllReducer::Finish() {
  if (ready_begin_ != 0) {
    return absl::InvalidArgumentError("BucketedAllReducer::Finish: gradients [0, " +
                                      std::to_string(ready_begin_) + ") were never marked ready");
  }
  RETURN_IF_ERROR(Flush());
  return comm_->WaitAll();
}

absl::Status BucketedAllReducer::Flush() {
  if (reduced_begin_ == ready_begin_) {
    return absl::OkStatus();
  }
  RETURN_IF_ERROR(comm_->AllReduceSumAsync(grads_ + ready_begin_, reduced_begin_ - ready_begin_));
  ++calls_;
  reduced_begin_ = ready_begin_;
  return absl::OkStatus();
}

}  // namespace sparsescale::kernels
