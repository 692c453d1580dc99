#include "worker/agent/job_events.h"

#include <gtest/gtest.h>

#include <cmath>

#include "spec/testing.h"

namespace sparsescale::agent {
namespace {

TEST(JobEventsTest, PointRoundTripsExactly) {
  const v1::LossPoint p = spec::testing::FullLossPoint();
  auto e = ParseChildEvent(EncodePoint(p));
  ASSERT_TRUE(e.ok()) << e.status();
  ASSERT_TRUE(e->has_point());
  EXPECT_EQ(e->point().SerializeAsString(), p.SerializeAsString());
}

TEST(JobEventsTest, PointWithoutEvalLossHasNoEvalLoss) {
  v1::LossPoint p;
  p.set_step(1);
  auto e = ParseChildEvent(EncodePoint(p));
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_FALSE(e->point().has_eval_loss());
}

TEST(JobEventsTest, NonFiniteLossTravelsAsNan) {
  v1::LossPoint p;
  p.set_train_loss(std::nan(""));
  auto e = ParseChildEvent(EncodePoint(p));
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_TRUE(std::isnan(e->point().train_loss()));
}

TEST(JobEventsTest, EveryEventIsOneLine) {
  const std::string line = EncodeCheckpoint(5, "/tmp/a\nb/ckpt-5.safetensors");
  EXPECT_EQ(line.find('\n'), std::string::npos) << line;
  auto c = ParseChildEvent(line);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->checkpoint().path(), "/tmp/a\nb/ckpt-5.safetensors");
}

TEST(JobEventsTest, CheckpointProgressDoneStoppedAndErrorRoundTrip) {
  auto c = ParseChildEvent(EncodeCheckpoint(50, "/tmp/a b/ckpt-50.safetensors"));
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_TRUE(c->has_checkpoint());
  EXPECT_EQ(c->checkpoint().step(), 50);
  EXPECT_EQ(c->checkpoint().path(), "/tmp/a b/ckpt-50.safetensors");

  v1::JobProgress progress;
  progress.set_step(7);
  progress.set_total_steps(100);
  progress.set_eta_s(9.5);
  auto g = ParseChildEvent(EncodeProgress(progress));
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->progress().total_steps(), 100);
  EXPECT_DOUBLE_EQ(g->progress().eta_s(), 9.5);

  v1::JobSummary s;
  s.set_steps(100);
  s.set_final_train_loss(2.0);
  s.set_final_eval_loss(2.25);
  s.set_nonzeros_exact(42);
  auto d = ParseChildEvent(EncodeDone(s));
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_TRUE(d->has_done());
  EXPECT_EQ(d->done().final_eval_loss(), 2.25);
  EXPECT_EQ(d->done().nonzeros_exact(), 42);

  auto st = ParseChildEvent(EncodeStopped(57));
  ASSERT_TRUE(st.ok()) << st.status();
  ASSERT_TRUE(st->has_stopped());
  EXPECT_EQ(st->stopped().step(), 57);

  auto err = ParseChildEvent(EncodeError(absl::InvalidArgumentError("model.width: bad")));
  ASSERT_TRUE(err.ok()) << err.status();
  const absl::Status error = EventError(err->error());
  EXPECT_EQ(error.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(error.message(), "model.width: bad");
}

TEST(JobEventsTest, AnErrorWithAnUnknownCodeIsStillAnError) {
  v1::JobError error;
  error.set_code(0);
  error.set_message("no code");
  EXPECT_EQ(EventError(error).code(), absl::StatusCode::kUnknown);
  error.set_code(99);
  EXPECT_EQ(EventError(error).code(), absl::StatusCode::kUnknown);
}

TEST(JobEventsTest, BadLinesNameTheProblem) {
  const absl::Status text = ParseChildEvent("hello").status();
  EXPECT_EQ(text.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(text.message().find("not a JSON object"), std::string::npos) << text;
  const absl::Status unknown = ParseChildEvent(R"({"boom":{}})").status();
  EXPECT_NE(unknown.message().find("boom"), std::string::npos) << unknown;
  const absl::Status mistyped = ParseChildEvent(R"({"stopped":{"step":"seven"}})").status();
  EXPECT_EQ(mistyped.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(mistyped.message().find("step"), std::string::npos) << mistyped;
  const absl::Status empty = ParseChildEvent("{}").status();
  EXPECT_NE(empty.message().find("no event"), std::string::npos) << empty;
  EXPECT_EQ(ParseChildEvent("[1,2]").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace sparsescale::agent
