#include "kernels/cuda/nccl_comm.h"

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/status.h"
#include "kernels/cuda/context.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_ops.h"

#ifdef SPARSESCALE_HAVE_NCCL
#include <nccl.h>
#endif

namespace sparsescale::kernels::cuda {
namespace {

absl::StatusOr<int> EnvInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') {
    return fallback;
  }
  char* end = nullptr;
  errno = 0;
  const long parsed = std::strtol(v, &end, 10);
  if (errno != 0 || *end != '\0' || parsed < 0 || parsed > 1 << 20) {
    return absl::InvalidArgumentError(std::string(name) +
                                      ": must be a non-negative integer, got \"" + v + "\"");
  }
  return static_cast<int>(parsed);
}

#ifdef SPARSESCALE_HAVE_NCCL

absl::Status NcclError(ncclResult_t r, const char* what) {
  return absl::InternalError(std::string(what) + " failed: " + ncclGetErrorString(r));
}

#define NCCL_RETURN_IF_ERROR(expr)          \
  do {                                      \
    const ncclResult_t ss_nccl_r_ = (expr); \
    if (ss_nccl_r_ != ncclSuccess) {        \
      return NcclError(ss_nccl_r_, #expr);  \
    }                                       \
  } while (false)

// Owns an ncclComm_t; destroyed (or aborted after an error) with the object. Synchronous
// collectives run on the compute stream; AllReduceSumAsync runs on a communication stream of
// its own that first waits for the compute stream's work so far, so a gradient bucket is
// reduced while the backward pass goes on; WaitAll makes the compute stream wait for it.
class NcclCommunicator final : public Communicator {
 public:
  NcclCommunicator(ncclComm_t comm, CudaContext* ctx, int rank, int world_size,
                   cudaStream_t comm_stream, cudaEvent_t compute_done, cudaEvent_t comm_done)
      : comm_(comm),
        ctx_(ctx),
        rank_(rank),
        world_size_(world_size),
        comm_stream_(comm_stream),
        compute_done_(compute_done),
        comm_done_(comm_done) {}
  ~NcclCommunicator() override {
    if (broken_) {
      ncclCommAbort(comm_);
    } else {
      cudaStreamSynchronize(comm_stream_);
      cudaStreamSynchronize(ctx_->stream());
      ncclCommDestroy(comm_);
    }
    cudaEventDestroy(compute_done_);
    cudaEventDestroy(comm_done_);
    cudaStreamDestroy(comm_stream_);
  }
  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;

  int rank() const override { return rank_; }
  int world_size() const override { return world_size_; }

  absl::Status AllReduceSum(float* x, size_t n) override {
    if (n == 0) {
      return absl::OkStatus();
    }
    if (x == nullptr) {
      return absl::InvalidArgumentError("AllReduceSum: x is null");
    }
    RETURN_IF_ERROR(WaitAll());  // one communicator: keep its collectives in one order
    return Check(ncclAllReduce(x, x, n, ncclFloat, ncclSum, comm_, ctx_->stream()),
                 "ncclAllReduce");
  }

  absl::Status AllReduceSumAsync(float* x, size_t n) override {
    if (n == 0) {
      return absl::OkStatus();
    }
    if (x == nullptr) {
      return absl::InvalidArgumentError("AllReduceSumAsync: x is null");
    }
    CUDA_RETURN_IF_ERROR(cudaEventRecord(compute_done_, ctx_->stream()));
    CUDA_RETURN_IF_ERROR(cudaStreamWaitEvent(comm_stream_, compute_done_, 0));
    pending_ = true;
    return Check(ncclAllReduce(x, x, n, ncclFloat, ncclSum, comm_, comm_stream_),
                 "ncclAllReduce (async)");
  }

  absl::Status WaitAll() override {
    if (!pending_) {
      return absl::OkStatus();
    }
    CUDA_RETURN_IF_ERROR(cudaEventRecord(comm_done_, comm_stream_));
    CUDA_RETURN_IF_ERROR(cudaStreamWaitEvent(ctx_->stream(), comm_done_, 0));
    pending_ = false;
    return absl::OkStatus();
  }

  absl::Status Barrier() override {
    RETURN_IF_ERROR(WaitAll());
    ASSIGN_OR_RETURN(void* one, ctx_->Scratch(ScratchSlot::kReduce, sizeof(float)));
    RETURN_IF_ERROR(Check(ncclAllReduce(one, one, 1, ncclFloat, ncclSum, comm_, ctx_->stream()),
                          "ncclAllReduce (barrier)"));
    CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(ctx_->stream()));
    return absl::OkStatus();
  }

 private:
  absl::Status Check(ncclResult_t r, const char* what) {
    if (r == ncclSuccess) {
      return absl::OkStatus();
    }
    broken_ = true;
    return NcclError(r, what);
  }

  ncclComm_t comm_;
  CudaContext* ctx_;
  int rank_;
  int world_size_;
  cudaStream_t comm_stream_;
  cudaEvent_t compute_done_;
  cudaEvent_t comm_done_;
  bool pending_ = false;  // async reductions not yet waited for
  bool broken_ = false;
};

#endif  // SPARSESCALE_HAVE_NCCL

}  // namespace

