// The SQL views of sql/0004_views.sql and the job_curves table, read by Debian's `sqlite3` CLI
// (as an external dashboard tool would) from a database that a real sweep filled: real
// coordinator and worker processes, then the coordinator stopped.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "client/coordinator_client.h"
#include "tests/e2e/cluster_fixture.h"
#include "tests/e2e/e2e_support.h"

namespace sparsescale::e2e {
namespace {

namespace v1 = sparsescale::v1;
using std::chrono::seconds;

// Runs `sqlite3 -readonly -batch db sql` and returns its stdout ('|' between columns, one row
// per line). Fails the test when the CLI is missing or exits non-zero.
std::string Sqlite(const std::string& db, const std::string& sql) {
  const std::string command = absl::StrCat("sqlite3 -readonly -batch '", db, "' \"", sql, "\"");
  FILE* pipe = ::popen(command.c_str(), "r");
  EXPECT_NE(pipe, nullptr) << command;
  if (pipe == nullptr) {
    return "";
  }
  std::string out;
  char buffer[4096];
  for (size_t n; (n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0;) {
    out.append(buffer, n);
  }
  const int status = ::pclose(pipe);
  EXPECT_EQ(status, 0) << "sqlite3 failed (is Debian's sqlite3 installed?): " << command;
  return out;
}

class SqlViewsE2eTest : public ClusterFixture {};

TEST_F(SqlViewsE2eTest, EveryViewAndTheCurveTableAnswerTheSqliteCliAfterARealSweep) {
  StartCluster(2);
  constexpr int kSteps = 260;  // more than job_curves keeps per job
  v1::CreateSweepRequest request;
  request.set_request_id(client::NewClientRequestId());
  request.set_name("views");
  *request.mutable_base() = TinySpec(shards_, kSteps, 130);
  request.mutable_axes()->add_nonzeros(3072);
  request.mutable_axes()->add_sparsities(0);
  request.mutable_axes()->add_sparsities(0.5);
  request.mutable_axes()->add_tokens(request.base().data().tokens());
  auto created = client_->CreateSweep(request);
  ASSERT_TRUE(created.ok()) << created.status();
  const std::string sweep = created->sweep().id();
  std::vector<v1::Job> jobs;
  ASSERT_TRUE(WaitFor(
      [&] {
        auto list = client_->ListJobs(sweep);
        if (!list.ok() || list->size() != 2) {
          return false;
        }
        jobs = *list;
        return jobs[0].state() == v1::JOB_STATE_SUCCEEDED &&
               jobs[1].state() == v1::JOB_STATE_SUCCEEDED;
      },
      seconds(120)));
  std::map<std::string, std::vector<v1::LossPoint>> curves;
  for (const v1::Job& job : jobs) {
    auto curve = client_->GetLossCurve(job.id(), 0);
    ASSERT_TRUE(curve.ok()) << curve.status();
    curves[job.id()].assign(curve->points().begin(), curve->points().end());
  }
  client_.reset();
  cluster_.reset();  // the coordinator stops; the file stays
  const std::string db = (dir_ / "cluster" / "coordinator.db").string();

  // v_jobs: one row per job, cell columns from the spec, state as text, complete.
  std::string expected_jobs;
  for (const v1::Job& job : jobs) {
    const v1::JobSpec& spec = job.spec();
    const double width = spec.model().width();
    absl::StrAppend(
        &expected_jobs, job.id(), "|", sweep, "|",
        std::llround(12 * width * width * spec.model().layers() *
                     (1 - spec.pruning().sparsity())),
        "|", absl::StrFormat("%.2f", spec.pruning().sparsity()), "|", spec.data().tokens(),
        "|unstructured|succeeded|", kSteps, "|", kSteps, "|1.0|1|", job.worker_id(), "\n");
  }
  EXPECT_EQ(Sqlite(db, "SELECT job_id, sweep_id, n_params, printf('%.2f', sparsity), tokens, "
                       "structure, state, step, total_steps, progress, attempts, worker "
                       "FROM v_jobs ORDER BY seq"),
            expected_jobs);
  EXPECT_EQ(Sqlite(db, "SELECT COUNT(*) FROM v_jobs WHERE updated_utc LIKE '20__-__-__ __:__:__'"),
            "2\n");

  // v_sweep_progress: the whole sweep done.
  EXPECT_EQ(Sqlite(db, "SELECT sweep_id, name, jobs, queued, running, succeeded, failed, "
                       "cancelled, steps_done, steps_total, progress FROM v_sweep_progress"),
            absl::StrCat(sweep, "|views|2|0|0|2|0|0|", 2 * kSteps, "|", 2 * kSteps, "|1.0\n"));

  // v_workers: both workers, idle now, with a recorded heartbeat.
  EXPECT_EQ(Sqlite(db, "SELECT COUNT(*), SUM(running_jobs), SUM(slots), "
                       "SUM(last_heartbeat_unix_ms > 0), SUM(heartbeat_age_s >= 0) "
                       "FROM v_workers"),
            "2|0|2|2|2\n");

  // v_final_losses: one row per succeeded cell with its final losses.
  std::string expected_losses;
  for (const v1::Job& job : jobs) {
    absl::StrAppend(&expected_losses, job.id(), "|",
                    absl::StrFormat("%.6f", curves[job.id()].back().train_loss()), "|",
                    absl::StrFormat("%.6f", job.last_eval_loss()), "|", kSteps, "\n");
  }
  EXPECT_EQ(Sqlite(db, absl::StrCat("SELECT job_id, printf('%.6f', final_train_loss), "
                                    "printf('%.6f', final_eval_loss), steps FROM v_final_losses "
                                    "WHERE sweep_id = '", sweep,
                                    "' ORDER BY (SELECT seq FROM jobs WHERE id = job_id)")),
            expected_losses);

  // job_curves: each job downsampled to at most 200 rows from its first to its last step, with every
  // eval point and the stored values of the points it keeps.
  for (const v1::Job& job : jobs) {
    const std::vector<v1::LossPoint>& curve = curves[job.id()];
    ASSERT_EQ(curve.size(), static_cast<size_t>(kSteps));
    int evals = 0;
    for (const v1::LossPoint& p : curve) {
      evals += p.has_eval_loss() ? 1 : 0;
    }
    EXPECT_EQ(Sqlite(db, absl::StrCat("SELECT COUNT(*) BETWEEN 100 AND 200, MIN(step), MAX(step), "
                                      "COUNT(eval_loss) "
                                      "FROM job_curves WHERE job_id = '", job.id(), "'")),
              absl::StrCat("1|1|", kSteps, "|", evals, "\n"));
    const std::string rows = Sqlite(
        db, absl::StrCat("SELECT step, tokens, printf('%.9g', train_loss), printf('%.9g', lr), "
                         "printf('%.9g', sparsity) FROM job_curves WHERE job_id = '",
                         job.id(), "' ORDER BY step"));
    for (absl::string_view line : absl::StrSplit(rows, '\n', absl::SkipEmpty())) {
      const std::vector<std::string> cells = absl::StrSplit(line, '|');
      ASSERT_EQ(cells.size(), 5u) << line;
      const v1::LossPoint& p = curve[std::stoll(cells[0]) - 1];
      EXPECT_EQ(line, absl::StrCat(p.step(), "|", p.tokens(), "|",
                                   absl::StrFormat("%.9g", p.train_loss()), "|",
                                   absl::StrFormat("%.9g", p.lr()), "|",
                                   absl::StrFormat("%.9g", p.sparsity())));
    }
  }
}

}  // namespace
}  // namespace sparsescale::e2e
