// Every layer op refuses null buffers and bad shapes with InvalidArgument naming the argument.
#include <gtest/gtest.h>

#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "kernels/ops.h"

namespace sparsescale::kernels {
namespace {

void ExpectInvalid(const absl::Status& s, const std::string& op, const std::string& arg) {
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << op << " " << arg << ": " << s;
  EXPECT_NE(s.message().find(op + ": " + arg + ":"), std::string::npos) << s;
}

class ValidationTest : public ::testing::Test {
 protected:
  std::unique_ptr<Ops> ops_ = MakeCpuOps(1);
  std::vector<float> buf_ = std::vector<float>(4096, 0.5f);
  float* f_ = buf_.data();
  std::vector<int32_t> tokens_ = std::vector<int32_t>(64, 0);
};

TEST_F(ValidationTest, LayerOpsRejectBadShapesAndNulls) {
  ExpectInvalid(ops_->MatmulForward(f_, f_, nullptr, nullptr, 2, 2, 2), "MatmulForward", "weight");
  ExpectInvalid(ops_->MatmulForward(f_, f_, f_, nullptr, 0, 2, 2), "MatmulForward", "BT");
  ExpectInvalid(ops_->MatmulBackward(f_, nullptr, f_, f_, f_, f_, 2, 2, 2), "MatmulBackward",
                "dweight");
  ExpectInvalid(ops_->MatmulBackward(f_, f_, f_, f_, f_, nullptr, 2, 2, 2), "MatmulBackward",
                "weight");
  ExpectInvalid(ops_->MatmulBackward(f_, f_, f_, f_, f_, f_, 2, 2, -1), "MatmulBackward", "OC");
  ExpectInvalid(ops_->LayerNormForward(f_, f_, f_, f_, f_, f_, 2, 0, 1e-5f), "LayerNormForward",
                "C");
  ExpectInvalid(ops_->LayerNormForward(f_, f_, f_, f_, f_, f_, 2, 2, -1.0f), "LayerNormForward",
                "eps");
  ExpectInvalid(ops_->LayerNormBackward(f_, f_, f_, f_, f_, f_, nullptr, f_, 2, 2),
                "LayerNormBackward", "mean");
  ExpectInvalid(ops_->GeluForward(nullptr, f_, 3), "GeluForward", "out");
  ExpectInvalid(ops_->GeluBackward(f_, f_, nullptr, 3), "GeluBackward", "dout");
  ExpectInvalid(ops_->ResidualForward(f_, nullptr, f_, 3), "ResidualForward", "a");
  ExpectInvalid(ops_->Accumulate(f_, nullptr, 3), "Accumulate", "x");
  ExpectInvalid(ops_->Fill(nullptr, 1.0f, 3), "Fill", "x");
  EXPECT_TRUE(ops_->Fill(nullptr, 1.0f, 0).ok());
}

TEST_F(ValidationTest, EncoderAndCrossEntropyRejectOutOfRangeTokens) {
  tokens_[5] = 7;
  ExpectInvalid(ops_->EncoderForward(f_, tokens_.data(), f_, f_, 2, 4, 3, 7), "EncoderForward",
                "tokens");
  tokens_[5] = -1;
  ExpectInvalid(ops_->EncoderBackward(f_, f_, f_, tokens_.data(), 2, 4, 3), "EncoderBackward",
                "tokens");
  ExpectInvalid(ops_->EncoderForward(f_, tokens_.data(), f_, f_, 2, 4, 3, 0), "EncoderForward",
                "V");
  tokens_[5] = 9;
  ExpectInvalid(ops_->CrossEntropyForwardBackward(f_, f_, f_, tokens_.data(), 8, 9, 10, 1.0f),
                "CrossEntropyForwardBackward", "targets");
  ExpectInvalid(ops_->CrossEntropyForwardBackward(f_, f_, f_, tokens_.data(), 8, 9, 8, 1.0f),
                "CrossEntropyForwardBackward", "Vp");
  ExpectInvalid(ops_->CrossEntropyForwardBackward(nullptr, f_, f_, tokens_.data(), 8, 9, 9, 1.0f),
                "CrossEntropyForwardBackward", "losses");
}

TEST_F(ValidationTest, AttentionRejectsBadShapes) {
  ExpectInvalid(ops_->AttentionForward(f_, f_, f_, AttentionShape{1, 4, 0, 2}), "AttentionForward",
                "shape.NH");
  ExpectInvalid(ops_->AttentionForward(f_, nullptr, f_, AttentionShape{1, 4, 1, 2}),
                "AttentionForward", "att");
  ExpectInvalid(ops_->AttentionBackward(f_, f_, f_, f_, f_, f_, AttentionShape{1, 0, 1, 2}),
                "AttentionBackward", "shape.T");
  ExpectInvalid(ops_->AttentionBackward(f_, nullptr, f_, f_, f_, f_, AttentionShape{1, 4, 1, 2}),
                "AttentionBackward", "datt_scratch");
  ExpectInvalid(ops_->AttentionBackward(f_, f_, f_, f_, nullptr, f_, AttentionShape{1, 4, 1, 2}),
                "AttentionBackward", "out");
}

TEST_F(ValidationTest, OptimiserOpsRejectBadParameters) {
  AdamWParams p;
  p.lr = 1e-3f;
  p.step = 0;
  ExpectInvalid(ops_->AdamW(f_, f_, f_, f_, nullptr, 4, p), "AdamW", "p.step");
  p.step = 1;
  p.beta2 = 1.0f;
  ExpectInvalid(ops_->AdamW(f_, f_, f_, f_, nullptr, 4, p), "AdamW", "p.beta2");
  p.beta2 = 0.95f;
  p.lr = std::numeric_limits<float>::quiet_NaN();
  ExpectInvalid(ops_->AdamW(f_, f_, f_, f_, nullptr, 4, p), "AdamW", "p");
  ExpectInvalid(ops_->SumSquares(nullptr, f_, 4), "SumSquares", "accum_device");
  ExpectInvalid(ops_->ApplyMask(f_, nullptr, 4), "ApplyMask", "mask");
  ExpectInvalid(ops_->CountNonZero(nullptr, f_, 4), "CountNonZero", "count");
  ExpectInvalid(ops_->CopyToHost(nullptr, f_, 4), "CopyToHost", "host_dst");
}

}  // namespace
}  // namespace sparsescale::kernels
