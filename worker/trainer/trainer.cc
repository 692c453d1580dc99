#include "worker/trainer/trainer.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <memory>
#include <regex>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/log.h"
#include "common/status.h"
#include "kernels/bucketed_all_reduce.h"
#include "kernels/comm_factory.h"
#include "kernels/ops.h"
#include "worker/trainer/checkpoint.h"
#include "worker/trainer/data.h"
#include "worker/trainer/flops.h"
#include "worker/trainer/gpt.h"
#include "spec/job_spec.h"
#include "worker/trainer/job_inputs.h"
#include "worker/trainer/lr_schedule.h"
#include "worker/trainer/pruning.h"

namespace sparsescale::trainer {
namespace {

using Clock = std::chrono::steady_clock;
using sparsescale::v1::JobSpec;

// Gradients are all-reduced in buckets of at least this many floats (4 MiB), made of the
// slices the backward pass finishes (ln_f and the head, each block from the last, the
// embeddings), each bucket as soon as it is full.
constexpr size_t kGradBucketFloats = size_t{1} << 20;

// One training run: owns the backend, model, optimiser state and masks.
class Trainer {
 public:
  Trainer(JobSpec spec, TrainOptions options, TrainObserver* observer)
      : spec_(std::move(spec)), options_(std::move(options)), observer_(observer) {}

  // Validates everything and restores or initialises the state; creates out_dir last.
  absl::Status Prepare();
  absl::StatusOr<TrainSummary> Run();

 private:
  absl::Status CreateModel();
  absl::Status JoinGroup();
  absl::Status RestoreOrInit();
  // Data parallelism (no-ops on one rank).
  absl::Status AllReduceHost(std::vector<float>* values);
  absl::StatusOr<double> ReduceLossAndStop(double local_loss);
  absl::Status AgreeAcrossRanks(uint64_t value, const std::string& what);
  absl::StatusOr<uint64_t> StateChecksum();
  bool leader() const { return rank_ == 0; }
  absl::StatusOr<double> TrainOneStep(int64_t t, double lr);
  absl::Status OptimizerStep(int64_t t, double lr);
  absl::Status UpdateDensities();
  absl::Status MaybeUseSparseMatmul(int64_t completed);
  absl::StatusOr<double> Evaluate();
  absl::StatusOr<LossPoint> MakePoint(int64_t t, double train_loss, std::optional<double> eval,
                                      double lr);
  absl::Status Checkpoint(int64_t t);
  void RemoveOldCheckpoints() const;
  void ReportProgress(int64_t t, double train_loss, double lr);
  double WallSeconds() const {
    return wall_offset_s_ + std::chrono::duration<double>(Clock::now() - run_start_).count();
  }
  StateBuffers State() {
    return StateBuffers{model_->params(), masks_->f32(), m_->f32(), v_->f32()};
  }

