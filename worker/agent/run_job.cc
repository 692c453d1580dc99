#include "worker/agent/run_job.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/rendezvous.h"
#include "common/status.h"
#include "spec/job_spec.h"
#include "worker/agent/coordinator_rendezvous.h"
#include "worker/agent/job_events.h"
#include "worker/agent/rank_launcher.h"
#include "worker/agent/worker_rpc.h"
#include "worker/trainer/trainer.h"

namespace sparsescale::agent {
namespace {

namespace fs = std::filesystem;

volatile std::sig_atomic_t g_stop_requested = 0;

void OnTerm(int) { g_stop_requested = 1; }

// Writes one event line to stdout with write(2) (no stdio buffering: the daemon must see
// each event as it happens). Fails when the daemon is gone.
absl::Status Emit(const std::string& line) {
  std::string data = line + "\n";
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = write(STDOUT_FILENO, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return absl::UnavailableError("the worker daemon closed the event pipe");
    }
    done += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

class EventObserver : public trainer::TrainObserver {
 public:
  explicit EventObserver(std::string upload_dir) : upload_dir_(std::move(upload_dir)) {}

  absl::Status OnLossPoint(const trainer::LossPoint& point) override {
    if (absl::Status s = Emit(EncodePoint(point)); !s.ok()) {
      return s;
    }
    last_point_step_ = point.step();
    return EmitReadyCheckpoints(/*all=*/false);
  }

  absl::Status OnCheckpoint(int64_t step, const std::string& path) override {
    fs::path link = fs::path(upload_dir_) / absl::StrCat("ckpt-", step, ".safetensors");
    std::error_code ec;
    fs::remove(link, ec);
    fs::create_hard_link(path, link, ec);
    if (ec) {
      fs::copy_file(path, link, fs::copy_options::overwrite_existing, ec);
      if (ec) {
        return absl::InternalError(
            absl::StrCat("cannot link ", path, " into ", upload_dir_, ": ", ec.message()));
      }
    }
    deferred_.emplace_back(step, link.string());
    last_checkpoint_step_ = step;
    LogInfo("checkpoint at step %d", step);
    return EmitReadyCheckpoints(/*all=*/false);
  }

  bool StopRequested() override { return g_stop_requested != 0; }

  void OnProgress(const trainer::TrainProgress& p) override {
    auto now = std::chrono::steady_clock::now();
    // The human-readable side, in the job's log (stderr): about once a second and at the end.
    if (p.step == p.total_steps || now - last_log_line_ >= std::chrono::seconds(1)) {
      last_log_line_ = now;
      LogInfo("step %d/%d  train loss %.4f  %.0f tokens/s  eta %.0fs", p.step, p.total_steps,
              p.train_loss, p.tokens_per_s, p.eta_s);
    }
    if (p.step < p.total_steps && now - last_progress_ < std::chrono::milliseconds(250)) {
      return;
    }
    last_progress_ = now;
    sparsescale::v1::JobProgress out;
    out.set_step(p.step);
    out.set_total_steps(p.total_steps);
    out.set_tokens(p.tokens);
    out.set_train_loss(p.train_loss);
    out.set_tokens_per_s(p.tokens_per_s);
    out.set_eta_s(p.eta_s);
    Emit(EncodeProgress(out)).IgnoreError();  // A dead pipe shows at the next point.
  }

  // Announces checkpoints whose step's loss point has been sent (or all of them).
  absl::Status EmitReadyCheckpoints(bool all) {
    while (!deferred_.empty() && (all || deferred_.front().first <= last_point_step_)) {
      auto [step, path] = deferred_.front();
      deferred_.erase(deferred_.begin());
      if (absl::Status s = Emit(EncodeCheckpoint(step, path)); !s.ok()) {
        return s;
      }
    }
    return absl::OkStatus();
  }

  int64_t last_checkpoint_step() const { return last_checkpoint_step_; }

 private:
  std::string upload_dir_;
  int64_t last_point_step_ = 0;
  int64_t last_checkpoint_step_ = 0;
  std::vector<std::pair<int64_t, std::string>> deferred_;
  std::chrono::steady_clock::time_point last_progress_{};
  std::chrono::steady_clock::time_point last_log_line_{};
};

sparsescale::v1::JobSummary ToSummary(const trainer::TrainSummary& s) {
  sparsescale::v1::JobSummary out;
  out.set_steps(s.steps);
  out.set_final_train_loss(s.final_train_loss);
  if (s.final_eval_loss.has_value()) {
    out.set_final_eval_loss(*s.final_eval_loss);
  }
  out.set_final_sparsity(s.final_sparsity);
  out.set_nonzeros_paper(s.nonzeros_paper);
  out.set_nonzeros_exact(s.nonzeros_exact);
  out.set_wall_s(s.wall_s);
  return out;
}

// How long a rank waits for the coordinator to deliver rank 0's address: the ranks start
// together, so this only runs out when rank 0 died before publishing or the coordinator is gone.
constexpr std::chrono::milliseconds kCoordinatorRendezvousTimeout = std::chrono::seconds(120);

// Rank 0 of a data-parallel job starts the other ranks: the same command (with the
// coordinator flags, if any), told their rank and, without a coordinator, the rendezvous file
// through the environment (rank_launcher.h).
absl::StatusOr<RankGroup> StartOtherRanks(const RunJobOptions& options,
                                          const sparsescale::v1::JobSpec& normalized, int world,
                                          trainer::TrainOptions* train) {
  const std::string dir = options.out_dir + ".ranks";  // job files, next to the checkpoints
  RankLaunchOptions launch;
  launch.world_size = world;
  launch.first_rank = options.first_rank;
  launch.rank_count = options.rank_count > 0 ? options.rank_count : world;
  launch.log_dir = dir;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (!options.coordinator.enabled()) {
    launch.rendezvous_path = dir + "/rank0.addr";
    fs::remove(launch.rendezvous_path, ec);  // never let a rank read a dead attempt's address
  }
  if (normalized.device() != "cpu") {
    ASSIGN_OR_RETURN(launch.gpus, GpusForRanks(launch.rank_count,
                                               std::getenv("CUDA_VISIBLE_DEVICES")));
  }
  ASSIGN_OR_RETURN(std::string exe, SelfExecutablePath());
  launch.argv = {exe,        "run-job",       "--spec",       options.spec_path,
                 "--out",    options.out_dir, "--upload-dir", options.upload_dir,
                 "--device", options.device,  "--threads",    absl::StrCat(options.threads)};
  if (!options.resume_from.empty()) {
    launch.argv.push_back("--resume");
    launch.argv.push_back(options.resume_from);
  }
  if (!options.dataset_dir.empty()) {
    launch.argv.push_back("--dataset-dir");
    launch.argv.push_back(options.dataset_dir);
  }
  for (const std::string& arg : options.coordinator.ToArgs()) {
    launch.argv.push_back(arg);
  }
  if (!options.advertise_address.empty()) {
    launch.argv.push_back("--advertise-address");
    launch.argv.push_back(options.advertise_address);
  }
  ASSIGN_OR_RETURN(RankGroup group, RankGroup::Launch(launch));
  if (!launch.gpus.empty()) {
    ::setenv("CUDA_VISIBLE_DEVICES", launch.gpus[0].c_str(), 1);  // before CUDA starts
  }
  train->rank = options.first_rank;
  if (!launch.rendezvous_path.empty()) {
    train->rendezvous = "file:" + launch.rendezvous_path;
  }
  return group;
}

// Points the trainer at the coordinator's Rendezvous RPC (every rank has its own channel; made
// after rank 0 has started its children, so no gRPC thread is running across their fork), or
// logs the file/env rendezvous it already has. One line per rank, in job.log / rank<r>.log.
void ChooseRendezvous(const RunJobOptions& options, int world, trainer::TrainOptions* train) {
  const CoordinatorRendezvousFlags& c = options.coordinator;
  if (!c.enabled()) {
    LogInfo("rank %d of %d: rendezvous %s", train->rank, world, train->rendezvous);
    return;
  }
  // The worker exported its token and TLS files to the environment (worker/main.cc).
  GrpcWorkerRpcOptions rpc_options;
  auto security = transport::ResolveSecurity({});
  if (security.ok()) {
    rpc_options.security = *security;
  } else {
    LogError("rank %d: %s", train->rank, security.status().message());
  }
  std::shared_ptr<WorkerRpc> rpc = MakeGrpcWorkerRpc(c.coordinator, rpc_options);
  train->exchange = MakeCoordinatorExchange(
      [rpc](const sparsescale::v1::RendezvousRequest& request) { return rpc->Rendezvous(request); },
      c.job_id, c.attempt, train->rank, kCoordinatorRendezvousTimeout);
  LogInfo("rank %d of %d: rendezvous through the coordinator at %s (job %s attempt %d)",
          train->rank, world, c.coordinator, c.job_id, c.attempt);
}

}  // namespace

int RunJob(const RunJobOptions& options) {
  std::signal(SIGTERM, OnTerm);
  std::signal(SIGINT, SIG_IGN);
  absl::StatusOr<sparsescale::v1::JobSpec> spec = spec::ReadJobSpecFile(options.spec_path);
  if (!spec.ok()) {
    LogError("cannot read the job spec: %s", spec.status().ToString());
    Emit(EncodeError(spec.status())).IgnoreError();
    return 2;
  }
  // A job of several data-parallel ranks: this process is rank 0 and starts the others, or it
  // is one of those (SPARSESCALE_RANK is set), which only trains and logs to its rank file.
  const bool other_rank = std::getenv("SPARSESCALE_RANK") != nullptr;
  sparsescale::v1::JobSpec normalized = *spec;
  spec::NormalizeJobSpec(&normalized);
  const int world = spec::DataParallelRanks(normalized);
  if (options.rank_count > 0 &&
      (options.first_rank < 0 || options.first_rank + options.rank_count > world)) {
    const absl::Status bad = absl::InvalidArgumentError(
        absl::StrCat("--rank-count: ranks ", options.first_rank, "..",
                     options.first_rank + options.rank_count - 1, " are not ranks of a job of ",
                     world));
    LogError("%s", bad.message());
    Emit(EncodeError(bad)).IgnoreError();
    return 2;
  }
  if (options.rank_count > 0 && options.rank_count < world && !options.coordinator.enabled()) {
    const absl::Status bad = absl::InvalidArgumentError(
        "--rank-count: a member of a multi-node gang meets the others through --coordinator");
    LogError("%s", bad.message());
    Emit(EncodeError(bad)).IgnoreError();
    return 2;
  }
  std::error_code ec;
  if (!other_rank && options.first_rank == 0) {
    fs::create_directories(options.upload_dir, ec);
  }
  trainer::TrainOptions train;
  train.out_dir = options.out_dir;
  train.resume_from = options.resume_from;
  train.dataset_dir = options.dataset_dir;
  train.device = options.device;
  train.threads = options.threads;
  train.checkpoint_on_stop = true;
  train.rendezvous_host = options.advertise_address;
  std::optional<RankGroup> ranks;
  if (other_rank) {
    absl::StatusOr<RendezvousConfig> config = RendezvousConfigFromEnv();
    if (!config.ok()) {
      Emit(EncodeError(config.status())).IgnoreError();
      return 2;
    }
    train.rank = config->rank;
    train.rendezvous = "env";
    ChooseRendezvous(options, config->world_size, &train);
  } else if (world > 1 && spec::ValidateJobSpec(normalized).ok()) {
    absl::StatusOr<RankGroup> started = StartOtherRanks(options, normalized, world, &train);
    if (!started.ok()) {
      Emit(EncodeError(started.status())).IgnoreError();
      return 1;
    }
    ranks.emplace(std::move(*started));
    ChooseRendezvous(options, world, &train);
  }
  EventObserver observer(options.upload_dir);
  LogInfo("training \"%s\" on %s%s", spec->name(), options.device,
          options.resume_from.empty() ? "" : absl::StrCat(", resuming from ", options.resume_from));
  absl::StatusOr<trainer::TrainSummary> summary = trainer::RunTraining(*spec, train, &observer);
  if (ranks.has_value()) {
    // After rank 0's final barrier the others only exit; after a failure they fail too (their
    // next collective sees rank 0 gone) or are killed.
    const std::string failed =
        ranks->Finish(summary.ok() ? std::chrono::seconds(60) : std::chrono::seconds(10));
    if (!failed.empty()) {
      const absl::Status base =
          summary.ok() ? absl::InternalError("data-parallel ranks failed") : summary.status();
      summary = absl::Status(base.code(), absl::StrCat(base.message(), "; ", failed));
    }
  }
  if (other_rank && absl::IsCancelled(summary.status())) {
    return 0;  // rank 0 was asked to stop and reports it
  }
  absl::Status flushed = observer.EmitReadyCheckpoints(/*all=*/true);
  if (summary.ok()) {
    LogInfo("done: final train loss %.4f", summary->final_train_loss);
    return flushed.ok() && Emit(EncodeDone(ToSummary(*summary))).ok() ? 0 : 1;
  }
  // A member of a multi-node gang other than rank 0's stops when rank 0 stops (a drain of rank
  // 0's worker): it reports "stopped", so its worker releases the lease rather than failing it.
  if (absl::IsCancelled(summary.status()) && (g_stop_requested != 0 || options.first_rank > 0)) {
    Emit(EncodeStopped(observer.last_checkpoint_step())).IgnoreError();
    return 0;
  }
  LogError("training failed: %s", summary.status().ToString());
  Emit(EncodeError(summary.status())).IgnoreError();
  return 1;
}

}  // namespace sparsescale::agent
