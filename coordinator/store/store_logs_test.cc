// Store: job logs (append by offset, idempotent retries, the per-attempt bound, tails).
#include <stdlib.h>

#include <filesystem>
#include <string>

#include "coordinator/store/store.h"
#include "coordinator/store/store_testing.h"
#include "gtest/gtest.h"

namespace sparsescale::store {
namespace {

class StoreLogsTest : public testing::OpenStoreTest {
 protected:
  void SetUp() override {
    OpenStoreTest::SetUp();
    if (HasFatalFailure()) return;
    JobRow job;
    job.id = "j";
    job.spec = "spec";
    job.total_steps = 10;
    job.device = "cpu";
    ASSERT_TRUE(store_->InsertJobIfAbsent(&job).ok());
  }
  // Everything stored of attempt `attempt`, concatenated.
  std::string All(int attempt) {
    auto rows = store_->ReadLog("j", attempt, 0, 1 << 30);
    EXPECT_TRUE(rows.ok()) << rows.status();
    std::string all;
    for (const LogChunkRow& row : *rows) {
      all += row.data;
    }
    return all;
  }
};

TEST_F(StoreLogsTest, ChunksAppendInOrderPerAttempt) {
  EXPECT_EQ(*store_->AppendLog("j", 1, 0, "hello ", 1024), 6);
  EXPECT_EQ(*store_->AppendLog("j", 1, 6, "world\n", 1024), 12);
  EXPECT_EQ(*store_->AppendLog("j", 2, 0, "second\n", 1024), 7);
  EXPECT_EQ(All(1), "hello world\n");
  EXPECT_EQ(All(2), "second\n");
  const LogExtent extent = *store_->ReadLogExtent("j", 1);
  EXPECT_EQ(extent.first, 0);
  EXPECT_EQ(extent.end, 12);
  EXPECT_EQ(extent.dropped_bytes(), 0);
}

TEST_F(StoreLogsTest, RetriedChunkIsStoredOnce) {
  ASSERT_TRUE(store_->AppendLog("j", 1, 0, "abc", 1024).ok());
  EXPECT_EQ(*store_->AppendLog("j", 1, 0, "abc", 1024), 3);
  // A retry re-batched with new bytes after the stored ones adds only the new bytes.
  EXPECT_EQ(*store_->AppendLog("j", 1, 1, "bcdef", 1024), 6);
  EXPECT_EQ(All(1), "abcdef");
  EXPECT_EQ(store_->ReadLogExtent("j", 1)->stored_bytes, 6);
}

TEST_F(StoreLogsTest, PastTheBoundOnlyTheNewestBytesAreKeptAndTheRestCountsAsDropped) {
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(store_->AppendLog("j", 1, i * 4, "abc" + std::to_string(i), 10).ok());
  }
  EXPECT_EQ(All(1), "c7abc8abc9");
  EXPECT_EQ(All(1).size(), 10u);  // exactly the bound
  const LogExtent extent = *store_->ReadLogExtent("j", 1);
  EXPECT_EQ(extent.end, 40);
  EXPECT_EQ(extent.stored_bytes, 10);
  EXPECT_EQ(extent.dropped_bytes(), 30);
}

TEST_F(StoreLogsTest, AGapBeforeAChunkCountsAsDroppedOutput) {
  ASSERT_TRUE(store_->AppendLog("j", 1, 0, "head", 1024).ok());
  ASSERT_TRUE(store_->AppendLog("j", 1, 100, "tail", 1024).ok());
  EXPECT_EQ(All(1), "headtail");
  EXPECT_EQ(store_->ReadLogExtent("j", 1)->dropped_bytes(), 96);
}

TEST_F(StoreLogsTest, ReadingFromAnOffsetInsideAChunkStartsThere) {
  ASSERT_TRUE(store_->AppendLog("j", 1, 0, "0123456789", 1024).ok());
  auto rows = store_->ReadLog("j", 1, 4, 1024);
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].offset, 4);
  EXPECT_EQ((*rows)[0].data, "456789");
}

TEST_F(StoreLogsTest, TailSpansChunks) {
  ASSERT_TRUE(store_->AppendLog("j", 1, 0, "line one\n", 1024).ok());
  ASSERT_TRUE(store_->AppendLog("j", 1, 9, "line two\n", 1024).ok());
  EXPECT_EQ(*store_->ReadLogTail("j", 1, 12), "ne\nline two\n");
  EXPECT_EQ(*store_->ReadLogTail("j", 3, 12), "");
}

TEST_F(StoreLogsTest, UnknownJobIsNotFound) {
  EXPECT_TRUE(absl::IsNotFound(store_->AppendLog("nope", 1, 0, "x", 10).status()));
  EXPECT_TRUE(absl::IsNotFound(store_->ReadLog("nope", 1, 0, 10).status()));
}

TEST_F(StoreLogsTest, AttemptEndedFollowsTheAttemptsTable) {
  EXPECT_FALSE(store_->AttemptEnded("j", 1)->has_value());
  ASSERT_TRUE(
      store_->RecordGrant({.job_id = "j", .attempt = 1, .worker_id = "w", .resume_step = 0}, 5)
          .ok());
  EXPECT_EQ(*store_->AttemptEnded("j", 1), std::optional<bool>(false));
  AttemptEndRecord end;
  end.job_id = "j";
  end.attempt = 1;
  end.state = JobState::kFailed;
  end.outcome = JobState::kFailed;
  ASSERT_TRUE(store_->RecordAttemptEnd(end, 6).ok());
  EXPECT_EQ(*store_->AttemptEnded("j", 1), std::optional<bool>(true));
}

}  // namespace
}  // namespace sparsescale::store
