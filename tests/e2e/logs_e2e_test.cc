// End to end, job logs and checkpoints through the CLI: a real worker runs a real job and
// `sparsescale job logs` prints the trainer's output as the worker captured it; a job that fails
// in the trainer shows its last log lines in `job get`; a worker killed with -9 mid-job leaves
// its log up to the last acknowledged chunk; `checkpoint list` and a resumed `checkpoint get`
// deliver a verified file.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "client/cli_util.h"
#include "client/coordinator_client.h"
#include "client/local_cluster.h"
#include "common/sha256.h"
#include "tests/e2e/cluster_fixture.h"
#include "tests/e2e/e2e_support.h"

namespace sparsescale::e2e {
namespace {

namespace fs = std::filesystem;
namespace v1 = sparsescale::v1;
using std::chrono::seconds;

class LogsE2eTest : public ClusterFixture {
 protected:
  void SetUp() override {
    ClusterFixture::SetUp();
    ASSERT_NO_FATAL_FAILURE(StartCluster(1));
  }

  // What the coordinator stored of an attempt's log, through the C++ client.
  std::string StoredLog(const std::string& id, int attempt) {
    v1::StreamJobLogsRequest request;
    request.set_job_id(id);
    request.set_attempt(attempt);
    std::string text;
    absl::Status s = client_->StreamLogs(request, [&](const v1::LogChunk& chunk) {
      text += chunk.data();
      return true;
    });
    EXPECT_TRUE(s.ok()) << s;
    return text;
  }

  std::string WorkerLog(int worker, const std::string& job, int attempt) {
    const fs::path log = dir_ / "cluster" / absl::StrCat("worker-", worker) / "jobs" / job /
                         absl::StrCat("a", attempt) / "job.log";
    return client::ReadTextFile(log.string()).value_or("");
  }

