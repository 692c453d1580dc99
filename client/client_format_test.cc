#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "client/export_csv.h"
#include "client/output.h"
#include "client/study.h"
#include "client/study_config.h"
#include "law/run_io.h"

namespace sparsescale::client {
namespace {

namespace v1 = sparsescale::v1;

v1::Job MakeJob(const std::string& id, int width, double sparsity, v1::JobState state) {
  v1::Job job;
  job.set_id(id);
  job.set_sweep_id("sw1");
  job.set_state(state);
  job.mutable_spec()->mutable_model()->set_width(width);
  job.mutable_spec()->mutable_model()->set_layers(2);
  job.mutable_spec()->mutable_model()->set_context(32);
  job.mutable_spec()->mutable_data()->set_batch_size(4);
  job.mutable_spec()->mutable_data()->set_tokens(12800);
  job.mutable_spec()->mutable_pruning()->set_sparsity(sparsity);
  job.set_total_steps(100);
  return job;
}

TEST(TableTest, AlignsColumnsAndRightAlignsNumbers) {
  Table t({"ID", "STEP", "NAME"});
  t.AddRow({"a", "5", "first"});
  t.AddRow({"bbb", "120", "x"});
  EXPECT_EQ(t.Render(),
            "ID   STEP  NAME\n"
            "a       5  first\n"
            "bbb   120  x\n");
}

TEST(OutputTest, StatesParseInAnySpellingAndUnknownOnesAreNamed) {
  EXPECT_EQ(*ParseState("running"), v1::JOB_STATE_RUNNING);
  EXPECT_EQ(*ParseState("JOB_STATE_FAILED"), v1::JOB_STATE_FAILED);
  auto bad = ParseState("sleeping");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("--state"), std::string::npos);
  EXPECT_EQ(StateName(v1::JOB_STATE_SUCCEEDED), "SUCCEEDED");
}

TEST(OutputTest, DurationsReadNaturally) {
  EXPECT_EQ(FormatDuration(42.4), "42s");
  EXPECT_EQ(FormatDuration(185), "3m05s");
  EXPECT_EQ(FormatDuration(7620), "2h07m");
  EXPECT_EQ(FormatDuration(-1), "-");
}

TEST(OutputTest, JsonUsesProtoFieldNames) {
  v1::Job job = MakeJob("j1", 64, 0.5, v1::JOB_STATE_QUEUED);
  std::string json = MessageToJson(job);
  EXPECT_NE(json.find("\"total_steps\""), std::string::npos);
  EXPECT_NE(json.find("\"JOB_STATE_QUEUED\""), std::string::npos);
}

TEST(OutputTest, JobDetailSaysWhyAQueuedJobCannotBePlaced) {
  v1::Job job;
  job.set_id("j1");
  job.set_state(v1::JOB_STATE_QUEUED);
  EXPECT_EQ(JobDetail(job).find("waiting"), std::string::npos);
  job.set_unplaceable("it needs 4 free slots on one worker for its 4 CPU ranks");
  EXPECT_NE(JobDetail(job).find("waiting     it needs 4 free slots"), std::string::npos)
      << JobDetail(job);
}

TEST(OutputTest, JobDetailShowsAFailedJobsLogTailLineByLine) {
  v1::Job job = MakeJob("j1", 16, 0.5, v1::JOB_STATE_FAILED);
  job.set_attempt(2);
  job.set_log_tail("step 9/10  train loss 3.1\ntraining failed: NOT_FOUND: no shards\n");
  const std::string detail = JobDetail(job);
  EXPECT_NE(detail.find("log tail    (attempt 2; all of it: sparsescale job logs j1)\n"
                        "  | step 9/10  train loss 3.1\n"
                        "  | training failed: NOT_FOUND: no shards\n"),
            std::string::npos)
      << detail;
  EXPECT_EQ(JobDetail(MakeJob("j2", 16, 0.5, v1::JOB_STATE_SUCCEEDED)).find("log tail"),
            std::string::npos);
}

TEST(OutputTest, CheckpointsTableListsStepSizeAndDigest) {
  v1::ListCheckpointsResponse list;
  v1::CheckpointInfo* info = list.add_checkpoints();
  info->set_step(200);
  info->set_attempt(1);
  info->set_size_bytes(4096);
  info->set_sha256("ab12");
  const std::string table = CheckpointsTable(list);
  EXPECT_EQ(table.rfind("STEP", 0), 0u) << table;
  EXPECT_NE(table.find("200"), std::string::npos);
  EXPECT_NE(table.find("4096"), std::string::npos);
  EXPECT_NE(table.find("ab12"), std::string::npos);
}

TEST(OutputTest, JobsTableListsTheQueuedJobsThatCannotBePlacedUnderTheTable) {
  v1::Job placeable = MakeJob("j1", 64, 0.5, v1::JOB_STATE_QUEUED);
  v1::Job stuck = MakeJob("j2", 64, 0.5, v1::JOB_STATE_QUEUED);
  const std::string plain = JobsTable({placeable, stuck});
  EXPECT_EQ(plain.find("waiting"), std::string::npos) << plain;
  stuck.set_unplaceable("it needs 4 free slots on one worker for its 4 CPU ranks");
  const std::string table = JobsTable({placeable, stuck});
  EXPECT_NE(table.find("\nwaiting j2: it needs 4 free slots on one worker"), std::string::npos)
      << table;
  EXPECT_EQ(table.find("waiting j1"), std::string::npos) << table;
}

TEST(ExportCsvTest, SummaryHasOneRowPerSucceededJobInLawFitColumns) {
  v1::Job dense = MakeJob("j1", 64, 0, v1::JOB_STATE_SUCCEEDED);
  dense.set_last_eval_loss(2.5);
  v1::Job sparse = MakeJob("j2", 64, 0.75, v1::JOB_STATE_SUCCEEDED);
  sparse.set_last_eval_loss(2.75);
  v1::Job nm = MakeJob("j3", 32, 0, v1::JOB_STATE_SUCCEEDED);
  nm.mutable_spec()->mutable_pruning()->set_structure(v1::SPARSITY_STRUCTURE_NM);
  nm.mutable_spec()->mutable_pruning()->set_n(2);
  nm.mutable_spec()->mutable_pruning()->set_m(4);
  nm.set_last_eval_loss(3.0);
  v1::Job running = MakeJob("j4", 64, 0.5, v1::JOB_STATE_RUNNING);
  std::string csv = SummaryCsv({dense, sparse, nm, running});
  EXPECT_EQ(csv,
            "job_id,sweep_id,structure,n,m,sparsity,nonzeros,tokens,final_eval_loss\n"
            "j1,sw1,dense,0,0,0,98304,12800,2.5\n"
            "j2,sw1,unstructured,0,0,0.75,24576,12800,2.75\n"
            "j3,sw1,nm,2,4,0.5,12288,12800,3\n");
}

TEST(ExportCsvTest, SummaryIsReadByTheLawFitter) {
  std::vector<v1::Job> jobs;
  int i = 0;
  for (double s : {0.0, 0.5, 0.75}) {
    v1::Job job = MakeJob(absl::StrCat("j", i++), 64, s, v1::JOB_STATE_SUCCEEDED);
    job.set_last_eval_loss(3.0 + s);
    jobs.push_back(job);
  }
  auto runs = law::ParseRuns(SummaryCsv(jobs));
  ASSERT_TRUE(runs.ok()) << runs.status();
  EXPECT_EQ(runs->format, "sparsescale-csv");
  ASSERT_EQ(runs->runs.size(), 3u);
  EXPECT_DOUBLE_EQ(runs->runs[2].sparsity, 0.75);
  EXPECT_DOUBLE_EQ(runs->runs[2].nonzeros, 24576);
  EXPECT_DOUBLE_EQ(runs->runs[2].loss, 3.75);
}

TEST(ExportCsvTest, PointsRoundTripTheirValues) {
  v1::Job job = MakeJob("j1", 64, 0, v1::JOB_STATE_SUCCEEDED);
  v1::LossPoint p;
  p.set_step(3);
  p.set_tokens(384);
  p.set_train_loss(0.1 + 0.2);
  std::string out;
  AppendPointsCsv(job, {p}, &out);
  EXPECT_EQ(out, "j1,sw1,3,384,0.30000000000000004,,0,0,0,0,0,0,0\n");
}

TEST(StudyConfigTest, ParsesSweepPrepareAndFitSections) {
  auto config = ParseStudyJson(R"({
    "name": "s", "priority": 2,
    "base": {"model": {"layers": 2, "heads": 2, "context": 32},
             "data": {"batch_size": 4, "tokens": 1000}},
    "axes": {"nonzeros": [1000, 2000], "sparsities": [0, 0.5], "tokens": [1000, 2000]},
    "prepare": {"inputs": ["a.txt"], "out_dir": "shards"},
    "fit": {"starts": 50}})");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->sweep.name(), "s");
  EXPECT_EQ(config->sweep.priority(), 2);
  EXPECT_EQ(config->prepare_inputs, std::vector<std::string>{"a.txt"});
  EXPECT_EQ(config->fit_starts, 50);
  EXPECT_EQ(CountSweepCells(config->sweep.axes()), 8);
}

