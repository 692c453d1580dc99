#include "spec/loss_point_codec.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "spec/testing.h"

namespace sparsescale::spec {
namespace {

using sparsescale::v1::LossPoint;

using testing::FullLossPoint;

TEST(LossPointCodecTest, JsonRoundTripsExactly) {
  const LossPoint p = FullLossPoint();
  const std::string line = LossPointToJson(p);
  EXPECT_EQ(line.find('\n'), std::string::npos) << line;
  EXPECT_NE(line.find("\"train_loss\":3.141592653589793"), std::string::npos) << line;
  auto back = LossPointFromJson(line);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->SerializeAsString(), p.SerializeAsString());
}

TEST(LossPointCodecTest, JsonKeepsAnUnsetEvalLossUnsetAndNanAsNan) {
  LossPoint p;
  p.set_step(1);
  p.set_train_loss(std::numeric_limits<double>::quiet_NaN());
  const std::string line = LossPointToJson(p);
  EXPECT_NE(line.find("\"sparsity\":0"), std::string::npos) << line;  // every column present
  auto back = LossPointFromJson(line);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_FALSE(back->has_eval_loss());
  EXPECT_TRUE(std::isnan(back->train_loss()));
}

// points.jsonl files written before the codec (plain integers, "eval_loss":null) are read again
// by `sparsescale train --resume`.
TEST(LossPointCodecTest, JsonReadsTheEarlierHandWrittenLines) {
  auto old = LossPointFromJson(
      R"({"step":3,"tokens":192,"train_loss":5.25,"eval_loss":null,"sparsity":0.0,)"
      R"("lr":0.001,"nonzeros_paper":24576,"nonzeros_exact":30000,"flops_dense":1e9,)"
      R"("flops_sparse":1e9,"wall_s":0.5})");
  ASSERT_TRUE(old.ok()) << old.status();
  EXPECT_EQ(old->step(), 3);
  EXPECT_EQ(old->nonzeros_exact(), 30000);
  EXPECT_EQ(old->train_loss(), 5.25);
  EXPECT_FALSE(old->has_eval_loss());
  auto evaluated = LossPointFromJson(R"({"step":4,"eval_loss":4.5})");
  ASSERT_TRUE(evaluated.ok()) << evaluated.status();
  EXPECT_EQ(evaluated->eval_loss(), 4.5);
}

TEST(LossPointCodecTest, JsonRejectsWhatIsNotAPoint) {
  EXPECT_EQ(LossPointFromJson("hello").status().code(), absl::StatusCode::kInvalidArgument);
  auto unknown = LossPointFromJson(R"({"step":1,"stpe":2})");
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(unknown.status().message().find("stpe"), std::string::npos) << unknown.status();
  EXPECT_FALSE(LossPointFromJson(R"({"step":"twelve"})").ok());
}

TEST(LossPointCodecTest, CsvFollowsTheProtoFields) {
  EXPECT_EQ(LossPointCsvHeader(),
            "step,tokens,train_loss,eval_loss,sparsity,lr,nonzeros_paper,nonzeros_exact,"
            "flops_dense,flops_sparse,wall_s");
  EXPECT_EQ(LossPointCsvRow(FullLossPoint()),
            "12,1536,3.1415926535897931,0.30000000000000004,0.875,0.00012345678901234567,98304,"
            "123457,1500000000000000,725000000000000,12.5");
  LossPoint no_eval;
  no_eval.set_step(2);
  EXPECT_EQ(LossPointCsvRow(no_eval), "2,0,0,,0,0,0,0,0,0,0");
}

}  // namespace
}  // namespace sparsescale::spec
