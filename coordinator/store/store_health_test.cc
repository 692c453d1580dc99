#include "coordinator/store/store_health.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace sparsescale::store {
namespace {

class StoreHealthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / absl::StrCat("store_health_", getpid());
    std::filesystem::create_directories(dir_);
    db_ = (dir_ / "c.db").string();
    std::ofstream(db_) << std::string(1000, 'x');
    std::ofstream(db_ + "-wal") << std::string(300, 'y');
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::filesystem::path dir_;
  std::string db_;
};

TEST_F(StoreHealthTest, SnapshotReportsFileSizesDiskSpaceAndCommitLatency) {
  StoreHealthMonitor monitor(db_);
  for (int i = 1; i <= 100; ++i) {
    monitor.RecordCommit(i, absl::OkStatus(), 1000);
  }
  const StoreHealth health = monitor.Snapshot();
  EXPECT_EQ(health.db_bytes, 1000);
  EXPECT_EQ(health.wal_bytes, 300);
  EXPECT_GT(health.disk_free_bytes, 0);
  EXPECT_GE(health.disk_total_bytes, health.disk_free_bytes);
  EXPECT_EQ(health.commits, 100);
  EXPECT_EQ(health.last_commit_ms, 100);
  EXPECT_EQ(health.max_commit_ms, 100);
  EXPECT_EQ(health.p99_commit_ms, 100);
  EXPECT_TRUE(health.writable());
  EXPECT_EQ(BlockedReason(health), "");
}

TEST_F(StoreHealthTest, FailuresKeepTheirStartAndCountUntilTheNextSuccessfulCommit) {
  StoreHealthMonitor monitor(db_);
  const absl::Status full = absl::ResourceExhaustedError("database or disk is full");
  // 15:02:11 UTC.
  monitor.RecordCommit(1, full, 1'796'223'731'000);
  monitor.RecordCommit(1, full, 1'796'223'741'000);
  StoreHealth health = monitor.Snapshot();
  EXPECT_FALSE(health.writable());
  EXPECT_EQ(health.failing_since_unix_ms, 1'796'223'731'000);
  EXPECT_EQ(health.failing_batches, 2);
  EXPECT_EQ(health.write_errors, 2);
  EXPECT_EQ(health.failure_kind, "disk full");
  EXPECT_EQ(BlockedReason(health), "store: cannot write: disk full since 15:02:11 UTC");

  monitor.RecordCommit(1, absl::OkStatus(), 1'796'223'751'000);
  health = monitor.Snapshot();
  EXPECT_TRUE(health.writable());
  EXPECT_EQ(health.failing_since_unix_ms, 0);
  EXPECT_EQ(health.failing_batches, 0);
  EXPECT_EQ(health.write_errors, 2);  // cumulative
}

TEST(StorageErrorTest, OnlyStorageCodesCount) {
  EXPECT_TRUE(IsStorageError(absl::ResourceExhaustedError("full")));
  EXPECT_TRUE(IsStorageError(absl::InternalError("disk I/O error")));
  EXPECT_FALSE(IsStorageError(absl::NotFoundError("job x")));
  EXPECT_FALSE(IsStorageError(absl::FailedPreconditionError("stale attempt")));
  EXPECT_FALSE(IsStorageError(absl::OkStatus()));
}

}  // namespace
}  // namespace sparsescale::store
