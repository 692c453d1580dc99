// Gemm: every transpose combination with leading dimensions wider than the matrices, beta
// handling, padding left untouched, determinism, and shape errors.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <memory>
#include <vector>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/reference.h"
#include "kernels/cpu/test_util.h"
#include "kernels/ops.h"

namespace sparsescale::kernels {
namespace {

using testing::ExpectClose;
using testing::RandomVector;
using testing::RoundToFloat;
using testing::ToFloat;
using Vec = std::vector<double>;
using FVec = std::vector<float>;

struct GemmCase {
  bool trans_a;
  bool trans_b;
  int M, N, K;
  float alpha, beta;
};

// Runs one case with every leading dimension padded by 3 and checks the padding is untouched.
void CheckGemm(Ops& ops, const GemmCase& c, uint32_t seed) {
  const int a_rows = c.trans_a ? c.K : c.M, a_cols = c.trans_a ? c.M : c.K;
  const int b_rows = c.trans_b ? c.N : c.K, b_cols = c.trans_b ? c.K : c.N;
  const int lda = a_cols + 3, ldb = b_cols + 3, ldc = c.N + 3;
  const Vec A = RoundToFloat(RandomVector(static_cast<size_t>(a_rows) * lda, seed));
  const Vec B = RoundToFloat(RandomVector(static_cast<size_t>(b_rows) * ldb, seed + 1));
  Vec C = RoundToFloat(RandomVector(static_cast<size_t>(c.M) * ldc, seed + 2));
  FVec fC = ToFloat(C);
  if (c.beta == 0.0f) {
    for (int i = 0; i < c.M; ++i) {
      for (int j = 0; j < c.N; ++j) {
        fC[static_cast<size_t>(i) * ldc + j] = std::numeric_limits<float>::quiet_NaN();
      }
    }
  }
  reference::Gemm<double>(c.trans_a, c.trans_b, c.M, c.N, c.K, c.alpha, A.data(), lda, B.data(),
                          ldb, c.beta, C.data(), ldc);
  ASSERT_TRUE(ops.Gemm(c.trans_a, c.trans_b, c.M, c.N, c.K, c.alpha, ToFloat(A).data(), lda,
                       ToFloat(B).data(), ldb, c.beta, fC.data(), ldc)
                  .ok());
  ExpectClose(fC, C, 1e-4, "C");  // the padding columns compare exactly (untouched).
}

class GemmTest : public ::testing::TestWithParam<int> {
 protected:
  std::unique_ptr<Ops> ops_ = MakeCpuOps(GetParam());
};

INSTANTIATE_TEST_SUITE_P(Threads, GemmTest, ::testing::Values(1, 2));

TEST_P(GemmTest, AllTransposeCombinationsWithWideLeadingDimensions) {
  uint32_t seed = 100;
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      for (float beta : {0.0f, 1.0f, -0.5f}) {
        SCOPED_TRACE(::testing::Message()
                     << "trans_a=" << ta << " trans_b=" << tb << " beta=" << beta);
        CheckGemm(*ops_, {ta, tb, 13, 11, 7, 1.0f, beta}, seed += 3);
        CheckGemm(*ops_, {ta, tb, 70, 45, 130, 0.75f, beta}, seed += 3);
      }
    }
  }
}

TEST_P(GemmTest, LargeProductsMatchReference) {
  CheckGemm(*ops_, {false, true, 256, 96, 128, 1.0f, 0.0f}, 7);
  CheckGemm(*ops_, {true, false, 96, 128, 256, 1.0f, 1.0f}, 8);
  CheckGemm(*ops_, {false, false, 256, 128, 96, 1.0f, 1.0f}, 9);
}

TEST_P(GemmTest, EmptyInnerDimensionScalesC) {
  FVec C = {1, 2, 3, 4};
  ASSERT_TRUE(
      ops_->Gemm(false, false, 2, 2, 0, 1.0f, nullptr, 1, nullptr, 2, 0.5f, C.data(), 2).ok());
  EXPECT_EQ(C, (FVec{0.5f, 1, 1.5f, 2}));
}

TEST_P(GemmTest, RepeatedCallsAreBitwiseIdentical) {
  const int M = 200, N = 150, K = 300;
  const FVec A = ToFloat(RandomVector(M * K, 1)), B = ToFloat(RandomVector(K * N, 2));
  FVec first(M * N), second(M * N);
  ASSERT_TRUE(
      ops_->Gemm(false, false, M, N, K, 1, A.data(), K, B.data(), N, 0, first.data(), N).ok());
  ASSERT_TRUE(
      ops_->Gemm(false, false, M, N, K, 1, A.data(), K, B.data(), N, 0, second.data(), N).ok());
  EXPECT_EQ(first, second);
}

TEST(GemmPlainTest, MatchesReference) {
  const int M = 9, N = 10, K = 11;
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      const Vec A = RoundToFloat(RandomVector(M * K, 1)), B = RoundToFloat(RandomVector(K * N, 2));
      Vec C(M * N, 1.0);
      FVec fC(M * N, 1.0f);
      const int lda = ta ? M : K, ldb = tb ? K : N;
      reference::Gemm<double>(ta, tb, M, N, K, 2.0, A.data(), lda, B.data(), ldb, 0.5, C.data(), N);
      cpu::GemmPlain(ta, tb, M, N, K, 2.0f, ToFloat(A).data(), lda, ToFloat(B).data(), ldb, 0.5f,
                     fC.data(), N);
      ExpectClose(fC, C, 1e-5, "C");
    }
  }
}

TEST(GemmShapeTest, BadShapesAreInvalidArgumentNamingTheArgument) {
  auto ops = MakeCpuOps(1);
  FVec buf(64);
  const float* p = buf.data();
  struct Bad {
    absl::Status status;
    const char* arg;
  };
  const Bad cases[] = {
      {ops->Gemm(false, false, -1, 2, 2, 1, p, 2, p, 2, 0, buf.data(), 2), "M"},
      {ops->Gemm(false, false, 2, 2, 3, 1, p, 2, p, 2, 0, buf.data(), 2), "lda"},
      {ops->Gemm(true, false, 4, 2, 3, 1, p, 3, p, 2, 0, buf.data(), 2), "lda"},
      {ops->Gemm(false, true, 2, 4, 3, 1, p, 3, p, 2, 0, buf.data(), 4), "ldb"},
      {ops->Gemm(false, false, 2, 4, 3, 1, p, 3, p, 4, 0, buf.data(), 3), "ldc"},
      {ops->Gemm(false, false, 2, 2, 2, 1, nullptr, 2, p, 2, 0, buf.data(), 2), "A"},
      {ops->Gemm(false, false, 2, 2, 2, 1, p, 2, p, 2, 0, nullptr, 2), "C"},
  };
  for (const Bad& b : cases) {
    EXPECT_EQ(b.status.code(), absl::StatusCode::kInvalidArgument) << b.arg;
    EXPECT_NE(b.status.message().find(std::string("Gemm: ") + b.arg + ":"), std::string::npos)
        << b.status;
  }
}

}  // namespace
}  // namespace sparsescale::kernels