  JobSpec spec_;
  TrainOptions options_;
  TrainObserver* observer_;
  std::unique_ptr<kernels::Ops> ops_;
  std::optional<TokenDataset> data_;
  std::unique_ptr<Gpt> model_;
  std::unique_ptr<kernels::DeviceBuffer> masks_, m_, v_, sumsq_;
  std::optional<PruningSchedule> schedule_;
  std::vector<int32_t> inputs_, targets_;
  int64_t total_steps_ = 0;
  int64_t start_step_ = 0;
  int64_t tokens_per_step_ = 0;
  double sparsity_ = 0;           // body mask sparsity in force
  double sparse_step_flops_ = 0;  // FLOPs of one step at the current densities
  double flops_sparse_ = 0;
  double wall_offset_s_ = 0;
  double mask_update_s_ = 0;
  bool sparse_decided_ = false;  // MaybeUseSparseMatmul has packed (or chosen not to)
  int64_t sparse_from_step_ = 0;
  Clock::time_point run_start_;
  std::string last_checkpoint_;
  std::unique_ptr<kernels::Communicator> owned_comm_;
  kernels::Communicator* comm_ = nullptr;               // null on one rank
  std::optional<kernels::BucketedAllReducer> reducer_;  // set with comm_
  int rank_ = 0;
  int world_ = 1;
  int local_batch_ = 0;                          // this rank's share of data.batch_size
  std::unique_ptr<kernels::DeviceBuffer> sync_;  // backend memory for small all-reduces
  size_t sync_floats_ = 0;
  bool stop_agreed_ = false;  // some rank asked to stop (agreed at the last reduction)
};

absl::Status Trainer::Prepare() {
  spec::NormalizeJobSpec(&spec_);
  RETURN_IF_ERROR(spec::ValidateJobSpec(spec_));
  world_ = spec::DataParallelRanks(spec_);
  rank_ = options_.comm != nullptr ? options_.comm->rank() : options_.rank;
  const char* ranks_field = spec_.device() == "cpu" ? "processes" : "gpus";
  if (options_.comm != nullptr && options_.comm->world_size() != world_) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: the job has %d data-parallel ranks but the communicator has %d",
                        ranks_field, world_, options_.comm->world_size()));
  }
  if (rank_ < 0 || rank_ >= world_) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "rank: must be in [0, %d) (the job's %s), got %d", world_, ranks_field, rank_));
  }
  if (world_ > 1 && options_.comm == nullptr && options_.rendezvous.empty() && !options_.exchange) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: the job has %d data-parallel ranks; start one process per rank with a rendezvous "
        "(sparsescale train --rank R --world-size %d --rendezvous file:PATH)",
        ranks_field, world_, world_));
  }
  if (leader() && options_.out_dir.empty()) {
    return absl::InvalidArgumentError("out_dir: an output directory is required");
  }
  local_batch_ = spec_.data().batch_size() / world_;
  // A stored dataset's shard names resolve against the worker's cache (options_.dataset_dir);
  // spec_ itself stays as leased, so its hash is the same on every worker.
  JobSpec data_spec = spec_;
  if (!spec_.data().dataset().empty()) {
    if (options_.dataset_dir.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "data.dataset: names the stored dataset ", spec_.data().dataset(),
          "; run the job through a coordinator (its worker downloads the dataset)"));
    }
    ASSIGN_OR_RETURN(data_spec, spec::ResolveDatasetShards(spec_, options_.dataset_dir));
  }
  RETURN_IF_ERROR(CheckJobInputs(data_spec));
  ASSIGN_OR_RETURN(TokenDataset data, TokenDataset::Load(data_spec));
  data_.emplace(std::move(data));
  total_steps_ = spec::TotalSteps(spec_);
  tokens_per_step_ = int64_t{spec_.data().batch_size()} * spec_.model().context();
  schedule_.emplace(spec_.pruning(), total_steps_);
  RETURN_IF_ERROR(CreateModel());
  RETURN_IF_ERROR(JoinGroup());
  RETURN_IF_ERROR(RestoreOrInit());
  if (world_ > 1) {
    // Ranks started with different jobs or checkpoints would train garbage together.
    const std::string hash = spec::CanonicalJobSpecHash(spec_);
    RETURN_IF_ERROR(AgreeAcrossRanks(
        std::stoull(hash.substr(0, 16), nullptr, 16) ^ static_cast<uint64_t>(start_step_),
        "the job spec hash and start step"));
    ASSIGN_OR_RETURN(uint64_t state, StateChecksum());
    RETURN_IF_ERROR(AgreeAcrossRanks(state, "the initial weights and masks"));
  }
  if (!leader()) {
    return absl::OkStatus();  // only rank 0 writes
  }
  std::error_code ec;
  std::filesystem::create_directories(options_.out_dir, ec);
  if (ec) {
    return absl::InternalError(options_.out_dir + ": cannot create directory: " + ec.message());
  }
  return absl::OkStatus();
}

absl::Status Trainer::CreateModel() {
  const bool defer = options_.device.empty() || options_.device == "auto";
  const std::string device = defer ? spec_.device() : options_.device;
  const int threads = options_.threads > 0 ? options_.threads : spec_.threads();
  ASSIGN_OR_RETURN(ops_, kernels::MakeOps(device, threads));
  const auto& m = spec_.model();
  const GptConfig config{m.layers(), m.width(), m.heads(), m.context(), m.vocab()};
  ASSIGN_OR_RETURN(model_, Gpt::Create(ops_.get(), config, local_batch_));
  const ParamLayout& layout = model_->layout();
  ASSIGN_OR_RETURN(masks_, ops_->Allocate(std::max<size_t>(1, layout.num_mask()) * 4));
  ASSIGN_OR_RETURN(m_, ops_->Allocate(layout.num_params() * 4));
  ASSIGN_OR_RETURN(v_, ops_->Allocate(layout.num_params() * 4));
  ASSIGN_OR_RETURN(sumsq_, ops_->Allocate(sizeof(float)));
  RETURN_IF_ERROR(ops_->Fill(masks_->f32(), 1.0f, layout.num_mask()));
  inputs_.resize(static_cast<size_t>(local_batch_) * static_cast<size_t>(m.context()));
  targets_.resize(inputs_.size());
  return absl::OkStatus();
}

