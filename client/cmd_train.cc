// `sparsescale train` and `sparsescale prepare`: one training job with no coordinator, and the
// text-to-shards preparer it reads from. The work is done by the sparsescale_trainer library;
// this file parses flags, writes the loss points (points.csv, points.jsonl; their lines are
// spec/loss_point_codec.h's) and shows progress.
//
//   prepare --input TEXT... --out DIR [--eval-fraction F]
//   train --config FILE --out DIR [--resume CKPT] [--device auto|cpu|cuda] [--threads K]
//         [--sparse-matmul auto|off|everywhere]
//         [--rank R --world-size W --rendezvous file:PATH|env|tcp:HOST:PORT]
//
// Data parallelism: start one `train` per rank with the same config and rendezvous; rank 0
// writes the points and checkpoints into its --out, the others write nothing. --world-size
// sets the config's rank count (processes for device cpu, else gpus); data.batch_size stays
// the global batch. With --rendezvous env, rank and world size default to SPARSESCALE_RANK and
// SPARSESCALE_WORLD_SIZE and rank 0's address comes from SPARSESCALE_RENDEZVOUS.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "client/cli_util.h"
#include "client/command.h"
#include "common/status.h"
#include "common/rendezvous.h"
#include "spec/job_spec.h"
#include "spec/loss_point_codec.h"
#include "worker/trainer/checkpoint.h"
#include "worker/trainer/safetensors.h"
#include "worker/trainer/shard.h"
#include "worker/trainer/trainer.h"

namespace sparsescale::cli {
namespace {

using trainer::LossPoint;
using trainer::TrainProgress;

using client::ExitCodeFor;

[[noreturn]] void Fail(const std::string& command, const absl::Status& status) {
  std::cerr << "sparsescale " << command << ": " << status.message() << "\n";
  throw CLI::RuntimeError(ExitCodeFor(status));
}

// Set by SIGINT/SIGTERM; the trainer polls it every step, checkpoints and stops.
std::atomic<bool> g_stop{false};
extern "C" void OnStopSignal(int) { g_stop.store(true); }

// Keeps the lines of an existing points file whose step (leading number) is <= max_step, so a
// resumed run continues one clean curve. `header` lines are kept as is.
void TruncatePoints(const std::string& path, int64_t max_step, bool json) {
  std::ifstream in(path);
  if (!in) {
    return;
  }
  std::string kept, line;
  while (std::getline(in, line)) {
    int64_t step = 0;
    bool keep = false;
    if (json) {
      absl::StatusOr<LossPoint> point = spec::LossPointFromJson(line);
      keep = point.ok() && point->step() <= max_step;
    } else {
      keep = !absl::SimpleAtoi(line.substr(0, line.find(',')), &step) || step <= max_step;
    }
    if (keep) {
      kept += line + "\n";
    }
  }
  in.close();
  std::ofstream(path, std::ios::trunc) << kept;
}

// Writes loss points to DIR/points.csv and DIR/points.jsonl (opened at the first point, so bad
// input leaves DIR untouched) and shows progress on stderr.
class CliObserver : public trainer::TrainObserver {
 public:
  CliObserver(std::string out_dir, int64_t resume_step)
      : out_dir_(std::move(out_dir)), resume_step_(resume_step), tty_(::isatty(2) == 1) {}

  absl::Status OnLossPoint(const LossPoint& p) override {
    if (!csv_.is_open()) {
      RETURN_IF_ERROR(OpenFiles());
    }
    csv_ << spec::LossPointCsvRow(p) << "\n";
    jsonl_ << spec::LossPointToJson(p) << "\n";
    csv_.flush();
    jsonl_.flush();
    if (!csv_ || !jsonl_) {
      return absl::InternalError(out_dir_ + ": cannot write the loss points");
    }
    if (p.has_eval_loss()) {
      last_eval_ = p.eval_loss();
    }
    return absl::OkStatus();
  }

  bool StopRequested() override { return g_stop.load(); }

  void OnProgress(const TrainProgress& p) override {
    const std::string line =
        absl::StrFormat("step %d/%d  loss %.4f%s  %.0f tok/s  sparsity %.3f  lr %.2e  ETA %s",
                        p.step, p.total_steps, p.train_loss,
                        last_eval_ ? absl::StrFormat(" (eval %.4f)", *last_eval_) : std::string(),
                        p.tokens_per_s, p.sparsity, p.lr, Duration(p.eta_s));
    const bool last = p.step == p.total_steps;
    if (tty_) {
      std::cerr << "\r\033[K" << line << (last ? "\n" : "") << std::flush;
      return;
    }
    // Not a terminal (logs, CI): a line every 5% of the run or 30 s, and the last one.
    const int64_t every = std::max<int64_t>(1, p.total_steps / 20);
    if (last || p.step % every == 0 || p.wall_s - last_line_s_ >= 30) {
      std::cerr << line << "\n";
      last_line_s_ = p.wall_s;
    }
  }