bool NcclAvailable() {
#ifdef SPARSESCALE_HAVE_NCCL
  return true;
#else
  return false;
#endif
}

absl::StatusOr<std::string> MakeNcclUniqueId() {
#ifdef SPARSESCALE_HAVE_NCCL
  ncclUniqueId id;
  NCCL_RETURN_IF_ERROR(ncclGetUniqueId(&id));
  return std::string(id.internal, sizeof(id.internal));
#else
  return absl::UnimplementedError("NCCL: this build has no NCCL");
#endif
}

absl::StatusOr<std::unique_ptr<Communicator>> MakeNcclCommunicator(Ops& ops,
                                                                   const std::string& unique_id,
                                                                   int rank, int world_size) {
  if (world_size < 1 || rank < 0 || rank >= world_size) {
    return absl::InvalidArgumentError(
        "NCCL: need 0 <= rank < world_size, got rank=" + std::to_string(rank) +
        " world_size=" + std::to_string(world_size));
  }
  CudaContext* ctx = ContextOf(ops);
  if (ctx == nullptr) {
    return absl::InvalidArgumentError("NCCL: needs the CUDA Ops backend, got " + ops.name());
  }
#ifdef SPARSESCALE_HAVE_NCCL
  ncclUniqueId id;
  if (unique_id.size() != sizeof(id.internal)) {
    return absl::InvalidArgumentError("NCCL: unique id must be " +
                                      std::to_string(sizeof(id.internal)) + " bytes, got " +
                                      std::to_string(unique_id.size()));
  }
  std::memcpy(id.internal, unique_id.data(), sizeof(id.internal));
  CUDA_RETURN_IF_ERROR(cudaSetDevice(ctx->device()));
  cudaStream_t comm_stream = nullptr;
  cudaEvent_t compute_done = nullptr, comm_done = nullptr;
  CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&comm_stream, cudaStreamNonBlocking));
  if (cudaEventCreateWithFlags(&compute_done, cudaEventDisableTiming) != cudaSuccess ||
      cudaEventCreateWithFlags(&comm_done, cudaEventDisableTiming) != cudaSuccess) {
    cudaGetLastError();
    if (compute_done != nullptr) {
      cudaEventDestroy(compute_done);
    }
    cudaStreamDestroy(comm_stream);
    return absl::InternalError("NCCL: cannot create the communication stream's events");
  }
  ncclComm_t comm = nullptr;
  if (const ncclResult_t r = ncclCommInitRank(&comm, world_size, id, rank); r != ncclSuccess) {
    cudaEventDestroy(compute_done);
    cudaEventDestroy(comm_done);
    cudaStreamDestroy(comm_stream);
    return NcclError(r, "ncclCommInitRank");
  }
  return std::unique_ptr<Communicator>(std::make_unique<NcclCommunicator>(
      comm, ctx, rank, world_size, comm_stream, compute_done, comm_done));
#else
  (void)unique_id;
  return absl::UnimplementedError("NCCL: this build has no NCCL");
#endif
}

absl::StatusOr<NcclRendezvous> NcclRendezvousFromEnv() {
  NcclRendezvous r;
  ASSIGN_OR_RETURN(r.rank, EnvInt("SPARSESCALE_RANK", 0));
  ASSIGN_OR_RETURN(r.world_size, EnvInt("SPARSESCALE_WORLD_SIZE", 1));
  if (r.world_size < 1 || r.rank >= r.world_size) {
    return absl::InvalidArgumentError("SPARSESCALE_RANK: must be below SPARSESCALE_WORLD_SIZE (" +
                                      std::to_string(r.world_size) + ")");
  }
  const char* path = std::getenv("SPARSESCALE_NCCL_ID_FILE");
  r.id_path = path == nullptr ? "" : path;
  if (r.world_size > 1 && r.id_path.empty()) {
    return absl::InvalidArgumentError(
        "SPARSESCALE_NCCL_ID_FILE: required when SPARSESCALE_WORLD_SIZE > 1");
  }
  return r;
}

absl::StatusOr<std::string> RendezvousNcclUniqueId(const NcclRendezvous& r,
                                                   const std::string& unique_id_if_rank0,
                                                   int timeout_ms, int poll_ms) {
  if (r.id_path.empty()) {
    return absl::InvalidArgumentError("rendezvous: id_path is empty");
  }
  if (r.rank == 0) {
    const std::string tmp = r.id_path + ".tmp";
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      out.write(unique_id_if_rank0.data(), static_cast<std::streamsize>(unique_id_if_rank0.size()));
      if (!out) {
        return absl::InternalError("rendezvous: cannot write " + tmp);
      }
    }
    if (std::rename(tmp.c_str(), r.id_path.c_str()) != 0) {
      return absl::InternalError("rendezvous: cannot rename " + tmp + " to " + r.id_path);
    }
    return unique_id_if_rank0;
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (true) {
    std::ifstream in(r.id_path, std::ios::binary);
    if (in) {
      std::ostringstream content;
      content << in.rdbuf();
      return content.str();
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return absl::DeadlineExceededError("rendezvous: " + r.id_path + " did not appear within " +
                                         std::to_string(timeout_ms) + " ms");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(poll_ms));
  }
}

}  // namespace sparsescale::kernels::cuda
