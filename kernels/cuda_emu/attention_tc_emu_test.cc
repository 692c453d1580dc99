// The tensor-core attention kernels (kernels/cuda/attention_tc_kernels.cuh), run on the host
// through the CUDA emulator, against the CPU backend: their tiling, causal masking, padding rows,
// barriers and shared-memory layout are checked here on every machine; on a GPU,
// kernels/cuda/cuda_ops_test.cc checks the same kernels on the hardware with the same
// tolerance. Tolerance 1e-2 of each output's largest magnitude (bf16 operands, fp32 softmax and
// sums; see that test for how it was set).
#include "kernels/cuda_emu/cuda_emu.h"

// The device code, compiled for the emulator (CMake gives this file -Wno-unknown-pragmas:
// nvcc's `#pragma unroll` means nothing to GCC, and GCC 12 ignores diagnostic pragmas for it).
#include "kernels/cuda/attention_tc_kernels.cuh"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "kernels/ops.h"

namespace sparsescale::kernels::cuda_emu {
namespace {

namespace tc = ::sparsescale::kernels::cuda::attention_tc;

std::vector<float> Random(size_t n, uint32_t seed, float lo, float hi) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) {
    x = dist(rng);
  }
  return v;
}

// Failures where |got - want| > rtol * max |want| (NaN fails), reported with `what`.
int NormwiseFailures(const std::vector<float>& got, const std::vector<float>& want, double rtol,
                     const std::string& what) {
  double max_abs = 0;
  for (float w : want) {
    max_abs = std::max(max_abs, std::fabs(double{w}));
  }
  int failures = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    const double diff = std::fabs(double{got[i]} - double{want[i]});
    if (!(diff <= rtol * max_abs)) {
      if (failures++ < 5) {
        ADD_FAILURE() << what << "[" << i << "]: emulated " << got[i] << ", cpu " << want[i]
                      << " (tol " << rtol * max_abs << ")";
      }
    }
  }
  return failures;
}

struct Case {
  int B, T, NH, HS;
};

template <int kD>
absl::Status RunTc(const AttentionShape& s, std::vector<float>& out, std::vector<float>& lse,
                   std::vector<float>& dqkv, std::vector<float>& dsum,
                   const std::vector<float>& qkv, const std::vector<float>& dout) {
  const tc::Dims d{s.T, s.NH, 3 * s.NH * s.HS,
                   tc::kLog2e / std::sqrt(static_cast<float>(s.HS))};
  const float scale = 1.0f / std::sqrt(static_cast<float>(s.HS));
  const Dim3 grid{static_cast<unsigned>((s.T + tc::kTile - 1) / tc::kTile),
                  static_cast<unsigned>(s.B * s.NH), 1};
  absl::Status st = Launch(grid, tc::kThreads, tc::ForwardSmem<kD>(), [&] {
    tc::TcForwardKernel<kD>(out.data(), lse.data(), qkv.data(), d);
  });
  if (!st.ok()) {
    return st;
  }
  st = Launch(grid, tc::kThreads, tc::QuerySmem<kD>(), [&] {
    tc::TcBackwardQueryKernel<kD>(dqkv.data(), dsum.data(), dout.data(), qkv.data(), lse.data(),
                                  d, scale);
  });
  if (!st.ok()) {
    return st;
  }
  return Launch(grid, tc::kThreads, tc::KeySmem<kD>(), [&] {
    tc::TcBackwardKeyKernel<kD>(dqkv.data(), dsum.data(), dout.data(), qkv.data(), lse.data(), d,
                                scale);
  });
}

class AttentionTcEmuTest : public ::testing::TestWithParam<Case> {};