  std::vector<std::string> Cli(std::vector<std::string> args) {
    args.push_back("--coordinator");
    args.push_back(cluster_->address());
    return args;
  }

};

TEST_F(LogsE2eTest, JobLogsPrintsTheTrainersOutputAsTheWorkerCapturedIt) {
  v1::Job job = Submit(TinySpec(shards_, 2000, 500));
  ASSERT_TRUE(WaitFor([&] { return Job(job.id()).attempt() == 1; }, seconds(30)));
  // --follow while the job runs: prints as the output arrives and ends with the attempt.
  CliResult followed = RunCli(Cli({"job", "logs", job.id(), "--follow"}));
  ASSERT_EQ(followed.exit_code, 0);
  ASSERT_TRUE(WaitForState(job.id(), v1::JOB_STATE_SUCCEEDED, seconds(90)));
  EXPECT_NE(followed.out.find("step 2000/2000"), std::string::npos) << followed.out;
  EXPECT_NE(followed.out.find("checkpoint at step 500"), std::string::npos) << followed.out;
  EXPECT_NE(followed.out.find("done: final train loss"), std::string::npos) << followed.out;
  // Byte for byte the job process's stderr on the worker, followed or read afterwards.
  EXPECT_EQ(followed.out, WorkerLog(0, job.id(), 1));
  CliResult logs = RunCli(Cli({"job", "logs", job.id(), "--attempt", "1"}));
  ASSERT_EQ(logs.exit_code, 0);
  EXPECT_EQ(logs.out, followed.out);
  EXPECT_EQ(RunCli(Cli({"job", "logs", job.id(), "--attempt", "9"})).exit_code, 4);
}

TEST_F(LogsE2eTest, JobThatFailsInTheTrainerShowsItsLogTailInJobGet) {
  // Valid for the coordinator (it never opens data files); the trainer finds no shards.
  v1::Job job = Submit(TinySpec((dir_ / "no-such-dir").string(), 20, 10));
  ASSERT_TRUE(WaitForState(job.id(), v1::JOB_STATE_FAILED, seconds(60)))
      << Job(job.id()).DebugString();
  const v1::Job failed = Job(job.id());
  EXPECT_NE(failed.log_tail().find("training failed"), std::string::npos) << failed.DebugString();
  CliResult get = RunCli(Cli({"job", "get", job.id()}));
  ASSERT_EQ(get.exit_code, 0);
  EXPECT_NE(get.out.find("log tail"), std::string::npos) << get.out;
  EXPECT_NE(get.out.find("| "), std::string::npos) << get.out;
  EXPECT_NE(get.out.find("training failed"), std::string::npos) << get.out;
}

TEST_F(LogsE2eTest, LogsSurviveTheWorkersDeathUpToTheLastAcknowledgedChunk) {
  v1::Job job = Submit(TinySpec(shards_, 20000, 1000));
  ASSERT_TRUE(WaitFor([&] { return Job(job.id()).attempt() == 1; }, seconds(30)));
  // Two progress lines stored: the worker has sent chunks and had them acknowledged.
  std::string before;
  ASSERT_TRUE(WaitFor(
      [&] {
        before = StoredLog(job.id(), 1);
        return before.find("step ") != before.rfind("step ");
      },
      seconds(90)));
  cluster_->SignalWorker(0, SIGKILL);
  ASSERT_TRUE(WaitFor([&] { return Job(job.id()).state() == v1::JOB_STATE_QUEUED; }, seconds(30)))
      << Job(job.id()).DebugString();
  const std::string after = StoredLog(job.id(), 1);
  EXPECT_EQ(after.rfind(before, 0), 0u) << "stored before the kill:\n"
                                        << before << "\nafter:\n"
                                        << after;
  // What is stored is a prefix of what the job process wrote.
  EXPECT_EQ(WorkerLog(0, job.id(), 1).rfind(after, 0), 0u);
}

TEST_F(LogsE2eTest, CheckpointGetResumesAPartialFileAndVerifiesIt) {
  v1::Job job = Submit(TinySpec(shards_, 60, 20));
  ASSERT_TRUE(WaitForState(job.id(), v1::JOB_STATE_SUCCEEDED, seconds(90)));
  CliResult list = RunCli(Cli({"checkpoint", "list", job.id()}));
  ASSERT_EQ(list.exit_code, 0);
  EXPECT_NE(list.out.find("SHA256"), std::string::npos) << list.out;
  EXPECT_NE(list.out.find("60"), std::string::npos) << list.out;
  auto checkpoints = client_->ListCheckpoints(job.id());
  ASSERT_TRUE(checkpoints.ok());
  const v1::CheckpointInfo latest = *checkpoints->checkpoints().rbegin();

  const std::string whole = (dir_ / "whole.safetensors").string();
  CliResult get = RunCli(Cli({"checkpoint", "get", job.id(), "--out", whole}));
  ASSERT_EQ(get.exit_code, 0);
  const std::string bytes = client::ReadTextFile(whole).value_or("");
  EXPECT_EQ(static_cast<int64_t>(bytes.size()), latest.size_bytes());
  EXPECT_EQ(Sha256Hex(bytes), latest.sha256());

  // An interrupted download: the first half is already in FILE.part.
  const std::string resumed = (dir_ / "resumed.safetensors").string();
  std::ofstream(resumed + ".part", std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  CliResult again = RunCli(Cli(
      {"checkpoint", "get", job.id(), "--step", std::to_string(latest.step()), "--out", resumed}));
  ASSERT_EQ(again.exit_code, 0);
  EXPECT_NE(again.out.find("resumed after"), std::string::npos) << again.out;
  EXPECT_EQ(client::ReadTextFile(resumed).value_or(""), bytes);
  EXPECT_FALSE(fs::exists(resumed + ".part"));

  // A .part that does not belong to this checkpoint fails the digest and is removed.
  const std::string bad = (dir_ / "bad.safetensors").string();
  std::ofstream(bad + ".part", std::ios::binary) << std::string(bytes.size() / 2, 'x');
  EXPECT_NE(RunCli(Cli({"checkpoint", "get", job.id(), "--out", bad})).exit_code, 0);
  EXPECT_FALSE(fs::exists(bad + ".part"));
  EXPECT_FALSE(fs::exists(bad));

  // A step that does not exist: not found, and the message names it.
  EXPECT_EQ(RunCli(Cli({"checkpoint", "get", job.id(), "--step", "7", "--out", bad})).exit_code, 4);
}

}  // namespace
}  // namespace sparsescale::e2e
