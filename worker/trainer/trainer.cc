#include "worker/trainer/trainer.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <memory>
#include <regex>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status.h"
#include "kernels/ops.h"
#include "worker/trainer/checkpoint.h"
#include "worker/trainer/data.h"
#include "worker/trainer/flops.h"
#include "worker/trainer/gpt.h"
#include "worker/trainer/job_spec.h"
#include "worker/trainer/lr_schedule.h"
#include "worker/trainer/pruning.h"

namespace sparsescale::trainer {
namespace {

using Clock = std::chrono::steady_clock;
using sparsescale::v1::JobSpec;

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
  absl::Status RestoreOrInit();
  absl::StatusOr<double> TrainOneStep(int64_t t, double lr);
  absl::Status OptimizerStep(int64_t t, double lr);
  absl::Status UpdateDensities();
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
  Clock::time_point run_start_;
  std::string last_checkpoint_;
};

absl::Status Trainer::Prepare() {
  NormalizeJobSpec(&spec_);
  RETURN_IF_ERROR(ValidateJobSpec(spec_));
  if (options_.out_dir.empty()) {
    return absl::InvalidArgumentError("out_dir: an output directory is required");
  }
  if (spec_.gpus() > 1) {
    // RunTraining drives one device; refusing is better than silently training on one GPU.
    return absl::UnimplementedError(absl::StrCat("gpus: data parallelism over ", spec_.gpus(),
                                                 " GPUs is not implemented by the trainer"));
  }
  RETURN_IF_ERROR(CheckJobInputs(spec_));
  ASSIGN_OR_RETURN(TokenDataset data, TokenDataset::Load(spec_));
  data_.emplace(std::move(data));
  total_steps_ = TotalSteps(spec_);
  tokens_per_step_ = int64_t{spec_.data().batch_size()} * spec_.model().context();
  schedule_.emplace(spec_.pruning(), total_steps_);
  RETURN_IF_ERROR(CreateModel());
  RETURN_IF_ERROR(RestoreOrInit());
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
  ASSIGN_OR_RETURN(model_, Gpt::Create(ops_.get(), config, spec_.data().batch_size()));
  const ParamLayout& layout = model_->layout();
  ASSIGN_OR_RETURN(masks_, ops_->Allocate(std::max<size_t>(1, layout.num_mask()) * 4));
  ASSIGN_OR_RETURN(m_, ops_->Allocate(layout.num_params() * 4));
  ASSIGN_OR_RETURN(v_, ops_->Allocate(layout.num_params() * 4));
  ASSIGN_OR_RETURN(sumsq_, ops_->Allocate(sizeof(float)));
  RETURN_IF_ERROR(ops_->Fill(masks_->f32(), 1.0f, layout.num_mask()));
  inputs_.resize(static_cast<size_t>(tokens_per_step_));
  targets_.resize(static_cast<size_t>(tokens_per_step_));
  return absl::OkStatus();
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
  return UpdateDensities();
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
    const double norm = std::sqrt(static_cast<double>(sumsq));
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
    a.grad_scale = scale;
    const float* mask = p.maskable && masked ? masks_->f32() + p.mask_offset : nullptr;
    RETURN_IF_ERROR(ops_->AdamW(model_->param(p), model_->grad(p), m_->f32() + p.offset,
                                v_->f32() + p.offset, mask, p.size(), a));
  }
  return absl::OkStatus();
}

absl::StatusOr<double> Trainer::TrainOneStep(int64_t t, double lr) {
  data_->TrainBatch(spec_.seed(), t, inputs_.data(), targets_.data());
  ASSIGN_OR_RETURN(double loss, model_->TrainStep(inputs_.data(), targets_.data()));
  if (!std::isfinite(loss)) {
    return absl::InternalError(absl::StrCat("training diverged: loss ", loss, " at step ", t));
  }
  flops_sparse_ += sparse_step_flops_;
  RETURN_IF_ERROR(OptimizerStep(t, lr));
  if (schedule_->IsUpdateStep(t)) {
    RETURN_IF_ERROR(UpdateMasks(ops_.get(), model_->layout(), spec_.pruning(), *schedule_, t,
                                model_->params(), masks_->f32(), m_->f32(), v_->f32()));
    sparsity_ = schedule_->MaskSparsityAfter(t);
    RETURN_IF_ERROR(UpdateDensities());
  }
  return loss;
}

absl::StatusOr<double> Trainer::Evaluate() {
  double sum = 0;
  for (int i = 0; i < data_->eval_batches(); ++i) {
    data_->EvalBatch(i, inputs_.data(), targets_.data());
    ASSIGN_OR_RETURN(double loss, model_->Loss(inputs_.data(), targets_.data()));
    sum += loss;
  }
  return sum / data_->eval_batches();
}

absl::StatusOr<LossPoint> Trainer::MakePoint(int64_t t, double train_loss,
                                             std::optional<double> eval, double lr) {
  LossPoint p;
  p.step = t;
  p.tokens = t * tokens_per_step_;
  p.train_loss = train_loss;
  p.eval_loss = eval;
  p.sparsity = sparsity_;
  p.lr = lr;
  p.nonzeros_paper = PaperNonZeros(model_->config(), sparsity_);
  RETURN_IF_ERROR(
      ops_->CountNonZero(&p.nonzeros_exact, model_->params(), model_->layout().num_params()));
  p.flops_dense =
      DenseStepFlops(model_->config(), model_->layout(), tokens_per_step_) * static_cast<double>(t);
  p.flops_sparse = flops_sparse_;
  p.wall_s = WallSeconds();
  return p;
}

absl::Status Trainer::Checkpoint(int64_t t) {
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
  for (int64_t t = start_step_ + 1; t <= total_steps_; ++t) {
    if (observer_->StopRequested()) {
      if (options_.checkpoint_on_stop) {
        RETURN_IF_ERROR(Checkpoint(t - 1));
      }
      return absl::CancelledError(absl::StrCat("training stopped on request after step ", t - 1));
    }
    const double lr = LearningRate(spec_.optim(), t, total_steps_);
    ASSIGN_OR_RETURN(double loss, TrainOneStep(t, lr));
    const bool last = t == total_steps_;
    std::optional<double> eval;
    if (last || t % eval_every == 0) {
      ASSIGN_OR_RETURN(eval, Evaluate());
    }
    if (last || eval.has_value() || t % log_every == 0) {
      ASSIGN_OR_RETURN(LossPoint point, MakePoint(t, loss, eval, lr));
      RETURN_IF_ERROR(observer_->OnLossPoint(point));
      summary.nonzeros_exact = point.nonzeros_exact;
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
  summary.final_sparsity = sparsity_;
  summary.nonzeros_paper = PaperNonZeros(model_->config(), sparsity_);
  summary.last_checkpoint = last_checkpoint_;
  summary.wall_s = WallSeconds();
  return summary;
}

}  // namespace

absl::StatusOr<TrainSummary> RunTraining(const JobSpec& spec, const TrainOptions& options,
                                         TrainObserver* observer) {
  TrainObserver silent;
  Trainer trainer(spec, options, observer != nullptr ? observer : &silent);
  RETURN_IF_ERROR(trainer.Prepare());
  return trainer.Run();
}

}  // namespace sparsescale::trainer