TEST(StudyConfigTest, UnknownFieldsAreNamed) {
  auto bad = ParseStudyJson(R"({"name": "s", "axes": {"nonzeros": [1]}, "prepare": {"x": 1}})");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("prepare.x"), std::string::npos);
  auto bad_sweep = ParseSweepJson(R"({"name": "s", "axes": {"nonzeros": [1]}, "bogus": 1})");
  EXPECT_EQ(bad_sweep.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad_sweep.status().message().find("bogus"), std::string::npos);
  auto no_sizes = ParseSweepJson(R"({"name": "s"})");
  EXPECT_NE(no_sizes.status().message().find("axes.nonzeros"), std::string::npos);
}

TEST(StudyProgressTest, WeighsJobsByCostAndEstimatesTheRemainingTime) {
  v1::Job done = MakeJob("a", 64, 0, v1::JOB_STATE_SUCCEEDED);
  v1::Job half = MakeJob("b", 64, 0, v1::JOB_STATE_RUNNING);
  half.set_step(50);
  v1::Job queued = MakeJob("c", 64, 0, v1::JOB_STATE_QUEUED);
  v1::Job failed = MakeJob("d", 64, 0, v1::JOB_STATE_FAILED);
  StudyProgress p = ComputeProgress({done, half, queued, failed}, 100);
  EXPECT_EQ(p.total, 4);
  EXPECT_EQ(p.succeeded, 1);
  EXPECT_EQ(p.failed, 1);
  EXPECT_EQ(p.running, 1);
  EXPECT_EQ(p.queued, 1);
  EXPECT_DOUBLE_EQ(p.fraction, 2.5 / 4);
  EXPECT_NEAR(p.eta_s, 60, 1e-9);  // 100 s for 62.5%: 60 s for the rest
  EXPECT_FALSE(p.finished());
  std::string line = FormatProgressLine(p, {done, half, queued, failed}, 100);
  EXPECT_NE(line.find("2/4 done"), std::string::npos) << line;
  EXPECT_NE(line.find("50/100"), std::string::npos) << line;
  EXPECT_NE(line.find("ETA 1m00s"), std::string::npos) << line;
  // Resumed with half the work already done: only this run's 12.5% counts for the rate.
  EXPECT_NEAR(ComputeProgress({done, half, queued, failed}, 100, 0.5).eta_s, 300, 1e-9);
}