absl::Status Trainer::JoinGroup() {
  if (world_ == 1) {
    return absl::OkStatus();
  }
  if (options_.comm != nullptr) {
    if (ops_->name() != "cpu") {
      return absl::InvalidArgumentError(
          "comm: a ready communicator works on host memory (the CPU backend); give the " +
          ops_->name() + " backend a rendezvous instead");
    }
    comm_ = options_.comm;
  } else {
    kernels::TcpCommOptions tcp;
    if (!options_.rendezvous_host.empty()) {
      tcp.bind_host = options_.rendezvous_host;
    }
    ASSIGN_OR_RETURN(owned_comm_,
                     kernels::MakeCommunicator(*ops_,
                                               kernels::CommConfig{rank_, world_,
                                                                   options_.rendezvous,
                                                                   options_.exchange},
                                               tcp));
    comm_ = owned_comm_.get();
  }
  reducer_.emplace(comm_, model_->grads(), model_->layout().num_params(), kGradBucketFloats);
  return absl::OkStatus();
}

// Sums `values` over the ranks, staged through backend memory (NCCL reduces device buffers).
absl::Status Trainer::AllReduceHost(std::vector<float>* values) {
  if (values->size() > sync_floats_) {
    ASSIGN_OR_RETURN(sync_, ops_->Allocate(values->size() * sizeof(float)));
    sync_floats_ = values->size();
  }
  const size_t bytes = values->size() * sizeof(float);
  RETURN_IF_ERROR(ops_->CopyToDevice(sync_->f32(), values->data(), bytes));
  RETURN_IF_ERROR(comm_->AllReduceSum(sync_->f32(), values->size()));
  return ops_->CopyToHost(values->data(), sync_->f32(), bytes);
}

// The mean of the ranks' batch losses (equal shares, so the global batch's mean), and whether
// any rank's observer asked to stop.
absl::StatusOr<double> Trainer::ReduceLossAndStop(double local_loss) {
  std::vector<float> v = {static_cast<float>(local_loss), observer_->StopRequested() ? 1.0f : 0.0f};
  RETURN_IF_ERROR(AllReduceHost(&v));
  stop_agreed_ = v[1] > 0;
  return static_cast<double>(v[0]) / world_;
}

// Every rank contributes `value` in 16-bit pieces (exact in float) at its own slot; all must
// match. Fails loudly instead of letting replicas drift apart silently.
absl::Status Trainer::AgreeAcrossRanks(uint64_t value, const std::string& what) {
  constexpr int kPieces = 4;
  std::vector<float> v(static_cast<size_t>(kPieces * world_), 0.0f);
  for (int k = 0; k < kPieces; ++k) {
    v[static_cast<size_t>(kPieces * rank_ + k)] = static_cast<float>((value >> (16 * k)) & 0xffff);
  }
  RETURN_IF_ERROR(AllReduceHost(&v));
  for (int r = 0; r < world_; ++r) {
    uint64_t theirs = 0;
    for (int k = 0; k < kPieces; ++k) {
      theirs |= static_cast<uint64_t>(v[static_cast<size_t>(kPieces * r + k)]) << (16 * k);
    }
    if (theirs != value) {
      return absl::InternalError(
          absl::StrFormat("data-parallel ranks disagree on %s: rank %d has %016x, rank %d has "
                          "%016x",
                          what, rank_, value, r, theirs));
    }
  }
  return absl::OkStatus();
}

// FNV-1a over the bits of the parameters and masks.
absl::StatusOr<uint64_t> Trainer::StateChecksum() {
  const ParamLayout& layout = model_->layout();
  std::vector<uint32_t> bits(layout.num_params() + layout.num_mask());
  RETURN_IF_ERROR(ops_->CopyToHost(bits.data(), model_->params(), layout.num_params() * 4));
  RETURN_IF_ERROR(
      ops_->CopyToHost(bits.data() + layout.num_params(), masks_->f32(), layout.num_mask() * 4));
  uint64_t h = 14695981039346656037ull;
  for (uint32_t word : bits) {
    h = (h ^ word) * 1099511628211ull;
  }
  return h;
}