  void EndLine() {
    if (tty_) {
      std::cerr << "\n";
    }
  }

 private:
  static std::string Duration(double s) {
    const auto total = static_cast<int64_t>(s + 0.5);
    if (total >= 3600) {
      return absl::StrFormat("%dh%02dm", total / 3600, total / 60 % 60);
    }
    return absl::StrFormat("%dm%02ds", total / 60, total % 60);
  }

  absl::Status OpenFiles() {
    const std::string csv = out_dir_ + "/points.csv";
    const std::string jsonl = out_dir_ + "/points.jsonl";
    const bool resume = resume_step_ >= 0;
    if (resume) {
      TruncatePoints(csv, resume_step_, false);
      TruncatePoints(jsonl, resume_step_, true);
    }
    const bool fresh_csv = !resume || !std::filesystem::exists(csv);
    const auto mode = resume ? std::ios::app : std::ios::trunc;
    csv_.open(csv, std::ios::out | mode);
    jsonl_.open(jsonl, std::ios::out | mode);
    if (!csv_ || !jsonl_) {
      return absl::InternalError(out_dir_ + ": cannot open points.csv / points.jsonl");
    }
    if (fresh_csv || std::filesystem::file_size(csv) == 0) {
      csv_ << spec::LossPointCsvHeader() << "\n";
    }
    return absl::OkStatus();
  }

