// End-to-end behaviour of coordinator + workers + SQLite with real processes: a sweep
// completes with whole curves; a worker killed with -9 mid-job is replaced and the job resumes
// from its checkpoint with exactly one point per step; a coordinator killed with -9 mid-sweep
// restarts on the same database without losing an acknowledged point; cancel reaches a running
// job within seconds; SIGTERM drains a worker and the job finishes elsewhere; a request id
// repeated through the CLI makes one job; a two-process CPU job's ranks meet through the
// coordinator's Rendezvous RPC; a failed job retried through the CLI succeeds; `sweep watch`
// follows a sweep to its end, and `sweep delete` removes it.
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>

#include "absl/strings/str_cat.h"
#include "client/cli_util.h"
#include "client/coordinator_client.h"
#include "client/export_csv.h"
#include "client/local_cluster.h"
#include "tests/e2e/cluster_fixture.h"
#include "tests/e2e/e2e_support.h"

namespace sparsescale::e2e {
namespace {

namespace fs = std::filesystem;
namespace v1 = sparsescale::v1;
using std::chrono::milliseconds;
using std::chrono::seconds;

class E2eTest : public ClusterFixture {
 protected:
  std::vector<v1::LossPoint> Curve(const std::string& id) {
    auto c = client_->GetLossCurve(id, 0);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? std::vector<v1::LossPoint>(c->points().begin(), c->points().end())
                  : std::vector<v1::LossPoint>();
  }

  // Exactly one point for every step 1..total_steps, in order, the last one evaluated.
  void ExpectWholeCurve(const v1::Job& job) {
    std::vector<v1::LossPoint> points = Curve(job.id());
    ASSERT_EQ(static_cast<int64_t>(points.size()), job.total_steps()) << job.id();
    for (size_t i = 0; i < points.size(); ++i) {
      ASSERT_EQ(points[i].step(), static_cast<int64_t>(i + 1)) << job.id() << " point " << i;
    }
    EXPECT_TRUE(points.back().has_eval_loss());
  }

  // The log of `attempt` of `job` on worker `worker` ("" when it is missing).
  std::string AttemptLog(int worker, const std::string& job, int attempt) {
    const fs::path log = dir_ / "cluster" / absl::StrCat("worker-", worker) / "jobs" / job /
                         absl::StrCat("a", attempt) / "job.log";
    return client::ReadTextFile(log.string()).value_or("");
  }

  // The checkpoint step the trainer of an attempt resumed from, read from the line it logs
  // ("resuming at step N+1 of T from checkpoint step N"), and checks that the first step it
  // trained, hence reported, is the one after. -1 when the attempt did not resume. The stored
  // curve cannot show this: the coordinator drops a resumed attempt's points at or before its
  // resume step, so a restart from step 0 would leave the same curve.
  int64_t ResumedFromStep(const std::string& log, int64_t total_steps) {
    static const std::regex kLine(R"(resuming at step (\d+) of (\d+) from checkpoint step (\d+))");
    std::smatch m;
    if (!std::regex_search(log, m, kLine)) {
      return -1;
    }
    const int64_t first = std::stoll(m[1]), checkpoint = std::stoll(m[3]);
    EXPECT_EQ(first, checkpoint + 1) << log;
    EXPECT_EQ(std::stoll(m[2]), total_steps) << log;
    return checkpoint;
  }