absl::Status Trainer::RestoreOrInit() {
  if (!options_.resume_from.empty()) {
    ASSIGN_OR_RETURN(CheckpointScalars s, ReadCheckpoint(options_.resume_from, spec_, ops_.get(),
                                                         model_->layout(), State()));
    if (s.step > total_steps_) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s: checkpoint step %d is beyond the job's %d steps",
                          options_.resume_from, s.step, total_steps_));
    }
    start_step_ = s.step;
    flops_sparse_ = s.flops_sparse;
    wall_offset_s_ = s.wall_s;
    // One line in the job's log: the end-to-end tests read it to tell a real resume from a
    // restart whose early points the coordinator would silently drop.
    LogInfo("resuming at step %d of %d from checkpoint step %d (%s)", start_step_ + 1, total_steps_,
            start_step_, options_.resume_from);
  } else if (!spec_.pruning().init_checkpoint().empty()) {
    auto status = LoadWeights(spec_.pruning().init_checkpoint(), ops_.get(), model_->layout(),
                              model_->params());
    if (!status.ok()) {
      return absl::Status(status.code(),
                          "pruning.init_checkpoint: " + std::string(status.message()));
    }
  } else {
    RETURN_IF_ERROR(model_->InitWeights(spec_.seed()));
  }
  sparsity_ = schedule_->MaskSparsityAfter(start_step_);
  RETURN_IF_ERROR(UpdateDensities());
  return MaybeUseSparseMatmul(start_step_);
}

// Once the last mask update of an n:m job is behind (after step `completed`), moves the body
// matrices' forward products onto the sparse kernel as options_.sparse_matmul says.
absl::Status Trainer::MaybeUseSparseMatmul(int64_t completed) {
  const auto& p = spec_.pruning();
  if (sparse_decided_ || options_.sparse_matmul == SparseMatmul::kOff || !schedule_->enabled() ||
      p.structure() != sparsescale::v1::SPARSITY_STRUCTURE_NM ||
      completed < schedule_->end_step()) {
    return absl::OkStatus();
  }
  sparse_decided_ = true;
  ASSIGN_OR_RETURN(int packed,
                   model_->UseSparseMatmul(masks_->f32(), p.n(), p.m(),
                                           options_.sparse_matmul == SparseMatmul::kEverywhere));
  sparse_from_step_ = packed > 0 ? completed + 1 : 0;
  return absl::OkStatus();
}

// Recomputes the per-step sparsity-exploited FLOPs from the masks' actual densities.
absl::Status Trainer::UpdateDensities() {
  const ParamLayout& layout = model_->layout();
  std::vector<double> density(layout.tensors().size(), 1.0);
  for (size_t i = 0; i < layout.tensors().size(); ++i) {
    const ParamTensor& t = layout.tensors()[i];
    if (t.maskable) {
      int64_t kept = 0;
      RETURN_IF_ERROR(ops_->CountNonZero(&kept, masks_->f32() + t.mask_offset, t.size()));
      density[i] = static_cast<double>(kept) / static_cast<double>(t.size());
    }
  }
  const ParamTensor* first = layout.tensors().data();
  sparse_step_flops_ = SparseStepFlops(
      model_->config(), layout, tokens_per_step_,
      [&](const ParamTensor& t) { return density[static_cast<size_t>(&t - first)]; });
  return absl::OkStatus();
}