TEST(StoreHealthTextTest, AHealthyStoreIsOneLine) {
  v1::StoreHealth store;
  store.set_disk_free_bytes(int64_t{3} << 30);
  store.set_db_bytes(int64_t{5} << 20);
  store.set_wal_bytes(4096);
  store.set_commits(120);
  store.set_p99_commit_ms(2.25);
  EXPECT_EQ(StoreHealthText(store),
            "store: ok, disk free 3.0 GiB, db 5.0 MiB, WAL 4.0 KiB, commit p99 2.2 ms (120 "
            "commits)\n");
}

TEST(StoreHealthTextTest, AFailingStoreIsAWarningBlockWithTheErrorAndItsEffect) {
  v1::StoreHealth store;
  store.set_disk_free_bytes(0);
  store.set_last_error("RESOURCE_EXHAUSTED: database or disk is full");
  store.set_failure_kind("disk full");
  store.set_failing_since_unix_ms(1'796'181'872'000);
  store.set_failing_batches(572);
  const std::string text = StoreHealthText(store);
  EXPECT_EQ(text.rfind("WARNING: the store cannot write: disk full since ", 0), 0u) << text;
  EXPECT_NE(text.find("(572 failed commits)"), std::string::npos) << text;
  EXPECT_NE(text.find("error    RESOURCE_EXHAUSTED: database or disk is full"), std::string::npos);
  EXPECT_NE(text.find("disk free 0 B"), std::string::npos) << text;
  EXPECT_NE(text.find("reads keep working"), std::string::npos) << text;
}

TEST(StoreHealthTextTest, BlockedJobsSayWhyInTheTableAndTheDetail) {
  v1::Job job = MakeJob("abcdef0123456789", 64, 0.5, v1::JOB_STATE_RUNNING);
  job.set_blocked("store: cannot write: disk full since 15:02:11 UTC");
  EXPECT_NE(JobsTable({job}).find("blocked abcdef012345: store: cannot write: disk full"),
            std::string::npos);
  EXPECT_NE(JobDetail(job).find("blocked     store: cannot write: disk full since 15:02:11"),
            std::string::npos);
}

}  // namespace
}  // namespace sparsescale::client
