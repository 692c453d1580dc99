#include "worker/agent/job_events.h"

#include <gtest/gtest.h>

#include <cmath>

namespace sparsescale::agent {
namespace {

TEST(JobEventsTest, PointRoundTripsExactly) {
  v1::LossPoint p;
  p.set_step(12);
  p.set_tokens(1536);
  p.set_train_loss(3.141592653589793);
  p.set_eval_loss(0.1 + 0.2);
  p.set_sparsity(0.875);
  p.set_lr(1.2345678901234567e-4);
  p.set_nonzeros_paper(98304);
  p.set_nonzeros_exact(123457);
  p.set_flops_dense(1.5e15);
  p.set_flops_sparse(7.25e14);
  p.set_wall_s(12.5);
  auto e = ParseChildEvent(EncodePoint(p));
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->kind, ChildEvent::Kind::kPoint);
  EXPECT_EQ(e->point.SerializeAsString(), p.SerializeAsString());
}

TEST(JobEventsTest, PointWithoutEvalLossHasNoEvalLoss) {
  v1::LossPoint p;
  p.set_step(1);
  auto e = ParseChildEvent(EncodePoint(p));
  ASSERT_TRUE(e.ok());
  EXPECT_FALSE(e->point.has_eval_loss());
}

TEST(JobEventsTest, NonFiniteLossTravelsAsNullAndReadsAsNan) {
  v1::LossPoint p;
  p.set_train_loss(std::nan(""));
  std::string line = EncodePoint(p);
  EXPECT_NE(line.find("\"train_loss\":null"), std::string::npos);
  auto e = ParseChildEvent(line);
  ASSERT_TRUE(e.ok());
  EXPECT_TRUE(std::isnan(e->point.train_loss()));
}

TEST(JobEventsTest, CheckpointProgressDoneStoppedAndErrorRoundTrip) {
  auto c = ParseChildEvent(EncodeCheckpoint(50, "/tmp/a b/ckpt-50.safetensors"));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->kind, ChildEvent::Kind::kCheckpoint);
  EXPECT_EQ(c->step, 50);
  EXPECT_EQ(c->path, "/tmp/a b/ckpt-50.safetensors");

  auto g = ParseChildEvent(EncodeProgress({7, 100, 700, 2.5, 1000.0, 9.5}));
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->progress.total_steps, 100);
  EXPECT_DOUBLE_EQ(g->progress.eta_s, 9.5);

  JobSummary s;
  s.steps = 100;
  s.final_train_loss = 2.0;
  s.final_eval_loss = 2.25;
  s.nonzeros_exact = 42;
  auto d = ParseChildEvent(EncodeDone(s));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->kind, ChildEvent::Kind::kDone);
  EXPECT_EQ(d->summary.final_eval_loss, 2.25);
  EXPECT_EQ(d->summary.nonzeros_exact, 42);

  auto st = ParseChildEvent(EncodeStopped(57));
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->kind, ChildEvent::Kind::kStopped);
  EXPECT_EQ(st->step, 57);

  auto err = ParseChildEvent(EncodeError(absl::InvalidArgumentError("model.width: bad")));
  ASSERT_TRUE(err.ok());
  EXPECT_EQ(err->error.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(err->error.message(), "model.width: bad");
}

TEST(JobEventsTest, BadLinesNameTheProblem) {
  EXPECT_NE(ParseChildEvent("hello").status().message().find("not a JSON object"),
            std::string::npos);
  EXPECT_NE(ParseChildEvent(R"({"event":"boom"})").status().message().find("unknown event"),
            std::string::npos);
  EXPECT_NE(
      ParseChildEvent(R"({"event":"checkpoint","path":"x"})").status().message().find("\"step\""),
      std::string::npos);
  EXPECT_NE(ParseChildEvent(R"({"event":"stopped","step":"7"})")
                .status()
                .message()
                .find("must be an integer"),
            std::string::npos);
  EXPECT_EQ(ParseChildEvent("[1,2]").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace sparsescale::agent