absl::Status Trainer::OptimizerStep(int64_t t, double lr) {
  const ParamLayout& layout = model_->layout();
  const auto& o = spec_.optim();
  // The masks hold zeros exactly when the body sparsity in force is positive; until then they
  // are all ones and are skipped (same result, less memory traffic).
  const bool masked = sparsity_ > 0;
  // Pruned weights do not exist: their gradients must not count towards the clipping norm.
  for (const ParamTensor& p : layout.tensors()) {
    if (p.maskable && masked) {
      RETURN_IF_ERROR(ops_->ApplyMask(model_->grad(p), masks_->f32() + p.mask_offset, p.size()));
    }
  }
  float scale = 1.0f;
  if (o.grad_clip() > 0) {
    RETURN_IF_ERROR(ops_->Fill(sumsq_->f32(), 0.0f, 1));
    RETURN_IF_ERROR(ops_->SumSquares(sumsq_->f32(), model_->grads(), layout.num_params()));
    float sumsq = 0;
    RETURN_IF_ERROR(ops_->CopyToHost(&sumsq, sumsq_->f32(), sizeof(float)));
    // Gradients hold the sum over the ranks: the average's norm is 1/world of theirs.
    const double norm = std::sqrt(static_cast<double>(sumsq)) / world_;
    if (!std::isfinite(norm)) {
      return absl::InternalError(
          absl::StrCat("training diverged: gradient norm ", norm, " at step ", t));
    }
    scale = norm > o.grad_clip() ? static_cast<float>(o.grad_clip() / norm) : 1.0f;
  }
  for (const ParamTensor& p : layout.tensors()) {
    kernels::AdamWParams a;
    a.lr = static_cast<float>(lr);
    a.beta1 = static_cast<float>(o.beta1());
    a.beta2 = static_cast<float>(o.beta2());
    a.eps = static_cast<float>(o.eps());
    a.weight_decay = p.is_matrix() ? static_cast<float>(o.weight_decay()) : 0.0f;
    a.step = t;
    a.grad_scale = scale / static_cast<float>(world_);  // exact for 1 and 2 ranks
    const float* mask = p.maskable && masked ? masks_->f32() + p.mask_offset : nullptr;
    RETURN_IF_ERROR(ops_->AdamW(model_->param(p), model_->grad(p), m_->f32() + p.offset,
                                v_->f32() + p.offset, mask, p.size(), a));
  }
  return absl::OkStatus();
}

absl::StatusOr<double> Trainer::TrainOneStep(int64_t t, double lr) {
  data_->TrainBatchSlice(spec_.seed(), t, rank_ * local_batch_, local_batch_, inputs_.data(),
                         targets_.data());
  // With several ranks the gradients are summed in buckets as the backward pass finishes them
  // (overlapped with it where the communicator can); the average (division by the rank count)
  // is folded into the optimiser's grad_scale.
  Gpt::GradsReady ready = nullptr;
  if (reducer_.has_value()) {
    reducer_->Reset();
    ready = [this](size_t offset, size_t count) { return reducer_->Ready(offset, count); };
  }
  ASSIGN_OR_RETURN(double loss, model_->TrainStep(inputs_.data(), targets_.data(), ready));
  if (world_ > 1) {
    RETURN_IF_ERROR(reducer_->Finish());
    ASSIGN_OR_RETURN(loss, ReduceLossAndStop(loss));
  }
  if (!std::isfinite(loss)) {
    return absl::InternalError(absl::StrCat("training diverged: loss ", loss, " at step ", t));
  }
  flops_sparse_ += sparse_step_flops_;
  RETURN_IF_ERROR(OptimizerStep(t, lr));
  RETURN_IF_ERROR(model_->RepackSparse());
  if (schedule_->IsUpdateStep(t)) {
    float drained = 0;  // a host copy waits for the step's queued device work: not timed below
    RETURN_IF_ERROR(ops_->CopyToHost(&drained, masks_->f32(), sizeof(float)));
    const auto update_start = Clock::now();
    RETURN_IF_ERROR(UpdateMasks(ops_.get(), model_->layout(), spec_.pruning(), *schedule_, t,
                                model_->params(), masks_->f32(), m_->f32(), v_->f32()));
    sparsity_ = schedule_->MaskSparsityAfter(t);
    RETURN_IF_ERROR(UpdateDensities());  // synchronises (its counts come back to the host)
    mask_update_s_ += std::chrono::duration<double>(Clock::now() - update_start).count();
    RETURN_IF_ERROR(MaybeUseSparseMatmul(t));
    if (world_ > 1) {
      ASSIGN_OR_RETURN(uint64_t state, StateChecksum());
      RETURN_IF_ERROR(AgreeAcrossRanks(
          state, absl::StrCat("the weights and masks after the mask update at step ", t)));
    }
  }
  return loss;
}

