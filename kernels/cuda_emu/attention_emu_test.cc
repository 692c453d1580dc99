// Both CUDA attentions, run on the host through the CUDA emulator with their real launch
// sequences, against the CPU backend: their tiling, causal masking, padding rows, barriers and
// shared-memory layout are checked here on every machine; on a GPU,
// kernels/cuda/cuda_ops_test.cc checks the same kernels on the hardware with the same
// tolerances. Tensor cores (attention_tc_kernels.cuh): 1e-2 of each output's largest magnitude
// (bf16 operands, fp32 softmax and sums; see that test for how it was set). fp32
// (attention_kernels.cuh): 1e-4 of each element or a tenth of the largest magnitude.
#include "kernels/cuda_emu/cuda_emu.h"

// The device code, compiled for the emulator (CMake gives this file -Wno-unknown-pragmas:
// nvcc's `#pragma unroll` means nothing to GCC, and GCC 12 ignores diagnostic pragmas for it).
#include "kernels/cuda/attention_kernels.cuh"
#include "kernels/cuda/attention_tc_kernels.cuh"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "common/status.h"
#include "kernels/cuda/parity_checks.h"
#include "kernels/ops.h"

namespace sparsescale::kernels::cuda_emu {
namespace {

namespace tc = ::sparsescale::kernels::cuda::attention_tc;
namespace fp32 = ::sparsescale::kernels::cuda::attention_fp32;
using ::sparsescale::kernels::cuda::KernelLauncher;

using ::sparsescale::kernels::cuda::testing::ExpectCloseWithFloor;
using ::sparsescale::kernels::cuda::testing::QkvGradientPart;
using ::sparsescale::kernels::cuda::testing::RandomFloats;

// Normwise (tensor cores: floor 1) or per element with a floor of a tenth (fp32).
int Failures(const std::vector<float>& got, const std::vector<float>& want, double rtol,
             bool normwise, const std::string& what) {
  return ExpectCloseWithFloor(got, want, rtol, normwise ? 1.0 : 0.1, what);
}

struct Case {
  int B, T, NH, HS;
};

// Forward then backward of one kernel family; `fp32` picks attention_kernels.cuh.
template <int kD>
absl::Status RunTc(const AttentionShape& s, std::vector<float>& out, std::vector<float>& lse,
                   std::vector<float>& dqkv, std::vector<float>& dsum,
                   const std::vector<float>& qkv, const std::vector<float>& dout) {
  RETURN_IF_ERROR(tc::RunForward<kD>(KernelLauncher{}, out.data(), lse.data(), qkv.data(), s));
  return tc::RunBackward<kD>(KernelLauncher{}, dqkv.data(), dsum.data(), dout.data(), qkv.data(),
                             out.data(), lse.data(), s);
}

template <int kD>
absl::Status RunFp32(const AttentionShape& s, std::vector<float>& out, std::vector<float>& lse,
                     std::vector<float>& dqkv, std::vector<float>& dsum,
                     const std::vector<float>& qkv, const std::vector<float>& dout) {
  RETURN_IF_ERROR(fp32::RunForward<kD>(KernelLauncher{}, out.data(), lse.data(), qkv.data(), s));
  return fp32::RunBackward<kD>(KernelLauncher{}, dqkv.data(), dsum.data(), dout.data(),
                               qkv.data(), out.data(), lse.data(), s);
}

// Runs one kernel family on the case and compares out, lse, dq, dk, dv with the CPU backend;
// `normwise`: every error within rtol x the output's largest magnitude, else within rtol x
// max(|element|, a tenth of the largest magnitude).
void CheckAgainstCpu(const Case& c, bool use_fp32, double rtol, bool normwise) {
  const AttentionShape s{c.B, c.T, c.NH, c.HS};
  const size_t C = size_t(s.NH) * s.HS;
  const size_t n_qkv = size_t(s.B) * s.T * 3 * C, n_out = size_t(s.B) * s.T * C;
  const size_t n_rows = size_t(s.B) * s.NH * s.T;
  const auto qkv = RandomFloats(n_qkv, 80, -2.0f, 2.0f), dout = RandomFloats(n_out, 81);
  const auto start = RandomFloats(n_qkv, 82);  // dqkv accumulates onto it

  std::unique_ptr<Ops> cpu = MakeCpuOps(1);
  std::vector<float> want_out(n_out), want_dqkv = start;
  std::vector<float> att(n_rows * s.T), datt(n_rows * s.T);
  ASSERT_TRUE(cpu->AttentionForward(want_out.data(), att.data(), qkv.data(), s).ok());
  ASSERT_TRUE(cpu->AttentionBackward(want_dqkv.data(), datt.data(), dout.data(), qkv.data(),
                                     want_out.data(), att.data(), s)
                  .ok());

  std::vector<float> out(n_out, NAN), lse(n_rows, NAN), dsum(n_rows, NAN), dqkv = start;
  absl::Status st;
  if (use_fp32) {  // columns per lane as attention.cu picks them
    st = c.HS <= 32   ? RunFp32<1>(s, out, lse, dqkv, dsum, qkv, dout)
         : c.HS <= 64 ? RunFp32<2>(s, out, lse, dqkv, dsum, qkv, dout)
                      : RunFp32<4>(s, out, lse, dqkv, dsum, qkv, dout);
  } else {
    st = c.HS == 16   ? RunTc<16>(s, out, lse, dqkv, dsum, qkv, dout)
         : c.HS == 32 ? RunTc<32>(s, out, lse, dqkv, dsum, qkv, dout)
         : c.HS == 64 ? RunTc<64>(s, out, lse, dqkv, dsum, qkv, dout)
                      : RunTc<128>(s, out, lse, dqkv, dsum, qkv, dout);
  }
  ASSERT_TRUE(st.ok()) << st;

  EXPECT_EQ(Failures(out, want_out, rtol, normwise, "out"), 0);
  // The logsumexp of each row's scaled scores, in double.
  std::vector<float> want_lse(n_rows);
  for (size_t bh = 0; bh < size_t(s.B) * s.NH; ++bh) {
    const size_t b = bh / s.NH, h = bh % s.NH;
    for (int t = 0; t < s.T; ++t) {
      std::vector<double> scores(static_cast<size_t>(t) + 1);
      for (int j = 0; j <= t; ++j) {
        double dot = 0;
        for (int k = 0; k < s.HS; ++k) {
          dot += double{qkv[(b * s.T + t) * 3 * C + h * s.HS + k]} *
                 double{qkv[(b * s.T + j) * 3 * C + C + h * s.HS + k]};
        }
        scores[static_cast<size_t>(j)] = dot / std::sqrt(double(s.HS));
      }
      const double top = *std::max_element(scores.begin(), scores.end());
      double sum = 0;
      for (double x : scores) {
        sum += std::exp(x - top);
      }
      want_lse[bh * s.T + t] = static_cast<float>(top + std::log(sum));
    }
  }
  EXPECT_EQ(Failures(lse, want_lse, rtol, normwise, "lse"), 0);
  // dq, dk, dv: what was added to `start`, each third against its own scale.
  const size_t rows = size_t(s.B) * s.T;
  for (int part = 0; part < 3; ++part) {
    EXPECT_EQ(Failures(QkvGradientPart(dqkv, start, part, rows, C),
                       QkvGradientPart(want_dqkv, start, part, rows, C), rtol, normwise,
                       std::string("d") + "qkv"[part]),
              0);
  }
}

std::string CaseName(const ::testing::TestParamInfo<Case>& info) {
  const Case& c = info.param;
  return "B" + std::to_string(c.B) + "_T" + std::to_string(c.T) + "_NH" + std::to_string(c.NH) +
         "_HS" + std::to_string(c.HS);
}

class AttentionTcEmuTest : public ::testing::TestWithParam<Case> {};

TEST_P(AttentionTcEmuTest, ForwardAndBackwardMatchTheCpuBackend) {
  CheckAgainstCpu(GetParam(), /*use_fp32=*/false, 1e-2, /*normwise=*/true);
}

// T not a multiple of the 64-row tiles, one shorter than a tile, one exactly two tiles; every
// head size the kernels are built for.
INSTANTIATE_TEST_SUITE_P(Shapes, AttentionTcEmuTest,
                         ::testing::Values(Case{2, 70, 1, 16}, Case{1, 130, 2, 32},
                                           Case{1, 130, 2, 64}, Case{1, 40, 1, 64},
                                           Case{1, 128, 1, 64}, Case{1, 100, 1, 128}),
                         CaseName);

class AttentionFp32EmuTest : public ::testing::TestWithParam<Case> {};

TEST_P(AttentionFp32EmuTest, ForwardAndBackwardMatchTheCpuBackend) {
  CheckAgainstCpu(GetParam(), /*use_fp32=*/true, 1e-4, /*normwise=*/false);
}

// T not a multiple of the 32-row tiles; 1, 2 and 4 columns per lane, with head sizes that leave
// lanes idle (48, 100).
INSTANTIATE_TEST_SUITE_P(Shapes, AttentionFp32EmuTest,
                         ::testing::Values(Case{2, 70, 1, 16}, Case{1, 45, 2, 48},
                                           Case{1, 33, 1, 64}, Case{1, 40, 1, 100}),
                         CaseName);

}  // namespace
}  // namespace sparsescale::kernels::cuda_emu