  // On a started one-worker cluster: submits a 10,000-step job with a checkpoint every 200
  // steps, kills its worker with SIGKILL between two checkpoints, adds a worker, and waits for
  // the job to succeed there (`*done`). Checks the curve is whole, attempt 1 started from
  // scratch, and the last attempt resumed from a periodic checkpoint at or after the one seen
  // before the kill (or a later one whose upload finished as the worker died). 10,000 steps
  // (several seconds): at 3,000 the whole job could finish within a second, before a poll saw
  // it between checkpoints, and the test timed out without killing anything.
  void KillTheWorkerBetweenCheckpointsAndFinishOnANewOne(v1::Job* done) {
    const v1::Job job = Submit(TinySpec(shards_, 10000, 200));
    ASSERT_TRUE(WaitFor(
        [&] {
          v1::Job j = Job(job.id());
          return j.checkpoint_step() >= 200 && j.step() > j.checkpoint_step();
        },
        seconds(90)));
    const v1::Job killed = Job(job.id());
    cluster_->SignalWorker(0, SIGKILL);
    ASSERT_TRUE(cluster_->AddWorker().ok());
    ASSERT_TRUE(WaitForState(job.id(), v1::JOB_STATE_SUCCEEDED, seconds(120)))
        << Job(job.id()).DebugString();
    *done = Job(job.id());
    EXPECT_GE(done->attempt(), 2);
    EXPECT_NE(done->worker_id(), killed.worker_id());
    ExpectWholeCurve(*done);
    EXPECT_EQ(ResumedFromStep(AttemptLog(0, job.id(), 1), done->total_steps()), -1);
    const std::string log = AttemptLog(1, job.id(), done->attempt());
    const int64_t resumed_from = ResumedFromStep(log, done->total_steps());
    EXPECT_GE(resumed_from, killed.checkpoint_step()) << log;
    EXPECT_EQ(resumed_from % 200, 0) << log;  // a periodic checkpoint
  }

  bool AllFinal(const std::string& sweep_id, std::vector<v1::Job>* jobs) {
    auto list = client_->ListJobs(sweep_id);
    if (!list.ok() || list->empty()) {
      return false;
    }
    *jobs = *list;
    for (const v1::Job& j : *list) {
      if (j.state() != v1::JOB_STATE_SUCCEEDED && j.state() != v1::JOB_STATE_FAILED &&
          j.state() != v1::JOB_STATE_CANCELLED) {
        return false;
      }
    }
    return true;
  }