absl::StatusOr<double> Trainer::Evaluate() {
  double sum = 0;
  std::vector<float> shares(world_ > 1 ? static_cast<size_t>(data_->eval_batches()) : 0);
  for (int i = 0; i < data_->eval_batches(); ++i) {
    data_->EvalBatchSlice(i, rank_ * local_batch_, local_batch_, inputs_.data(), targets_.data());
    ASSIGN_OR_RETURN(double loss, model_->Loss(inputs_.data(), targets_.data()));
    if (world_ > 1) {
      shares[static_cast<size_t>(i)] = static_cast<float>(loss);
    } else {
      sum += loss;
    }
  }
  if (world_ > 1) {
    RETURN_IF_ERROR(AllReduceHost(&shares));
    for (float share_sum : shares) {
      sum += static_cast<double>(share_sum) / world_;
    }
  }
  return sum / data_->eval_batches();
}

absl::StatusOr<LossPoint> Trainer::MakePoint(int64_t t, double train_loss,
                                             std::optional<double> eval, double lr) {
  int64_t nonzeros_exact = 0;
  RETURN_IF_ERROR(
      ops_->CountNonZero(&nonzeros_exact, model_->params(), model_->layout().num_params()));
  LossPoint p;
  p.set_step(t);
  p.set_tokens(t * tokens_per_step_);
  p.set_train_loss(train_loss);
  if (eval.has_value()) {
    p.set_eval_loss(*eval);
  }
  p.set_sparsity(sparsity_);
  p.set_lr(lr);
  p.set_nonzeros_paper(PaperNonZeros(model_->config(), sparsity_));
  p.set_nonzeros_exact(nonzeros_exact);
  p.set_flops_dense(DenseStepFlops(model_->config(), model_->layout(), tokens_per_step_) *
                    static_cast<double>(t));
  p.set_flops_sparse(flops_sparse_);
  p.set_wall_s(WallSeconds());
  return p;
}

absl::Status Trainer::Checkpoint(int64_t t) {
  if (!leader()) {
    return absl::OkStatus();
  }
  const std::string path =
      (std::filesystem::path(options_.out_dir) / absl::StrCat("ckpt-", t, ".safetensors")).string();
  CheckpointScalars s;
  s.step = t;
  s.tokens = t * tokens_per_step_;
  s.seed = spec_.seed();
  s.flops_dense =
      DenseStepFlops(model_->config(), model_->layout(), tokens_per_step_) * static_cast<double>(t);
  s.flops_sparse = flops_sparse_;
  s.wall_s = WallSeconds();
  s.sparsity = sparsity_;
  RETURN_IF_ERROR(WriteCheckpoint(path, spec_, ops_.get(), model_->layout(), State(), s));
  last_checkpoint_ = path;
  RETURN_IF_ERROR(observer_->OnCheckpoint(t, path));
  RemoveOldCheckpoints();
  return absl::OkStatus();
}

// Keeps the newest checkpoint.keep_last files named ckpt-<step>.safetensors (0 keeps all).
void Trainer::RemoveOldCheckpoints() const {
  const int keep = spec_.checkpoint().keep_last();
  if (keep <= 0) {
    return;
  }
  static const std::regex kName(R"(ckpt-(\d+)\.safetensors)");
  std::vector<std::pair<int64_t, std::filesystem::path>> found;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(options_.out_dir, ec)) {
    std::smatch match;
    const std::string name = entry.path().filename().string();
    if (std::regex_match(name, match, kName)) {
      found.emplace_back(std::stoll(match[1].str()), entry.path());
    }
  }
  std::sort(found.begin(), found.end());
  for (size_t i = 0; i + static_cast<size_t>(keep) < found.size(); ++i) {
    std::filesystem::remove(found[i].second, ec);
  }
}

void Trainer::ReportProgress(int64_t t, double train_loss, double lr) {
  if (!leader()) {
    return;
  }
  TrainProgress p;
  p.step = t;
  p.total_steps = total_steps_;
  p.tokens = t * tokens_per_step_;
  p.train_loss = train_loss;
  p.sparsity = sparsity_;
  p.lr = lr;
  const double elapsed = std::chrono::duration<double>(Clock::now() - run_start_).count();
  const int64_t done = t - start_step_;
  p.tokens_per_s = elapsed > 0 ? static_cast<double>(done * tokens_per_step_) / elapsed : 0;
  p.eta_s = done > 0 ? elapsed / static_cast<double>(done) * (total_steps_ - t) : 0;
  p.wall_s = WallSeconds();
  observer_->OnProgress(p);
}

