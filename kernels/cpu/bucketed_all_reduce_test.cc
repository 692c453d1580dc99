// BucketedAllReducer against a recording fake communicator (no GPU needed).
#include "kernels/bucketed_all_reduce.h"

#include <gtest/gtest.h>

#include <utility>
#include <vector>

namespace sparsescale::kernels {
namespace {

// Records (offset, count) of every all-reduce relative to `base`.
class RecordingCommunicator final : public Communicator {
 public:
  explicit RecordingCommunicator(const float* base) : base_(base) {}
  int rank() const override { return 0; }
  int world_size() const override { return 2; }
  absl::Status AllReduceSum(float* x, size_t n) override {
    calls.emplace_back(static_cast<size_t>(x - base_), n);
    return absl::OkStatus();
  }
  absl::Status AllReduceSumAsync(float* x, size_t n) override {
    ++async_calls;
    return AllReduceSum(x, n);
  }
  absl::Status WaitAll() override {
    waits_after_calls.push_back(calls.size());
    return absl::OkStatus();
  }
  absl::Status Barrier() override { return absl::OkStatus(); }

  std::vector<std::pair<size_t, size_t>> calls;
  int async_calls = 0;
  std::vector<size_t> waits_after_calls;  // calls issued before each WaitAll

 private:
  const float* base_;
};

TEST(BucketedAllReducerTest, ReducesEachFullBucketAsTheBackwardProgresses) {
  std::vector<float> grads(100);
  RecordingCommunicator comm(grads.data());
  BucketedAllReducer reducer(&comm, grads.data(), grads.size(), 30);
  ASSERT_TRUE(reducer.Ready(80, 20).ok());  // 20 waiting: below the bucket
  EXPECT_TRUE(comm.calls.empty());
  ASSERT_TRUE(reducer.Ready(60, 20).ok());  // 40 waiting: one call
  ASSERT_EQ(comm.calls.size(), 1u);
  EXPECT_EQ(comm.calls[0], std::make_pair(size_t{60}, size_t{40}));
  ASSERT_TRUE(reducer.Ready(10, 50).ok());
  ASSERT_TRUE(reducer.Ready(0, 10).ok());  // 10 waiting
  ASSERT_TRUE(reducer.Finish().ok());
  ASSERT_EQ(comm.calls.size(), 3u);
  EXPECT_EQ(comm.calls[1], std::make_pair(size_t{10}, size_t{50}));
  EXPECT_EQ(comm.calls[2], std::make_pair(size_t{0}, size_t{10}));
  EXPECT_EQ(reducer.calls(), 3);
  EXPECT_EQ(comm.async_calls, 3);  // every bucket may overlap the backward
  EXPECT_EQ(comm.waits_after_calls, std::vector<size_t>{3});  // one wait, after the last
}

TEST(BucketedAllReducerTest, SlicesOutOfOrderAreInvalidArgument) {
  std::vector<float> grads(10);
  RecordingCommunicator comm(grads.data());
  BucketedAllReducer reducer(&comm, grads.data(), grads.size(), 4);
  EXPECT_TRUE(absl::IsInvalidArgument(reducer.Ready(0, 5)));  // does not end at 10
  ASSERT_TRUE(reducer.Ready(5, 5).ok());
  EXPECT_TRUE(absl::IsInvalidArgument(reducer.Ready(6, 4)));
}

TEST(BucketedAllReducerTest, FinishBeforeEverythingIsReadyIsInvalidArgument) {
  std::vector<float> grads(10);
  RecordingCommunicator comm(grads.data());
  BucketedAllReducer reducer(&comm, grads.data(), grads.size(), 100);
  ASSERT_TRUE(reducer.Ready(5, 5).ok());
  EXPECT_TRUE(absl::IsInvalidArgument(reducer.Finish()));
  reducer.Reset();
  ASSERT_TRUE(reducer.Ready(0, 10).ok());
  ASSERT_TRUE(reducer.Finish().ok());
  ASSERT_EQ(comm.calls.size(), 1u);
  EXPECT_EQ(comm.calls[0], std::make_pair(size_t{0}, size_t{10}));
}

}  // namespace
}  // namespace sparsescale::kernels
