// dashboard_fill: makes the dashboard benchmark's database. Every job already in the file (put
// there by a real coordinator from `sparsescale sweep create`, so specs, ids and sweeps are the
// real ones) gets one attempt with --points loss points, written through the Store API in one
// transaction per job, and ends SUCCEEDED with its final losses.
//
//   dashboard_fill --db FILE [--points 10000]
#include <cmath>
#include <cstdio>
#include <memory>
#include <vector>

#include "CLI/CLI.hpp"
#include "common/status.h"
#include "coordinator/store/store.h"

namespace sparsescale {
namespace {

constexpr int64_t kNowMs = 1'790'000'000'000;

// A smooth loss curve with an eval point every 100 steps and a sparsity ramp to 0.5.
std::vector<store::LossPoint> Curve(int64_t points, double scale) {
  std::vector<store::LossPoint> curve(static_cast<size_t>(points));
  for (int64_t i = 0; i < points; ++i) {
    store::LossPoint& p = curve[static_cast<size_t>(i)];
    const int64_t step = i + 1;
    p.set_step(step);
    p.set_tokens(step * 2048);
    p.set_train_loss(scale * (1.5 + 4.0 * std::pow(static_cast<double>(step), -0.3)));
    if (step % 100 == 0 || step == points) {
      p.set_eval_loss(p.train_loss() * 1.02);
    }
    p.set_sparsity(std::min(0.5, 0.5 * static_cast<double>(step) / (0.8 * points)));
    p.set_lr(0.004 * (1.0 - static_cast<double>(step) / static_cast<double>(points + 1)));
  }
  return curve;
}

absl::Status FillJob(store::Store& db, const store::JobRow& job, int64_t points, double scale) {
  ASSIGN_OR_RETURN(auto tx, store::Transaction::Begin(db.db()));
  store::GrantRecord grant;
  grant.job_id = job.id;
  grant.attempt = 1;
  grant.worker_id = "bench-worker";
  RETURN_IF_ERROR(db.RecordGrant(grant, kNowMs));
  const std::vector<store::LossPoint> curve = Curve(points, scale);
  RETURN_IF_ERROR(db.InsertPoints(job.id, 1, curve, kNowMs).status());
  store::AttemptEndRecord end;
  end.job_id = job.id;
  end.attempt = 1;
  end.state = store::JobState::kSucceeded;
  end.outcome = store::JobState::kSucceeded;
  end.final_train_loss = curve.back().train_loss();
  end.final_eval_loss = curve.back().eval_loss();
  RETURN_IF_ERROR(db.RecordAttemptEnd(end, kNowMs + 1));
  return tx->Commit();
}

absl::Status Fill(const std::string& path, int64_t points) {
  ASSIGN_OR_RETURN(auto db, store::Store::Open(path, store::StoreOptions{}));
  ASSIGN_OR_RETURN(auto jobs, db->ListJobs(store::JobFilter{}, 0, 1'000'000));
  int filled = 0;
  for (const store::JobRow& job : jobs) {
    if (job.state != store::JobState::kQueued) {
      continue;
    }
    RETURN_IF_ERROR(FillJob(*db, job, points, 1.0 + 0.001 * (job.seq % 97)));
    if (++filled % 100 == 0) {
      std::fprintf(stderr, "dashboard_fill: %d jobs\n", filled);
    }
  }
  std::printf("dashboard_fill: %d jobs x %lld points in %s\n", filled,
              static_cast<long long>(points), path.c_str());
  return absl::OkStatus();
}

}  // namespace
}  // namespace sparsescale

int main(int argc, char** argv) {
  CLI::App app{"fills a coordinator database with loss points for the dashboard benchmark"};
  std::string db;
  int64_t points = 10000;
  app.add_option("--db", db, "the coordinator's SQLite file")->required();
  app.add_option("--points", points, "loss points per job")->check(CLI::Range(1, 1'000'000));
  CLI11_PARSE(app, argc, argv);
  const absl::Status status = sparsescale::Fill(db, points);
  if (!status.ok()) {
    std::fprintf(stderr, "dashboard_fill: %s\n", status.ToString().c_str());
    return 1;
  }
  return 0;
}
