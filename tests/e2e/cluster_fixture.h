// The fixture every end-to-end test starts from: a temporary directory with a slice of the
// corpus prepared into shards, a LocalCluster (real coordinator and worker processes on
// 127.0.0.1, short leases so that lost workers are noticed within seconds) and a client.
// The directory is removed after a passing test and kept, with the daemons' logs, after a
// failing one. Not thread-safe; used from the test thread.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/coordinator_client.h"
#include "client/local_cluster.h"
#include "tests/e2e/e2e_support.h"

namespace sparsescale::e2e {

class ClusterFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           absl::StrCat("sparsescale_e2e_", getpid(), "_",
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    absl::StatusOr<std::string> shards = PrepareCorpusSlice(dir_.string(), 200'000);
    ASSERT_TRUE(shards.ok()) << shards.status();
    shards_ = *shards;
  }

  void TearDown() override {
    client_.reset();
    cluster_.reset();
    if (HasFailure()) {
      std::fprintf(stderr, "e2e: logs kept in %s/cluster\n", dir_.c_str());
    } else {
      std::filesystem::remove_all(dir_);
    }
  }

  // `workers` workers of `slots` slots each; 3 s leases, 250 ms heartbeats, 4 s restart grace.
  void StartCluster(int workers, int slots = 1) {
    client::LocalClusterOptions o;
    o.work_dir = (dir_ / "cluster").string();
    o.workers = workers;
    o.slots = slots;
    o.device = "cpu";
    o.threads = 1;
    o.coordinator_args = {"--lease-ttl-ms",     "3000", "--heartbeat-period-ms", "250",
                          "--restart-grace-ms", "4000"};
    o.coordinator_args.insert(o.coordinator_args.end(), extra_coordinator_args_.begin(),
                              extra_coordinator_args_.end());
    auto cluster = client::LocalCluster::Start(o);
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = std::move(*cluster);
    client_ = std::make_unique<client::CoordinatorClient>(cluster_->address());
  }

  sparsescale::v1::Job Submit(const sparsescale::v1::JobSpec& spec) {
    sparsescale::v1::SubmitJobRequest request;
    request.set_request_id(client::NewClientRequestId());
    *request.mutable_spec() = spec;
    auto r = client_->SubmitJob(request);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->job() : sparsescale::v1::Job();
  }

  // The job as the coordinator has it now (an empty Job when the call fails).
  sparsescale::v1::Job Job(const std::string& id) {
    auto j = client_->GetJob(id);
    return j.ok() ? *j : sparsescale::v1::Job();
  }

  bool WaitForState(const std::string& id, sparsescale::v1::JobState state,
                    std::chrono::milliseconds timeout) {
    return WaitFor([&] { return Job(id).state() == state; }, timeout);
  }

  // More coordinator flags for the next StartCluster (e.g. --checkpoint-dir).
  std::vector<std::string> extra_coordinator_args_;
  std::filesystem::path dir_;
  std::string shards_;
  std::unique_ptr<client::LocalCluster> cluster_;
  std::unique_ptr<client::CoordinatorClient> client_;
};

}  // namespace sparsescale::e2e
