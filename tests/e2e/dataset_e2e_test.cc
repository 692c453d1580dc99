// Data without a shared filesystem: the client uploads its shards as a dataset through the CLI
// and deletes them; real worker processes (whose filesystem no longer has the client's files)
// download the dataset into their caches, verify it and run a sweep on it to the end.
#include <gtest/gtest.h>

#include <filesystem>
#include <vector>

#include "absl/strings/match.h"
#include "client/coordinator_client.h"
#include "tests/e2e/cluster_fixture.h"
#include "tests/e2e/e2e_support.h"

namespace sparsescale::e2e {
namespace {

namespace fs = std::filesystem;
namespace v1 = sparsescale::v1;
using std::chrono::seconds;

class DatasetE2eTest : public ClusterFixture {};

TEST_F(DatasetE2eTest, ASweepRunsToTheEndFromAnUploadedDatasetAfterTheClientsFilesAreGone) {
  StartCluster(2);
  std::vector<std::string> files;
  for (const fs::directory_entry& e : fs::directory_iterator(shards_)) {
    files.push_back(e.path().string());
  }
  ASSERT_GE(files.size(), 2u);
  std::vector<std::string> upload = {"dataset", "upload", "corpus"};
  upload.insert(upload.end(), files.begin(), files.end());
  upload.insert(upload.end(), {"--coordinator", cluster_->address()});
  CliResult up = RunCli(upload);
  ASSERT_EQ(up.exit_code, 0) << up.out;
  EXPECT_TRUE(absl::StrContains(up.out, "stored dataset corpus")) << up.out;
  // Run again: the coordinator has every chunk, nothing is sent.
  CliResult again = RunCli(upload);
  ASSERT_EQ(again.exit_code, 0) << again.out;
  EXPECT_TRUE(absl::StrContains(again.out, ": 0 chunks sent")) << again.out;
  // The client's files are gone: the workers can only read the dataset.
  fs::remove_all(shards_);

  auto dataset = client_->GetDataset("corpus");
  ASSERT_TRUE(dataset.ok()) << dataset.status();
  v1::JobSpec base = TinySpec("unused", 40, 20);
  base.mutable_data()->set_dataset("corpus");
  base.mutable_data()->clear_train_shards();
  base.mutable_data()->add_train_shards("train_*.bin");
  base.mutable_data()->clear_eval_shards();
  base.mutable_data()->add_eval_shards("val_000000.bin");
  v1::CreateSweepRequest request;
  request.set_request_id(client::NewClientRequestId());
  request.set_name("from-a-dataset");
  *request.mutable_base() = base;
  request.mutable_axes()->add_nonzeros(3072);
  request.mutable_axes()->add_sparsities(0);
  request.mutable_axes()->add_sparsities(0.5);
  request.mutable_axes()->add_tokens(base.data().tokens());
  auto sweep = client_->CreateSweep(request);
  ASSERT_TRUE(sweep.ok()) << sweep.status();

  std::vector<v1::Job> jobs;
  ASSERT_TRUE(WaitFor(
      [&] {
        auto list = client_->ListJobs(sweep->sweep().id());
        if (!list.ok() || list->size() != 2) {
          return false;
        }
        jobs = *list;
        for (const v1::Job& j : jobs) {
          if (j.state() == v1::JOB_STATE_QUEUED || j.state() == v1::JOB_STATE_RUNNING) {
            return false;
          }
        }
        return true;
      },
      seconds(120)));
  for (const v1::Job& job : jobs) {
    EXPECT_EQ(job.state(), v1::JOB_STATE_SUCCEEDED) << job.error() << "\n" << job.log_tail();
    EXPECT_EQ(job.spec().data().dataset(), dataset->hash());  // pinned at submission
    EXPECT_TRUE(job.has_last_eval_loss());
    auto curve = client_->GetLossCurve(job.id(), 0);
    ASSERT_TRUE(curve.ok());
    EXPECT_EQ(curve->total_points(), 40);
  }
  // Deleting the dataset works once no job needs it; a later job naming it is refused.
  CliResult deleted = RunCli({"dataset", "delete", "corpus", "--coordinator", cluster_->address()});
  EXPECT_EQ(deleted.exit_code, 0) << deleted.out;
  v1::SubmitJobRequest submit;
  submit.set_request_id(client::NewClientRequestId());
  *submit.mutable_spec() = base;
  EXPECT_EQ(client_->SubmitJob(submit).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace sparsescale::e2e
