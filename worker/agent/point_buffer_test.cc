#include "worker/agent/point_buffer.h"

#include <gtest/gtest.h>

namespace sparsescale::agent {
namespace {

using std::chrono::milliseconds;

v1::LossPoint Step(int64_t step) {
  v1::LossPoint p;
  p.set_step(step);
  return p;
}

TEST(PointBufferTest, BatchesOldestFirstAndDropsOnlyAcknowledgedPoints) {
  PointBuffer buffer(3, milliseconds(100));
  PointBuffer::TimePoint t0{};
  for (int s = 1; s <= 5; ++s) {
    buffer.Add(Step(s), t0);
  }
  auto batch = buffer.NextBatch();
  ASSERT_EQ(batch.size(), 3u);
  EXPECT_EQ(batch[0].step(), 1);
  EXPECT_EQ(batch[2].step(), 3);
  // A failed send acknowledges nothing: the same batch comes again.
  EXPECT_EQ(buffer.NextBatch()[0].step(), 1);
  buffer.Ack(3);
  batch = buffer.NextBatch();
  ASSERT_EQ(batch.size(), 2u);
  EXPECT_EQ(batch[0].step(), 4);
  buffer.Ack(2);
  EXPECT_TRUE(buffer.empty());
}

TEST(PointBufferTest, DueWhenFullOrWhenTheOldestPointWaitedLongEnough) {
  PointBuffer buffer(3, milliseconds(100));
  PointBuffer::TimePoint t0{};
  EXPECT_FALSE(buffer.Due(t0));
  buffer.Add(Step(1), t0);
  EXPECT_FALSE(buffer.Due(t0 + milliseconds(99)));
  EXPECT_TRUE(buffer.Due(t0 + milliseconds(100)));
  buffer.Add(Step(2), t0);
  buffer.Add(Step(3), t0);
  EXPECT_TRUE(buffer.Due(t0));
}

}  // namespace
}  // namespace sparsescale::agent