absl::StatusOr<TrainSummary> Trainer::Run() {
  run_start_ = Clock::now();
  TrainSummary summary;
  summary.steps = total_steps_;
  const int64_t eval_every = spec_.data().eval_interval_steps();
  const int64_t log_every = spec_.log_interval_steps();
  const int64_t ckpt_every = spec_.checkpoint().interval_steps();
  if (world_ > 1 && start_step_ < total_steps_) {
    // Later polls ride on each step's loss reduction (ReduceLossAndStop).
    std::vector<float> stop = {observer_->StopRequested() ? 1.0f : 0.0f};
    RETURN_IF_ERROR(AllReduceHost(&stop));
    stop_agreed_ = stop[0] > 0;
  }
  const double peak_lr = PeakLearningRate(spec_);
  for (int64_t t = start_step_ + 1; t <= total_steps_; ++t) {
    if (world_ > 1 ? stop_agreed_ : observer_->StopRequested()) {
      if (options_.checkpoint_on_stop) {
        RETURN_IF_ERROR(Checkpoint(t - 1));
      }
      return absl::CancelledError(absl::StrCat("training stopped on request after step ", t - 1));
    }
    const double lr = LearningRate(spec_.optim(), peak_lr, t, total_steps_);
    ASSIGN_OR_RETURN(double loss, TrainOneStep(t, lr));
    const bool last = t == total_steps_;
    std::optional<double> eval;
    if (last || t % eval_every == 0) {
      ASSIGN_OR_RETURN(eval, Evaluate());
    }
    if (last || eval.has_value() || t % log_every == 0) {
      ASSIGN_OR_RETURN(LossPoint point, MakePoint(t, loss, eval, lr));
      if (leader()) {
        RETURN_IF_ERROR(observer_->OnLossPoint(point));
      }
      summary.nonzeros_exact = point.nonzeros_exact();
    }
    if (last && world_ > 1) {
      ASSIGN_OR_RETURN(uint64_t state, StateChecksum());
      RETURN_IF_ERROR(AgreeAcrossRanks(state, "the final weights and masks"));
    }
    if (last || (ckpt_every > 0 && t % ckpt_every == 0)) {
      RETURN_IF_ERROR(Checkpoint(t));
    }
    ReportProgress(t, loss, lr);
    summary.final_train_loss = loss;
    summary.final_eval_loss = eval;
  }
  if (start_step_ >= total_steps_) {
    // Resumed from the final checkpoint: nothing to train; report its evaluation.
    ASSIGN_OR_RETURN(summary.final_eval_loss, Evaluate());
    RETURN_IF_ERROR(ops_->CountNonZero(&summary.nonzeros_exact, model_->params(),
                                       model_->layout().num_params()));
    last_checkpoint_ = options_.resume_from;
  }
  if (world_ > 1) {
    RETURN_IF_ERROR(comm_->Barrier());  // every rank returns after rank 0's last checkpoint
  }
  summary.final_sparsity = sparsity_;
  summary.nonzeros_paper = PaperNonZeros(model_->config(), sparsity_);
  summary.last_checkpoint = last_checkpoint_;
  summary.wall_s = WallSeconds();
  summary.mask_update_s = mask_update_s_;
  summary.sparse_matmul_matrices = model_->sparse_matrices();
  summary.sparse_matmul_from_step = sparse_from_step_;
  return summary;
}

}  // namespace

absl::StatusOr<SparseMatmul> ParseSparseMatmul(const std::string& text, const std::string& field) {
  if (text == "auto") {
    return SparseMatmul::kAuto;
  }
  if (text == "off") {
    return SparseMatmul::kOff;
  }
  if (text == "everywhere") {
    return SparseMatmul::kEverywhere;
  }
  return absl::InvalidArgumentError(
      absl::StrCat(field, ": must be one of auto, off, everywhere; got \"", text, "\""));
}

absl::StatusOr<TrainSummary> RunTraining(const JobSpec& spec, const TrainOptions& options,
                                         TrainObserver* observer) {
  TrainObserver silent;
  Trainer trainer(spec, options, observer != nullptr ? observer : &silent);
  RETURN_IF_ERROR(trainer.Prepare());
  return trainer.Run();
}

}  // namespace sparsescale::trainer
