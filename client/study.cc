#include "client/study.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "client/cli_util.h"
#include "client/coordinator_client.h"
#include "client/export_csv.h"
#include "client/local_cluster.h"
#include "client/output.h"
#include "client/study_config.h"
#include "client/study_report.h"
#include "common/status.h"
#include "law/proto/law_proto.h"
#include "law/sparsity_regime.h"
#include "worker/trainer/shard.h"

namespace sparsescale::client {

namespace fs = std::filesystem;
namespace v1 = sparsescale::v1;
using Clock = std::chrono::steady_clock;

double EstimateJobFlops(const v1::JobSpec& spec) {
  double d = spec.model().width();
  double layers = spec.model().layers();
  double context = spec.model().context();
  double vocab = spec.model().has_vocab() ? spec.model().vocab() : 256;
  // Per token: 6 x (block matrices + head) for the products, plus attention over the context.
  double per_token = 6 * (12 * d * d * layers + d * vocab) + 6 * layers * context * d;
  return per_token * static_cast<double>(spec.data().tokens());
}

StudyProgress ComputeProgress(const std::vector<v1::Job>& jobs, double elapsed_s,
                              double baseline_fraction) {
  StudyProgress p;
  double total_cost = 0;
  double done_cost = 0;
  for (const v1::Job& job : jobs) {
    double cost = EstimateJobFlops(job.spec());
    total_cost += cost;
    ++p.total;
    switch (job.state()) {
      case v1::JOB_STATE_SUCCEEDED:
        ++p.succeeded;
        done_cost += cost;
        break;
      case v1::JOB_STATE_FAILED:
      case v1::JOB_STATE_CANCELLED:
        ++p.failed;
        done_cost += cost;
        break;
      case v1::JOB_STATE_RUNNING:
        ++p.running;
        [[fallthrough]];
      default:
        if (job.state() != v1::JOB_STATE_RUNNING) {
          ++p.queued;
        }
        if (job.total_steps() > 0) {
          done_cost += cost * std::clamp(static_cast<double>(job.step()) /
                                             static_cast<double>(job.total_steps()),
                                         0.0, 1.0);
        }
    }
  }
  p.fraction = total_cost > 0 ? done_cost / total_cost : 0;
  double progressed = p.fraction - baseline_fraction;
  if (progressed > 0.005 && elapsed_s > 0) {
    p.eta_s = elapsed_s * (1 - p.fraction) / progressed;
  }
  if (p.finished()) {
    p.eta_s = 0;
  }
  return p;
}

std::string FormatProgressLine(const StudyProgress& p, const std::vector<v1::Job>& jobs,
                               double elapsed_s) {
  std::string line = absl::StrFormat("[%s] %d/%d done", FormatDuration(elapsed_s),
                                     p.succeeded + p.failed, p.total);
  if (p.failed > 0) {
    absl::StrAppend(&line, " (", p.failed, " failed)");
  }
  absl::StrAppend(&line, absl::StrFormat(", %.0f%%", 100 * p.fraction));
  std::vector<std::string> running;
  for (const v1::Job& j : jobs) {
    if (j.state() == v1::JOB_STATE_RUNNING) {
      running.push_back(absl::StrCat(j.id().substr(0, 6), " ", JobShape(j.spec()), " ", j.step(),
                                     "/", j.total_steps()));
    }
  }
  if (!running.empty()) {
    absl::StrAppend(&line, ", running: ", absl::StrJoin(running, "; "));
  }
  absl::StrAppend(&line, ", ETA ", p.eta_s < 0 ? "?" : FormatDuration(p.eta_s));
  return line;
}

namespace {

void Print(std::FILE* out, const std::string& text) {
  std::fputs(text.c_str(), out);
  std::fflush(out);
}

// Byte-level shards of the corpus, reused when they are newer than every input.
absl::Status PrepareData(StudyConfig& config, std::FILE* out) {
  if (config.prepare_inputs.empty()) {
    return absl::OkStatus();
  }
  fs::path dir = fs::absolute(config.prepare_out_dir);
  fs::path train = dir / "train_000000.bin";
  fs::path val = dir / "val_000000.bin";
  std::error_code ec;
  bool fresh = fs::exists(train, ec) && fs::exists(val, ec);
  for (const std::string& input : config.prepare_inputs) {
    if (!fs::exists(input, ec)) {
      return absl::NotFoundError(absl::StrCat(
          "prepare.inputs: ", input, " does not exist (run deploy/setup.sh for the corpus)"));
    }
    fresh = fresh && fs::last_write_time(input, ec) < fs::last_write_time(train, ec);
  }
  if (!fresh) {
    trainer::PrepareOptions prepare;
    prepare.inputs = config.prepare_inputs;
    prepare.out_dir = dir.string();
    prepare.eval_fraction = config.eval_fraction;
    ASSIGN_OR_RETURN(trainer::PrepareResult result, trainer::PrepareShards(prepare));
    Print(out, absl::StrFormat("prepared %d train + %d eval tokens into %s\n", result.train_tokens,
                               result.eval_tokens, dir.string()));
  } else {
    Print(out, absl::StrCat("using prepared shards in ", dir.string(), "\n"));
  }
  v1::DataSpec* data = config.sweep.mutable_base()->mutable_data();
  data->clear_train_shards();
  data->add_train_shards((dir / "train_*.bin").string());
  data->clear_eval_shards();
  data->add_eval_shards(val.string());
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<v1::Job>> FollowSweep(CoordinatorClient& client,
                                                 const std::string& sweep_id,
                                                 const FollowOptions& o, Clock::time_point start,
                                                 const std::atomic<bool>& stop) {
  bool tty = isatty(fileno(o.out)) != 0;
  int last_done = -1;
  auto last_print = Clock::now() - std::chrono::hours(1);
  int failures = 0;
  std::optional<double> baseline;  // work already done by an earlier, interrupted run
  while (!stop.load()) {
    absl::StatusOr<std::vector<v1::Job>> jobs = client.ListJobs(sweep_id);
    if (!jobs.ok()) {
      if (++failures > 30) {
        return jobs.status();
      }
    } else {
      failures = 0;
      double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
      if (!baseline.has_value()) {
        baseline = ComputeProgress(*jobs, elapsed).fraction;
      }
      StudyProgress p = ComputeProgress(*jobs, elapsed, *baseline);
      std::string line = FormatProgressLine(p, *jobs, elapsed);
      int done = p.succeeded + p.failed;
      if (tty) {
        Print(o.out, absl::StrCat("\r\033[K", line.substr(0, 200), p.finished() ? "\n" : ""));
      } else if (done != last_done || Clock::now() - last_print > std::chrono::seconds(15) ||
                 p.finished()) {
        Print(o.out, line + "\n");
        last_print = Clock::now();
      }
      last_done = done;
      if (p.finished()) {
        return jobs;
      }
    }
    for (auto waited = std::chrono::milliseconds(0); waited < o.poll_interval && !stop.load();
         waited += std::chrono::milliseconds(100)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  return absl::CancelledError(o.interrupted);
}

namespace {

absl::Status ExportCsv(CoordinatorClient& client, const std::vector<v1::Job>& jobs,
                       const fs::path& dir, std::FILE* out) {
  std::string points = PointsCsvHeader();
  for (const v1::Job& job : jobs) {
    ASSIGN_OR_RETURN(v1::GetLossCurveResponse curve, client.GetLossCurve(job.id(), 0));
    AppendPointsCsv(job, {curve.points().begin(), curve.points().end()}, &points);
  }
  std::ofstream(dir / "points.csv") << points;
  std::ofstream(dir / "summary.csv") << SummaryCsv(jobs);
  Print(out, absl::StrCat("exported ", (dir / "points.csv").string(), " and ",
                          (dir / "summary.csv").string(), "\n"));
  return absl::OkStatus();
}

void PrintResults(const std::vector<v1::Job>& jobs, std::FILE* out) {
  Table table({"JOB", "SHAPE", "NONZEROS", "STATE", "EVAL LOSS"});
  std::vector<v1::Job> sorted = jobs;
  std::sort(sorted.begin(), sorted.end(), [](const v1::Job& a, const v1::Job& b) {
    return std::make_tuple(a.spec().data().tokens(), a.spec().model().width(),
                           a.spec().pruning().sparsity()) <
           std::make_tuple(b.spec().data().tokens(), b.spec().model().width(),
                           b.spec().pruning().sparsity());
  });
  for (const v1::Job& j : sorted) {
    std::optional<SummaryRow> row = JobSummaryRow(j);
    std::optional<double> eval;
    if (j.has_last_eval_loss()) {
      eval = j.last_eval_loss();
    }
    table.AddRow({j.id().substr(0, 12), JobShape(j.spec()),
                  row.has_value() ? absl::StrFormat("%.0f", row->nonzeros) : "-",
                  StateName(j.state()), FormatLoss(eval)});
    if (j.state() == v1::JOB_STATE_FAILED) {
      Print(out, absl::StrCat("job ", j.id(), " failed: ", j.error(), "\n"));
    }
  }
  Print(out, table.Render());
}

std::string Coefficients(const v1::FitLawResponse& fit) {
  const v1::LawCoefficients& c = fit.coefficients();
  std::string out = absl::StrFormat(
      "  a_S = %.4g  b_S = %.4g  c_S = %.4g  b_N = %.4g  a_D = %.4g  b_D = %.4g  c = %.4g\n",
      c.a_s(), c.b_s(), c.c_s(), c.b_n(), c.a_d(), c.b_d(), c.c());
  if (fit.has_lower()) {
    const v1::LawCoefficients& l = fit.lower();
    const v1::LawCoefficients& u = fit.upper();
    out += absl::StrFormat(
        "  95%% bootstrap intervals (%d resamples): b_S [%.3g, %.3g]  b_N [%.3g, %.3g]  "
        "b_D [%.3g, %.3g]  c [%.3g, %.3g]\n",
        fit.bootstrap_samples_size(), l.b_s(), u.b_s(), l.b_n(), u.b_n(), l.b_d(), u.b_d(), l.c(),
        u.c());
  }
  return out;
}

// S_opt for each size and budget: the coordinator's answer with its bootstrap interval.
absl::StatusOr<std::string> SparsityTable(CoordinatorClient& client, const StudyConfig& config,
                                          const v1::FitLawResponse& fit) {
  const law::PaperCoeffs paper = law::PaperCoeffsOf(fit.coefficients());
  const std::vector<law::PaperCoeffs> samples = BootstrapSamplesOf(fit);
  Table table({"NONZEROS", "COMPUTE", samples.empty() ? "S_OPT" : "S_OPT [95% INTERVAL]", "LOSS",
               "TOKENS"});
  for (int64_t n : config.sweep.axes().nonzeros()) {
    for (int64_t d : config.sweep.axes().tokens()) {
      v1::OptimalSparsityRequest opt;
      opt.set_fit_id(fit.fit_id());
      opt.set_nonzeros(static_cast<double>(n));
      opt.set_compute(6.0 * static_cast<double>(n) * static_cast<double>(d));
      opt.set_cost("sparse");
      ASSIGN_OR_RETURN(v1::OptimalSparsityResponse s, client.OptimalSparsity(opt));
      table.AddRow({absl::StrCat(n), absl::StrFormat("%.3g", opt.compute()),
                    SparsityWithInterval(paper, samples, opt.nonzeros(), opt.compute()),
                    absl::StrFormat("%.4f", s.loss()), absl::StrFormat("%.3g", s.tokens())});
    }
  }
  return table.Render();
}

// Fits the law, prints it with the held-out check and the S_opt table, and writes the figures;
// `held_out_line` gets the check's one-line summary for the end of the study.
absl::Status FitAndReport(CoordinatorClient& client, const StudyConfig& config,
                          const std::string& sweep_id, const std::vector<v1::Job>& jobs,
                          const fs::path& dir, std::FILE* out, std::string* held_out_line) {
  v1::FitLawRequest request;
  request.set_request_id(NewClientRequestId());
  request.set_sweep_id(sweep_id);
  request.set_residual(config.fit_residual);
  request.set_starts(config.fit_starts);
  request.set_seed(1);
  request.set_bootstrap(config.fit_bootstrap);
  ASSIGN_OR_RETURN(v1::FitLawResponse fit, client.FitLaw(request));
  Print(out, "\nsparse scaling law  L(S,N,D) = (a_S (1-S)^b_S + c_S) N^-b_N + (a_D/D)^b_D + c\n");
  Print(out, Coefficients(fit));
  Print(out, absl::StrFormat("  %d runs, RMSE %.4f, mean relative error %.2f%%, %d of %d starts "
                             "within 1%% of the best, %d near-optimal minima (fit %s)\n",
                             fit.runs(), fit.rmse(), 100 * fit.mean_relative_error(),
                             fit.starts_within_1pct(), fit.starts(), fit.minima(), fit.fit_id()));
  Print(out, "\n" + FormatHeldOutCheck(fit.held_out()));
  if (const std::string regime =
          law::FormatSparsityRegime(law::CheckSparsityRegime(RunsOfJobs(jobs)));
      !regime.empty()) {
    Print(out, "\n" + regime);
  }
  if (const std::string structures = FormatStructureRefits(fit); !structures.empty()) {
    Print(out, "\n" + structures);
  }
  *held_out_line = HeldOutSummaryLine(fit.held_out());
  absl::StatusOr<std::string> table = SparsityTable(client, config, fit);
  if (!table.ok()) {
    Print(out, absl::StrCat("optimal sparsity: ", table.status().message(), "\n"));
  } else {
    Print(out, "\noptimal sparsity for compute C = 6 N D of each size and budget (sparse cost)\n");
    Print(out, *table);
  }
  std::vector<std::string> figures;
  RETURN_IF_ERROR(WriteStudyFigures(fit, jobs, dir.string(), &figures));
  Print(out, absl::StrCat("figures: ", absl::StrJoin(figures, ", "), "\n"));
  return absl::OkStatus();
}

}  // namespace

absl::Status RunStudy(const StudyOptions& o, const std::atomic<bool>& stop) {
  auto start = Clock::now();
  ASSIGN_OR_RETURN(std::string text, ReadTextFile(o.config_path));
  ASSIGN_OR_RETURN(StudyConfig config, ParseStudyJson(text));
  fs::path dir = fs::absolute(o.work_dir);
  std::error_code ec;
  fs::create_directories(dir, ec);
  std::string db = o.db_path.empty() ? (dir / "coordinator.db").string() : o.db_path;
  if (o.fresh) {
    for (const char* suffix : {"", "-wal", "-shm"}) {
      fs::remove(db + suffix, ec);
    }
  }
  RETURN_IF_ERROR(PrepareData(config, o.out));

  LocalClusterOptions cluster_options;
  cluster_options.work_dir = dir.string();
  cluster_options.db_path = db;
  cluster_options.workers = o.workers;
  cluster_options.threads = o.threads;
  cluster_options.device = o.device;
  ASSIGN_OR_RETURN(std::unique_ptr<LocalCluster> cluster, LocalCluster::Start(cluster_options));
  Print(o.out, absl::StrFormat("coordinator %s, %d workers, logs in %s/logs\n", cluster->address(),
                               o.workers, dir.string()));
  CoordinatorClient client(cluster->address());
  RETURN_IF_ERROR(client.WaitUntilReady(std::chrono::seconds(10)));
  config.sweep.set_request_id(NewClientRequestId());
  if (o.checkpoint_keep_last >= 0) {
    config.sweep.mutable_checkpoint_retention()->set_keep_last(o.checkpoint_keep_last);
  }
  ASSIGN_OR_RETURN(v1::CreateSweepResponse created, client.CreateSweep(config.sweep));
  Print(o.out, absl::StrFormat("sweep %s \"%s\": %d jobs (%d new, %d already known)\n",
                               created.sweep().id(), created.sweep().name(),
                               created.sweep().job_ids_size(), created.jobs_created(),
                               created.jobs_existing()));

  absl::StatusOr<std::vector<v1::Job>> jobs =
      FollowSweep(client, created.sweep().id(),
                  {.poll_interval = o.poll_interval,
                   .out = o.out,
                   .interrupted = "study interrupted; run the same command again to resume"},
                  start, stop);
  if (!jobs.ok()) {
    cluster->Stop().IgnoreError();  // Drain: running jobs checkpoint for the next run.
    return jobs.status();
  }
  double train_s = std::chrono::duration<double>(Clock::now() - start).count();
  PrintResults(*jobs, o.out);
  RETURN_IF_ERROR(ExportCsv(client, *jobs, dir, o.out));
  std::string held_out_line;
  absl::Status fitted =
      FitAndReport(client, config, created.sweep().id(), *jobs, dir, o.out, &held_out_line);
  cluster->Stop().IgnoreError();
  double total_s = std::chrono::duration<double>(Clock::now() - start).count();
  Print(o.out, absl::StrFormat("\nstudy finished: training %s, total %s (%.1f s)\n",
                               FormatDuration(train_s), FormatDuration(total_s), total_s));
  if (!held_out_line.empty()) {
    Print(o.out, held_out_line + "\n");
  }
  if (!fitted.ok()) {
    return absl::Status(fitted.code(),
                        absl::StrCat("law fit: ", fitted.message(), " (the runs are in ",
                                     (dir / "summary.csv").string(), ")"));
  }
  return absl::OkStatus();
}

}  // namespace sparsescale::client