TEST_P(AttentionTcEmuTest, ForwardAndBackwardMatchTheCpuBackend) {
  const Case c = GetParam();
  const AttentionShape s{c.B, c.T, c.NH, c.HS};
  const size_t C = size_t(s.NH) * s.HS;
  const size_t n_qkv = size_t(s.B) * s.T * 3 * C, n_out = size_t(s.B) * s.T * C;
  const size_t n_rows = size_t(s.B) * s.NH * s.T;
  const auto qkv = Random(n_qkv, 80, -2.0f, 2.0f), dout = Random(n_out, 81, -1.0f, 1.0f);
  const auto start = Random(n_qkv, 82, -1.0f, 1.0f);  // dqkv accumulates onto it

  std::unique_ptr<Ops> cpu = MakeCpuOps(1);
  std::vector<float> want_out(n_out), want_dqkv = start;
  std::vector<float> att(n_rows * s.T), datt(n_rows * s.T);
  ASSERT_TRUE(cpu->AttentionForward(want_out.data(), att.data(), qkv.data(), s).ok());
  ASSERT_TRUE(cpu->AttentionBackward(want_dqkv.data(), datt.data(), dout.data(), qkv.data(),
                                     att.data(), s)
                  .ok());

  std::vector<float> out(n_out, NAN), lse(n_rows, NAN), dsum(n_rows, NAN), dqkv = start;
  absl::Status st;
  switch (c.HS) {
    case 16:
      st = RunTc<16>(s, out, lse, dqkv, dsum, qkv, dout);
      break;
    case 32:
      st = RunTc<32>(s, out, lse, dqkv, dsum, qkv, dout);
      break;
    case 64:
      st = RunTc<64>(s, out, lse, dqkv, dsum, qkv, dout);
      break;
    default:
      st = RunTc<128>(s, out, lse, dqkv, dsum, qkv, dout);
  }
  ASSERT_TRUE(st.ok()) << st;

  EXPECT_EQ(NormwiseFailures(out, want_out, 1e-2, "out"), 0);
  // The logsumexp of each row, from the CPU's probabilities: lse_i = s_ij - log p_ij for any
  // allowed j; j = 0 is allowed for every row.
  std::vector<float> want_lse(n_rows);
  for (size_t bh = 0; bh < size_t(s.B) * s.NH; ++bh) {
    const size_t b = bh / s.NH, h = bh % s.NH;
    for (int t = 0; t < s.T; ++t) {
      double dot = 0;
      for (int k = 0; k < s.HS; ++k) {
        dot += double{qkv[(b * s.T + t) * 3 * C + h * s.HS + k]} *
               double{qkv[(b * s.T + 0) * 3 * C + C + h * s.HS + k]};
      }
      const double p0 = att[(bh * s.T + t) * s.T + 0];
      want_lse[bh * s.T + t] = static_cast<float>(dot / std::sqrt(double(s.HS)) - std::log(p0));
    }
  }
  EXPECT_EQ(NormwiseFailures(lse, want_lse, 1e-2, "lse"), 0);
  // dq, dk, dv: what was added to `start`, each third against its own scale.
  for (int part = 0; part < 3; ++part) {
    std::vector<float> got_part, want_part;
    for (size_t row = 0; row < size_t(s.B) * s.T; ++row) {
      for (size_t i = row * 3 * C + part * C, e = i + C; i < e; ++i) {
        got_part.push_back(dqkv[i] - start[i]);
        want_part.push_back(want_dqkv[i] - start[i]);
      }
    }
    EXPECT_EQ(NormwiseFailures(got_part, want_part, 1e-2, std::string("d") + "qkv"[part]), 0);
  }
}

// T not a multiple of the 64-row tiles, one shorter than a tile, one exactly two tiles; every
// head size the kernels are built for.
INSTANTIATE_TEST_SUITE_P(Shapes, AttentionTcEmuTest,
                         ::testing::Values(Case{2, 70, 1, 16}, Case{1, 130, 2, 32},
                                           Case{1, 130, 2, 64}, Case{1, 40, 1, 64},
                                           Case{1, 128, 1, 64}, Case{1, 100, 1, 128}),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           const Case& c = info.param;
                           return "B" + std::to_string(c.B) + "_T" + std::to_string(c.T) +
                                  "_NH" + std::to_string(c.NH) + "_HS" + std::to_string(c.HS);
                         });

}  // namespace
}  // namespace sparsescale::kernels::cuda_emu