  std::string out_dir_;
  int64_t resume_step_;  // -1 for a fresh run
  bool tty_;
  std::ofstream csv_, jsonl_;
  std::optional<double> last_eval_;
  double last_line_s_ = 0;
};

struct TrainFlags {
  std::string config;
  std::string out;
  std::string resume;
  std::string device = "auto";
  int threads = 0;
  int rank = -1;        // -1: 0, or SPARSESCALE_RANK with --rendezvous env
  int world_size = -1;  // -1: the config's, or SPARSESCALE_WORLD_SIZE with --rendezvous env
  std::string rendezvous;
  std::string sparse_matmul = "auto";
};

// Applies --rank / --world-size / --rendezvous to the spec and the trainer options.
absl::Status ApplyDataParallelFlags(const TrainFlags& f, sparsescale::v1::JobSpec* spec,
                                    trainer::TrainOptions* options) {
  int rank = f.rank;
  int world = f.world_size;
  if (f.rendezvous == "env") {
    ASSIGN_OR_RETURN(RendezvousConfig env, RendezvousConfigFromEnv());
    rank = rank < 0 ? env.rank : rank;
    world = world < 0 ? env.world_size : world;
  }
  if (world > 0) {
    if (spec->device() == "cpu") {
      spec->set_processes(world);
    } else {
      spec->set_gpus(world);
    }
  }
  options->rank = std::max(rank, 0);
  options->rendezvous = f.rendezvous;
  if (world > 1 && f.rendezvous.empty()) {
    return absl::InvalidArgumentError(
        "--rendezvous: required with --world-size > 1 (file:PATH, env or tcp:HOST:PORT)");
  }
  return absl::OkStatus();
}

// The spec from --config, else the one stored in the --resume checkpoint.
absl::StatusOr<sparsescale::v1::JobSpec> LoadSpec(const TrainFlags& f) {
  if (!f.config.empty()) {
    return spec::ReadJobSpecFile(f.config);
  }
  if (!f.resume.empty()) {
    return trainer::ReadCheckpointJobSpec(f.resume);
  }
  return absl::InvalidArgumentError("--config: a job config is required (or --resume CKPT)");
}

absl::StatusOr<int64_t> ResumeStep(const std::string& checkpoint) {
  if (checkpoint.empty()) {
    return -1;
  }
  ASSIGN_OR_RETURN(trainer::SafetensorsFile header,
                   trainer::SafetensorsFile::ReadHeader(checkpoint));
  ASSIGN_OR_RETURN(std::string step_text, header.Metadata("step"));
  int64_t step = 0;
  if (!absl::SimpleAtoi(step_text, &step)) {
    return absl::InvalidArgumentError(checkpoint + ": metadata step is not an integer");
  }
  return step;
}

void Train(const TrainFlags& f) {
  auto spec = LoadSpec(f);
  if (!spec.ok()) {
    Fail("train", spec.status());
  }
  auto resume_step = ResumeStep(f.resume);
  if (!resume_step.ok()) {
    Fail("train", resume_step.status());
  }
  trainer::TrainOptions options;
  options.out_dir = f.out;
  options.resume_from = f.resume;
  options.device = f.device;
  options.threads = f.threads;
  auto sparse_matmul = trainer::ParseSparseMatmul(f.sparse_matmul, "--sparse-matmul");
  if (!sparse_matmul.ok()) {
    Fail("train", sparse_matmul.status());
  }
  options.sparse_matmul = *sparse_matmul;
  if (auto status = ApplyDataParallelFlags(f, &*spec, &options); !status.ok()) {
    Fail("train", status);
  }
  CliObserver observer(f.out, *resume_step);
  std::signal(SIGINT, OnStopSignal);
  std::signal(SIGTERM, OnStopSignal);
  auto summary = trainer::RunTraining(*spec, options, &observer);
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  if (!summary.ok()) {
    if (summary.status().code() == absl::StatusCode::kCancelled) {
      observer.EndLine();
      std::cerr << "sparsescale train: stopped; continue with --resume on the newest " << f.out
                << "/ckpt-<step>.safetensors\n";
      throw CLI::RuntimeError(kExitFailure);
    }
    Fail("train", summary.status());
  }
  if (options.rank > 0) {
    std::cout << absl::StrFormat(
        "rank %d: trained %d steps; rank 0 wrote the points and "
        "checkpoints\n",
        options.rank, summary->steps);
    return;
  }
  std::cout << absl::StrFormat(
      "trained %d steps: train loss %.4f, eval loss %.4f, sparsity %.4f, non-zeros %d (paper) "
      "%d (exact), %.1f s\ncheckpoint %s\npoints %s/points.csv\n",
      summary->steps, summary->final_train_loss, summary->final_eval_loss.value_or(NAN),
      summary->final_sparsity, summary->nonzeros_paper, summary->nonzeros_exact, summary->wall_s,
      summary->last_checkpoint, f.out);
  if (summary->mask_update_s > 0) {
    std::cout << absl::StrFormat("mask updates: %.3f s (%.2f%% of the run)\n",
                                 summary->mask_update_s,
                                 100.0 * summary->mask_update_s / std::max(summary->wall_s, 1e-9));
  }
  if (summary->sparse_matmul_matrices > 0) {
    std::cout << absl::StrFormat(
        "sparse products: %d body matrices ran their forward product n:m-sparse from step %d\n",
        summary->sparse_matmul_matrices, summary->sparse_matmul_from_step);
  }
}

void InstallTrain(CLI::App& root) {
  auto flags = std::make_shared<TrainFlags>();
  CLI::App* cmd = root.add_subcommand("train", "Train one job locally (no coordinator)");
  cmd->add_option("--config", flags->config, "job config (JSON JobSpec)");
  cmd->add_option("--out", flags->out, "output directory: points.csv/.jsonl, checkpoints")
      ->required();
  cmd->add_option("--resume", flags->resume, "checkpoint to continue from (bit-exact)");
  cmd->add_option("--device", flags->device, "auto, cpu or cuda (default: the config's)")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  cmd->add_option("--sparse-matmul", flags->sparse_matmul,
                  "n:m jobs after the pruning window: auto (the backend's sparse kernel where it "
                  "has one), off, everywhere")
      ->check(CLI::IsMember({"auto", "off", "everywhere"}));
  cmd->add_option("--threads", flags->threads, "CPU threads (default: the config's)")
      ->check(CLI::Range(1, 1024));
  cmd->add_option("--rank", flags->rank, "data-parallel rank of this process (default 0)")
      ->check(CLI::Range(0, 1023));
  cmd->add_option("--world-size", flags->world_size,
                  "data-parallel ranks (default: the config's processes / gpus)")
      ->check(CLI::Range(1, 1024));
  cmd->add_option("--rendezvous", flags->rendezvous,
                  "how the ranks meet: file:PATH (rank 0 writes its address there), env, or "
                  "tcp:HOST:PORT");
  cmd->callback([flags] { Train(*flags); });
}

struct PrepareFlags {
  std::vector<std::string> inputs;
  std::string out;
  double eval_fraction = 0.05;
};

void Prepare(const PrepareFlags& f) {
  trainer::PrepareOptions options;
  options.inputs = f.inputs;
  options.out_dir = f.out;
  options.eval_fraction = f.eval_fraction;
  auto result = trainer::PrepareShards(options);
  if (!result.ok()) {
    Fail("prepare", result.status());
  }
  for (const std::string& path : result->train_shards) {
    std::cout << "train " << path << "\n";
  }
  for (const std::string& path : result->eval_shards) {
    std::cout << "eval  " << path << "\n";
  }
  std::cout << absl::StrFormat("%d train tokens, %d eval tokens (byte-level, vocab 256)\n",
                               result->train_tokens, result->eval_tokens);
}

void InstallPrepare(CLI::App& root) {
  auto flags = std::make_shared<PrepareFlags>();
  CLI::App* cmd =
      root.add_subcommand("prepare", "Turn text files into byte-level token shards (llm.c .bin)");
  cmd->add_option("--input", flags->inputs, "text files (concatenated)")->required();
  cmd->add_option("--out", flags->out, "output directory")->required();
  cmd->add_option("--eval-fraction", flags->eval_fraction,
                  "last fraction of tokens written to val_000000.bin (default 0.05)");
  cmd->callback([flags] { Prepare(*flags); });
}

const CommandRegistrar kRegisterTrain(InstallTrain);
const CommandRegistrar kRegisterPrepare(InstallPrepare);

}  // namespace
}  // namespace sparsescale::cli