  std::string CreateSweep(const v1::JobSpec& base, std::vector<double> sparsities) {
    v1::CreateSweepRequest request;
    request.set_request_id(client::NewClientRequestId());
    request.set_name("e2e");
    *request.mutable_base() = base;
    request.mutable_axes()->add_nonzeros(3072);
    for (double s : sparsities) {
      request.mutable_axes()->add_sparsities(s);
    }
    request.mutable_axes()->add_tokens(base.data().tokens());
    auto r = client_->CreateSweep(request);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->sweep().id() : "";
  }

};

TEST_F(E2eTest, SweepCompletesWithEveryJobsWholeCurveStored) {
  StartCluster(2);
  std::string sweep = CreateSweep(TinySpec(shards_, 60, 20), {0, 0.5});
  std::vector<v1::Job> jobs;
  ASSERT_TRUE(WaitFor([&] { return AllFinal(sweep, &jobs); }, seconds(120)));
  ASSERT_EQ(jobs.size(), 2u);
  for (const v1::Job& job : jobs) {
    EXPECT_EQ(job.state(), v1::JOB_STATE_SUCCEEDED) << job.error();
    EXPECT_TRUE(job.has_last_eval_loss());
    ExpectWholeCurve(job);
  }
  std::string summary = client::SummaryCsv(jobs);
  EXPECT_EQ(std::count(summary.begin(), summary.end(), '\n'), 3) << summary;
}

TEST_F(E2eTest, TwoRankCpuJobMeetsThroughTheCoordinatorAndCompletes) {
  StartCluster(1, /*slots=*/2);
  v1::JobSpec spec = TinySpec(shards_, 40, 20);
  spec.set_processes(2);
  v1::Job job = Submit(spec);
  const bool succeeded = WaitForState(job.id(), v1::JOB_STATE_SUCCEEDED, seconds(120));
  const v1::Job done = Job(job.id());
  const fs::path attempt = dir_ / "cluster" / "worker-0" / "jobs" / job.id() /
                           absl::StrCat("a", std::max(1, done.attempt()));
  // Empty when missing: the assertions below then show what is there.
  const std::string rank0_log = client::ReadTextFile((attempt / "job.log").string()).value_or("");
  const std::string rank1_log =
      client::ReadTextFile((attempt / "ckpt.ranks" / "rank1.log").string()).value_or("");
  ASSERT_TRUE(succeeded) << done.DebugString() << rank0_log << rank1_log;
  ExpectWholeCurve(done);
  // Each rank logs the rendezvous it used; the file rendezvous would say "rendezvous file:".
  EXPECT_NE(
      rank0_log.find("rank 0 of 2: rendezvous through the coordinator at " + cluster_->address() +
                     " (job " + job.id() + " attempt " + std::to_string(done.attempt()) + ")"),
      std::string::npos)
      << rank0_log;
  EXPECT_NE(rank1_log.find("rank 1 of 2: rendezvous through the coordinator"), std::string::npos)
      << rank1_log;
  EXPECT_EQ(rank0_log.find("rendezvous file:"), std::string::npos) << rank0_log;
  EXPECT_FALSE(fs::exists(attempt / "ckpt.ranks" / "rank0.addr"));
}

TEST_F(E2eTest, KilledWorkersJobResumesFromItsCheckpointOnAnotherWorker) {
  StartCluster(1);
  v1::Job done;
  ASSERT_NO_FATAL_FAILURE(KillTheWorkerBetweenCheckpointsAndFinishOnANewOne(&done));
}

// The same with the coordinator's --checkpoint-dir: the checkpoints are files (content-addressed,
// verified on download), and the job resumes from one exactly as from SQLite; retention keeps
// the final checkpoint after the job ends, and the directory holds no leftovers.
TEST_F(E2eTest, KilledWorkersJobResumesFromABlobDirCheckpoint) {
  const fs::path blobs = dir_ / "checkpoints";
  extra_coordinator_args_ = {"--checkpoint-dir", blobs.string()};
  StartCluster(1);
  v1::Job done;
  ASSERT_NO_FATAL_FAILURE(KillTheWorkerBetweenCheckpointsAndFinishOnANewOne(&done));
  auto listed = client_->ListCheckpoints(done.id());
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_GE(listed->checkpoints_size(), 1);
  int files = 0;
  for (const auto& e : fs::recursive_directory_iterator(blobs)) {
    files += e.is_regular_file() && e.path().parent_path().filename() != "tmp" ? 1 : 0;
  }
  EXPECT_EQ(files, listed->checkpoints_size());
  for (const v1::CheckpointInfo& info : listed->checkpoints()) {
    EXPECT_EQ(info.stored_in(), v1::CHECKPOINT_STORAGE_BLOB_DIR);
    EXPECT_TRUE(fs::exists(blobs / info.sha256().substr(0, 2) / info.sha256())) << info.sha256();
  }
  EXPECT_TRUE(fs::is_empty(blobs / "tmp"));
}

TEST_F(E2eTest, CoordinatorKilledMidSweepLosesNoAcknowledgedPoint) {
  StartCluster(2);
  std::string sweep = CreateSweep(TinySpec(shards_, 1500, 300), {0, 0.5, 0.75});
  ASSERT_TRUE(WaitFor(
      [&] {
        auto s = client_->GetClusterStatus();
        return s.ok() && s->loss_points_stored() >= 200;
      },
      seconds(90)));
  // Everything readable now was committed (and acknowledged) before the crash.
  std::map<std::string, std::vector<v1::LossPoint>> before;
  absl::StatusOr<std::vector<v1::Job>> running = client_->ListJobs(sweep);
  ASSERT_TRUE(running.ok()) << running.status();
  int running_now = 0;
  for (const v1::Job& j : *running) {
    before[j.id()] = Curve(j.id());
    running_now += j.state() == v1::JOB_STATE_RUNNING ? 1 : 0;
  }
  EXPECT_GT(running_now, 0);  // The crash hits jobs mid-flight.
  cluster_->KillCoordinator(SIGKILL);
  ASSERT_TRUE(cluster_->StartCoordinator().ok());
  std::vector<v1::Job> jobs;
  ASSERT_TRUE(WaitFor([&] { return AllFinal(sweep, &jobs); }, seconds(150)));
  for (const v1::Job& job : jobs) {
    EXPECT_EQ(job.state(), v1::JOB_STATE_SUCCEEDED) << job.error();
    ExpectWholeCurve(job);
    std::vector<v1::LossPoint> after = Curve(job.id());
    for (const v1::LossPoint& p : before[job.id()]) {
      ASSERT_LE(p.step(), static_cast<int64_t>(after.size()));
      // A resume is bit-exact, so even a superseded point comes back with the same loss.
      EXPECT_EQ(after[p.step() - 1].train_loss(), p.train_loss()) << "step " << p.step();
    }
  }
}

TEST_F(E2eTest, CancelReachesARunningJobWithinSeconds) {
  StartCluster(1);
  v1::Job job = Submit(TinySpec(shards_, 20000, 5000));
  ASSERT_TRUE(WaitFor(
      [&] {
        v1::Job j = Job(job.id());
        return j.state() == v1::JOB_STATE_RUNNING && j.step() > 0;
      },
      seconds(60)));
  auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(client_->CancelJob(client::NewClientRequestId(), job.id()).ok());
  ASSERT_TRUE(WaitForState(job.id(), v1::JOB_STATE_CANCELLED, seconds(20)));
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(5));
  // The worker is free again and takes the next job.
  v1::Job next = Submit(TinySpec(shards_, 20, 10, 0.5, /*seed=*/2));
  EXPECT_TRUE(WaitForState(next.id(), v1::JOB_STATE_SUCCEEDED, seconds(60)));
  EXPECT_TRUE(cluster_->WorkerRunning(0));
}

TEST_F(E2eTest, SigtermDrainReleasesTheLeaseAndTheJobFinishesElsewhere) {
  StartCluster(1);
  v1::Job job = Submit(TinySpec(shards_, 40000, 1000000));  // mid-job when drained
  ASSERT_TRUE(WaitFor([&] { return Job(job.id()).step() >= 20; }, seconds(60)));
  cluster_->SignalWorker(0, SIGTERM);
  std::optional<agent::ExitInfo> exit = cluster_->WaitWorker(0, milliseconds(30000));
  ASSERT_TRUE(exit.has_value());
  EXPECT_TRUE(exit->ok()) << exit->ToString();
  v1::Job released = Job(job.id());
  EXPECT_EQ(released.state(), v1::JOB_STATE_QUEUED);
  EXPECT_GE(released.checkpoint_step(), 20);  // The drain's own checkpoint.
  ASSERT_TRUE(cluster_->AddWorker().ok());
  ASSERT_TRUE(WaitForState(job.id(), v1::JOB_STATE_SUCCEEDED, seconds(90)));
  v1::Job done = Job(job.id());
  EXPECT_EQ(done.attempt(), 2);
  ExpectWholeCurve(done);
  // Attempt 2 continued right after the drain's checkpoint.
  const std::string log = AttemptLog(1, job.id(), 2);
  EXPECT_EQ(ResumedFromStep(log, done.total_steps()), released.checkpoint_step()) << log;
}

TEST_F(E2eTest, SameRequestIdTwiceThroughTheCliMakesOneJob) {
  StartCluster(0);
  std::string spec_json;
  google::protobuf::util::JsonPrintOptions print;
  print.preserve_proto_field_names = true;
  ASSERT_TRUE(
      google::protobuf::util::MessageToJsonString(TinySpec(shards_, 10, 5), &spec_json, print)
          .ok());
  std::string file = (dir_ / "job.json").string();
  std::ofstream(file) << spec_json;
  std::vector<std::string> submit = {
      "job",   "submit", file, "--request-id", "e2e-req-1", "--coordinator", cluster_->address(),
      "--json"};
  CliResult first = RunCli(submit);
  CliResult second = RunCli(submit);
  ASSERT_EQ(first.exit_code, 0) << first.out;
  ASSERT_EQ(second.exit_code, 0) << second.out;
  auto a = nlohmann::json::parse(first.out);
  auto b = nlohmann::json::parse(second.out);
  EXPECT_EQ(a["job"]["id"], b["job"]["id"]);
  EXPECT_EQ(a["created"], true);
  auto jobs = client_->ListJobs("");
  ASSERT_TRUE(jobs.ok());
  EXPECT_EQ(jobs->size(), 1u);

  // Exit codes: not found, unreachable, bad input.
  EXPECT_EQ(RunCli({"job", "get", "no-such-job", "--coordinator", cluster_->address()}).exit_code,
            4);
  EXPECT_EQ(RunCli({"status", "--coordinator", "127.0.0.1:1"}).exit_code, 3);
  std::string bad = (dir_ / "bad.json").string();
  std::ofstream(bad) << R"({"model": {"layers": 1}, "bogus_field": 3})";
  EXPECT_EQ(RunCli({"job", "submit", bad, "--coordinator", cluster_->address()}).exit_code, 2);
}

TEST_F(E2eTest, FailedJobRetriedThroughTheCliRunsToSuccess) {
  StartCluster(1);
  // Its shards do not exist yet: the job fails with its own error, which is final.
  const fs::path late = dir_ / "late";
  v1::Job job = Submit(TinySpec((late / "shards").string(), 20, 10));
  ASSERT_TRUE(WaitForState(job.id(), v1::JOB_STATE_FAILED, seconds(60)));
  const std::string address = cluster_->address();
  // A failed job can be deleted; submitted again, it is a new job that fails again.
  EXPECT_EQ(RunCli({"job", "delete", job.id(), "--coordinator", address}).exit_code, 0);
  job = Submit(TinySpec((late / "shards").string(), 20, 10));
  ASSERT_TRUE(WaitForState(job.id(), v1::JOB_STATE_FAILED, seconds(60)));
  const v1::Job failed = Job(job.id());
  EXPECT_FALSE(failed.error().empty());
  fs::create_directories(late);
  absl::StatusOr<std::string> prepared = PrepareCorpusSlice(late.string(), 200'000);
  ASSERT_TRUE(prepared.ok()) << prepared.status();
  CliResult retry = RunCli({"job", "retry", job.id(), "--request-id", "e2e-retry-1",
                            "--coordinator", address});
  ASSERT_EQ(retry.exit_code, 0) << retry.out;
  EXPECT_NE(retry.out.find("queued again"), std::string::npos) << retry.out;
  // The same request id again is the same retry, not a refusal.
  EXPECT_EQ(RunCli({"job", "retry", job.id(), "--request-id", "e2e-retry-1", "--coordinator",
                    address})
                .exit_code,
            0);
  ASSERT_TRUE(WaitForState(job.id(), v1::JOB_STATE_SUCCEEDED, seconds(90)));
  v1::Job done = Job(job.id());
  EXPECT_EQ(done.attempt(), failed.attempt() + 1);  // attempt numbers carry on
  EXPECT_EQ(done.error(), "");
  ExpectWholeCurve(done);
  // A succeeded job cannot be retried: exit 1, the state named on stderr.
  EXPECT_EQ(RunCli({"job", "retry", job.id(), "--coordinator", address}).exit_code, 1);
}

TEST_F(E2eTest, SweepWatchFollowsASweepToItsEndAndSweepDeleteRemovesIt) {
  StartCluster(2);
  const std::string sweep = CreateSweep(TinySpec(shards_, 20, 10), {0.25, 0.5});
  const std::string address = cluster_->address();
  CliResult watch = RunCli({"sweep", "watch", sweep, "--poll-ms", "200", "--coordinator", address});
  ASSERT_EQ(watch.exit_code, 0) << watch.out;
  EXPECT_NE(watch.out.find("2/2 done"), std::string::npos) << watch.out;
  EXPECT_NE(watch.out.find("ETA"), std::string::npos) << watch.out;
  std::vector<v1::Job> jobs;
  ASSERT_TRUE(AllFinal(sweep, &jobs));
  // With --json: progress on stderr, the final jobs on stdout.
  CliResult json = RunCli({"sweep", "watch", sweep, "--json", "--coordinator", address});
  ASSERT_EQ(json.exit_code, 0) << json.out;
  EXPECT_EQ(nlohmann::json::parse(json.out)["jobs"].size(), 2u) << json.out;
  CliResult cancel = RunCli({"sweep", "cancel", sweep, "--coordinator", address});
  ASSERT_EQ(cancel.exit_code, 0) << cancel.out;
  EXPECT_NE(cancel.out.find("0 queued jobs cancelled, 0 running jobs stopping"),
            std::string::npos)
      << cancel.out;
  CliResult deleted = RunCli({"sweep", "delete", sweep, "--coordinator", address});
  ASSERT_EQ(deleted.exit_code, 0) << deleted.out;
  EXPECT_NE(deleted.out.find("deleted with 2 jobs"), std::string::npos) << deleted.out;
  EXPECT_EQ(RunCli({"sweep", "watch", sweep, "--coordinator", address}).exit_code, 4);
  EXPECT_EQ(RunCli({"job", "get", jobs[0].id(), "--coordinator", address}).exit_code, 4);
}

TEST_F(E2eTest, SweepCreateSetsTheCheckpointRetentionFromTheFileOrTheFlag) {
  StartCluster(0);  // no worker needed
  const std::string address = cluster_->address();
  auto sweep_file = [&](const std::string& name, int keep_last) {
    v1::CreateSweepRequest request;
    request.set_name(name);
    *request.mutable_base() = TinySpec(shards_, 10, 5);
    request.mutable_axes()->add_nonzeros(3072);
    request.mutable_axes()->add_sparsities(keep_last == 0 ? 0.25 : 0.5);
    request.mutable_axes()->add_tokens(request.base().data().tokens());
    if (keep_last > 0) {
      request.mutable_checkpoint_retention()->set_keep_last(keep_last);
    }
    std::string text;
    EXPECT_TRUE(google::protobuf::util::MessageToJsonString(request, &text).ok());
    const std::string path = (dir_ / (name + ".json")).string();
    std::ofstream(path) << text;
    return path;
  };
  const std::string from_file = sweep_file("from-file", 2);
  CliResult created = RunCli({"sweep", "create", from_file, "--json", "--coordinator", address});
  ASSERT_EQ(created.exit_code, 0) << created.out;
  EXPECT_EQ(nlohmann::json::parse(created.out)["sweep"]["checkpoint_retention"]["keep_last"], 2)
      << created.out;
  const std::string plain = sweep_file("by-flag", 0);
  CliResult flagged = RunCli({"sweep", "create", plain, "--checkpoint-keep-last", "4", "--json",
                              "--coordinator", address});
  ASSERT_EQ(flagged.exit_code, 0) << flagged.out;
  const auto sweep = nlohmann::json::parse(flagged.out)["sweep"];
  EXPECT_EQ(sweep["checkpoint_retention"]["keep_last"], 4) << flagged.out;
  auto stored = client_->GetSweep(sweep["id"].get<std::string>());
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->checkpoint_retention().keep_last(), 4);
  EXPECT_EQ(RunCli({"sweep", "create", plain, "--checkpoint-keep-last", "5000", "--coordinator",
                    address})
                .exit_code,
            2);
}

TEST_F(E2eTest, QueuedJobsPriorityChangesThroughTheCliAndDeleteWaitsForAFinalState) {
  StartCluster(0);  // no worker: jobs stay queued
  v1::Job job = Submit(TinySpec(shards_, 10, 5));
  const std::string address = cluster_->address();
  CliResult priority = RunCli({"job", "priority", job.id(), "7", "--coordinator", address});
  ASSERT_EQ(priority.exit_code, 0) << priority.out;
  EXPECT_NE(priority.out.find("priority 7"), std::string::npos) << priority.out;
  EXPECT_EQ(Job(job.id()).priority(), 7);
  EXPECT_EQ(RunCli({"job", "priority", job.id(), "5000", "--coordinator", address}).exit_code, 2);
  EXPECT_EQ(RunCli({"job", "delete", job.id(), "--coordinator", address}).exit_code, 1);
  EXPECT_EQ(RunCli({"job", "retry", job.id(), "--coordinator", address}).exit_code, 1);
  ASSERT_EQ(RunCli({"job", "cancel", job.id(), "--coordinator", address}).exit_code, 0);
  EXPECT_EQ(RunCli({"job", "delete", job.id(), "--coordinator", address}).exit_code, 0);
  EXPECT_EQ(RunCli({"job", "get", job.id(), "--coordinator", address}).exit_code, 4);
}

}  // namespace
}  // namespace sparsescale::e2e
