// The pruning trainer's entry point: runs one JobSpec (GPT, AdamW, gradual magnitude pruning)
// on one compute backend, reporting every loss point and checkpoint to an observer. The worker
// daemon and `sparsescale train` both call RunTraining; neither sees the model internals.
//
// RunTraining is thread-compatible: concurrent calls on different out_dirs are independent
// (each owns its Ops backend); the observer is called only from the calling thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/rendezvous.h"
#include "kernels/comm.h"
#include "sparsescale/v1/coordinator.pb.h"
#include "sparsescale/v1/job.pb.h"

namespace sparsescale::trainer {

// One point of the loss curve: the API's own record (proto/sparsescale/v1/coordinator.proto
// documents its fields), so the worker sends what the trainer made without a copy per field.
using sparsescale::v1::LossPoint;

// The eval loss of a point, when it was evaluated at that step.
inline std::optional<double> EvalLoss(const LossPoint& point) {
  return point.has_eval_loss() ? std::optional<double>(point.eval_loss()) : std::nullopt;
}

// A cheap snapshot for progress displays and heartbeats (every step).
struct TrainProgress {
  int64_t step = 0;
  int64_t total_steps = 0;
  int64_t tokens = 0;
  double train_loss = 0;
  double sparsity = 0;
  double lr = 0;
  double tokens_per_s = 0;  // measured over this process's steps so far.
  double eta_s = 0;         // remaining steps at the current rate.
  double wall_s = 0;
};

// Callbacks from RunTraining. All methods are called on the training thread.
class TrainObserver {
 public:
  virtual ~TrainObserver() = default;
  // An error aborts training (returned from RunTraining as is).
  virtual absl::Status OnLossPoint(const LossPoint& point) {
    (void)point;
    return absl::OkStatus();
  }
  // Called after `path` is durably written (fsync + rename). An error aborts training. Old
  // checkpoints beyond spec.checkpoint.keep_last are deleted only after this returns OK.
  virtual absl::Status OnCheckpoint(int64_t step, const std::string& path) {
    (void)step;
    (void)path;
    return absl::OkStatus();
  }
  // Polled once per step; true => checkpoint (when TrainOptions::checkpoint_on_stop) and
  // return absl::CancelledError from RunTraining.
  virtual bool StopRequested() { return false; }
  virtual void OnProgress(const TrainProgress& progress) { (void)progress; }
};

// Forward products of the body matrices of an n:m job once its mask has frozen (after the
// pruning window, when every body matrix is exactly n:m): kAuto runs them on the backend's
// sparse kernel where it has one (CUDA: 2:4 on sparse tensor cores), kOff keeps them dense,
// kEverywhere packs every body matrix (the CPU's reference packing is no faster; for tests and
// comparisons). Results agree within the backend's product precision (bit-equal on the CPU).
enum class SparseMatmul { kAuto, kOff, kEverywhere };

// Parses "auto", "off" or "everywhere"; InvalidArgument naming `field` otherwise.
absl::StatusOr<SparseMatmul> ParseSparseMatmul(const std::string& text, const std::string& field);

struct TrainOptions {
  // Directory for ckpt-<step>.safetensors. Created (with parents) only after the spec, the
  // data and any checkpoint have been validated, so bad input writes nothing.
  std::string out_dir;
  // A checkpoint written by RunTraining to continue from (bit-exact on the same backend), or
  // empty for a fresh start. Its job spec must hash equal (CanonicalJobSpecHash) to `spec`.
  std::string resume_from;
  // "cpu" or "cuda" force a backend; "auto" (or empty) defers to spec.device, whose own
  // "auto" picks CUDA when a GPU is usable.
  std::string device = "auto";
  // CPU threads; 0 defers to spec.threads (default 1).
  int threads = 0;
  // When spec.data.dataset is set: the directory holding that dataset's files (the worker's
  // dataset cache); shard names resolve against it (spec::ResolveDatasetShards).
  std::string dataset_dir;
  SparseMatmul sparse_matmul = SparseMatmul::kAuto;
  // Write a checkpoint before returning Cancelled when StopRequested() turns true.
  bool checkpoint_on_stop = true;

  // Data parallelism. The job's rank count comes from the spec (DataParallelRanks: processes on
  // CPU, gpus on CUDA) and data.batch_size is the GLOBAL batch: rank r trains on windows
  // [r * B / W, (r + 1) * B / W) of every step's batch, gradients are summed over the ranks (in
  // buckets) and averaged, so a run on W ranks trains the same job as one process (the same
  // cell hash; equal up to float summation order). Masks are recomputed on every rank from
  // identical weights and checked equal by checksum; only rank 0 writes checkpoints and calls
  // OnLossPoint / OnCheckpoint / OnProgress (StopRequested on any rank stops every rank).
  // This process's rank; ignored when `comm` is set.
  int rank = 0;
  // How the ranks meet when there are several: "file:PATH", "env" or "tcp:HOST:PORT"
  // (common/rendezvous.h; CUDA carries NCCL's id over the same rendezvous).
  std::string rendezvous;
  // Or an outside service that carries rank 0's rendezvous bytes (common/rendezvous.h,
  // RendezvousExchange); takes precedence over `rendezvous` when set.
  RendezvousExchange exchange = nullptr;
  // The IPv4 address this rank's TCP ring listener binds and publishes (the worker's
  // --advertise-address, reachable from the other ranks' machines); empty: 127.0.0.1.
  std::string rendezvous_host;
  // Or an already joined communicator (not owned) over host memory, i.e. for the CPU backend;
  // its world size must equal the spec's rank count. Takes precedence over rank/rendezvous.
  kernels::Communicator* comm = nullptr;
};

struct TrainSummary {
  int64_t steps = 0;  // total steps of the job (the last step completed).
  double final_train_loss = 0;
  std::optional<double> final_eval_loss;  // always set when training completes.
  double final_sparsity = 0;
  int64_t nonzeros_paper = 0;
  int64_t nonzeros_exact = 0;
  std::string last_checkpoint;  // path of the final checkpoint.
  double wall_s = 0;
  // Seconds spent recomputing masks (UpdateMasks and the density count after it) in this run.
  double mask_update_s = 0;
  // Body matrices whose forward product ran on the sparse kernel (SparseMatmul), and the first
  // step that used it (0: none).
  int sparse_matmul_matrices = 0;
  int64_t sparse_matmul_from_step = 0;
};

// Trains `spec` (normalised and validated here; callers need not do it first). The last step
// always gets an eval loss, a loss point and a checkpoint.
// Errors: InvalidArgument (bad spec, data or checkpoint; names the field or file, nothing is
// written), NotFound (missing shard or checkpoint), Unavailable (device), Cancelled (stop
// requested; a checkpoint was written first), Internal (non-finite loss: diverged; a
// data-parallel peer failed or the ranks diverged), DeadlineExceeded (the other ranks did not
// join in time), or the observer's own error.
absl::StatusOr<TrainSummary> RunTraining(const sparsescale::v1::JobSpec& spec,
                                         const TrainOptions& options, TrainObserver* observer);

}  // namespace sparsescale::trainer
