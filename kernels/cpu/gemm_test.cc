// Gemm: every transpose combination with leading dimensions wider than the matrices, beta
// handling, padding left untouched, determinism, and shape errors.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <ostream>
#include <string>
#include <tuple>
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

using GemmFn = std::function<void(bool, bool, int, int, int, float, const float*, int, const float*,
                                  int, float, float*, int)>;

GemmFn ViaOps(Ops& ops) {
  return [&ops](bool ta, bool tb, int M, int N, int K, float alpha, const float* A, int lda,
                const float* B, int ldb, float beta, float* C, int ldc) {
    ASSERT_TRUE(ops.Gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc).ok());
  };
}

// Runs one case with every leading dimension padded by 3 and checks the padding is untouched.
void CheckGemm(const GemmFn& gemm, const GemmCase& c, uint32_t seed) {
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
  gemm(c.trans_a, c.trans_b, c.M, c.N, c.K, c.alpha, ToFloat(A).data(), lda, ToFloat(B).data(), ldb,
       c.beta, fC.data(), ldc);
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
        CheckGemm(ViaOps(*ops_), {ta, tb, 13, 11, 7, 1.0f, beta}, seed += 3);
        CheckGemm(ViaOps(*ops_), {ta, tb, 70, 45, 130, 0.75f, beta}, seed += 3);
      }
    }
  }
}

TEST_P(GemmTest, LargeProductsMatchReference) {
  CheckGemm(ViaOps(*ops_), {false, true, 256, 96, 128, 1.0f, 0.0f}, 7);
  CheckGemm(ViaOps(*ops_), {true, false, 96, 128, 256, 1.0f, 1.0f}, 8);
  CheckGemm(ViaOps(*ops_), {false, false, 256, 128, 96, 1.0f, 1.0f}, 9);
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

// Every library behind Gemm, called directly, so the ones the dispatcher did not pick on this
// CPU are checked too (they fall back to plain loops when the build lacks them).
struct Library {
  const char* name;
  GemmFn gemm;
};

void PrintTo(const Library& library, std::ostream* os) { *os << library.name; }

class GemmLibraryTest : public ::testing::TestWithParam<Library> {};

INSTANTIATE_TEST_SUITE_P(
    Libraries, GemmLibraryTest,
    ::testing::Values(Library{"plain", cpu::GemmPlain},
                      Library{"onednn_1", [](auto... a) { cpu::GemmOneDnn(a..., 1); }},
                      Library{"onednn_2", [](auto... a) { cpu::GemmOneDnn(a..., 2); }}),
    [](const ::testing::TestParamInfo<Library>& info) { return info.param.name; });

TEST_P(GemmLibraryTest, MatchesReferenceForEveryTransposeAndBeta) {
  uint32_t seed = 500;
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      for (float beta : {0.0f, 1.0f, -0.5f}) {
        SCOPED_TRACE(::testing::Message()
                     << "trans_a=" << ta << " trans_b=" << tb << " beta=" << beta);
        CheckGemm(GetParam().gemm, {ta, tb, 19, 37, 23, 1.5f, beta}, seed += 3);
        CheckGemm(GetParam().gemm, {ta, tb, 130, 70, 300, 1.0f, beta}, seed += 3);
      }
    }
  }
}

TEST_P(GemmLibraryTest, WeightGradientWithPowerOfTwoStridesMatchesReference) {
  // Row strides of 512 and 1024 floats take oneDNN's padded-copy path for deep TN products.
  const int M = 40, N = 24, K = 300, lda = 512, ldb = 1024, ldc = N;
  const Vec A = RoundToFloat(RandomVector(static_cast<size_t>(K) * lda, 21));
  const Vec B = RoundToFloat(RandomVector(static_cast<size_t>(K) * ldb, 22));
  Vec C = RoundToFloat(RandomVector(static_cast<size_t>(M) * ldc, 23));
  FVec fC = ToFloat(C);
  reference::Gemm<double>(true, false, M, N, K, 1.0, A.data(), lda, B.data(), ldb, 1.0, C.data(),
                          ldc);
  GetParam().gemm(true, false, M, N, K, 1.0f, ToFloat(A).data(), lda, ToFloat(B).data(), ldb, 1.0f,
                  fC.data(), ldc);
  ExpectClose(fC, C, 1e-4, "C");
}

TEST_P(GemmLibraryTest, EmptyInnerDimensionScalesC) {
  FVec C = {1, 2, 3, 4};
  const FVec unused(4, 1.0f);
  GetParam().gemm(false, false, 2, 2, 0, 1.0f, unused.data(), 1, unused.data(), 2, 0.5f, C.data(),
                  2);
  EXPECT_EQ(C, (FVec{0.5f, 1, 1.5f, 2}));
}

TEST(GemmDispatchTest, NamesALibrary) {
  const std::string name = cpu::GemmLibraryName();
  EXPECT_TRUE(name == "onednn" || name == "plain") << name;
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
