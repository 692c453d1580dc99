// The GPU mask selection (kernels/cuda/select_kernels.cuh: radix select over 4 histogram passes,
// per-chunk tie counts, index-ordered tie marking; the n:m group pass), run on the host through
// the CUDA emulator, against the CPU backend's MagnitudeMask and NmMask. Selection is exact:
// the masks must be equal, element for element, including which of many tied magnitudes win.
#include "kernels/cuda_emu/cuda_emu.h"

// The device code, compiled for the emulator (-Wno-unknown-pragmas, see CMakeLists.txt).
#include "kernels/cuda/select_kernels.cuh"

#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "kernels/ops.h"

namespace sparsescale::kernels::cuda_emu {
namespace {

namespace sel = ::sparsescale::kernels::cuda::select;
using ::sparsescale::kernels::cuda::KernelLauncher;

// Weights with many exact ties (magnitudes on a coarse grid, both signs, zeros), so the
// threshold of most selections falls inside a run of equal keys spread over several chunks.
std::vector<float> TiedWeights(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> level(-6, 6);
  std::vector<float> w(n);
  for (float& x : w) {
    x = 0.125f * static_cast<float>(level(rng));
  }
  return w;
}

int Mismatches(const std::vector<float>& got, const std::vector<float>& want,
               const std::string& what) {
  int bad = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    if (got[i] != want[i] && bad++ < 5) {
      ADD_FAILURE() << what << ": mask[" << i << "] emulated " << got[i] << ", cpu " << want[i];
    }
  }
  return bad;
}

TEST(SelectEmuTest, MagnitudeMaskEqualsTheCpuOneAcrossChunksAndTies) {
  const size_t n = 3 * sel::kChunk + 517;  // four chunks, the last one partial
  const std::vector<float> w = TiedWeights(n, 5);
  std::unique_ptr<Ops> cpu = MakeCpuOps(1);
  std::vector<uint32_t> keys(n);
  std::vector<unsigned char> scratch(sel::SelectScratchBytes(n) + 16);
  void* state = scratch.data() + (16 - reinterpret_cast<uintptr_t>(scratch.data()) % 16) % 16;
  ASSERT_TRUE(sel::RunMagnitudeKeys(KernelLauncher{}, keys.data(), w.data(), n).ok());
  for (const size_t keep : {size_t{1}, size_t{777}, n / 2, n - 3, n}) {
    std::vector<float> want(n, -1.0f), got(n, -1.0f);
    ASSERT_TRUE(cpu->MagnitudeMask(want.data(), w.data(), n, keep).ok());
    ASSERT_TRUE(
        sel::RunSelectTopK(KernelLauncher{}, got.data(), keys.data(), n, keep, state).ok());
    EXPECT_EQ(Mismatches(got, want, "keep " + std::to_string(keep)), 0);
  }
  std::vector<float> none(n, -1.0f);  // k = 0 clears every candidate
  ASSERT_TRUE(sel::RunSelectTopK(KernelLauncher{}, none.data(), keys.data(), n, 0, state).ok());
  EXPECT_EQ(Mismatches(none, std::vector<float>(n, 0.0f), "keep 0"), 0);
}

TEST(SelectEmuTest, NmMaskEqualsTheCpuOneWhileFillingAndAtTheFloor) {
  const int rows = 24, cols = 256, n = 2, m = 4;  // 6144 elements: three chunks
  const size_t total = size_t(rows) * cols, forced = total / m * n;
  const std::vector<float> w = TiedWeights(total, 6);
  std::unique_ptr<Ops> cpu = MakeCpuOps(1);
  std::vector<unsigned char> scratch(sel::SelectScratchBytes(total) + 16);
  void* state = scratch.data() + (16 - reinterpret_cast<uintptr_t>(scratch.data()) % 16) % 16;
  // At the 2:4 floor, and with a budget above it (the gradual schedule's middle).
  for (const size_t keep : {forced, forced + 1000, total}) {
    std::vector<float> want(total, -1.0f), got(total, -1.0f);
    std::vector<uint32_t> keys(total);
    ASSERT_TRUE(cpu->NmMask(want.data(), w.data(), rows, cols, n, m, keep).ok());
    ASSERT_TRUE(sel::RunGroupKeep(KernelLauncher{}, got.data(), keys.data(), w.data(), total / m,
                                  n, m)
                    .ok());
    ASSERT_TRUE(sel::RunSelectTopK(KernelLauncher{}, got.data(), keys.data(), total,
                                   keep - forced, state)
                    .ok());
    EXPECT_EQ(Mismatches(got, want, "keep " + std::to_string(keep)), 0);
    size_t kept = 0;
    for (float v : got) {
      kept += v == 1.0f;
    }
    EXPECT_EQ(kept, keep);
  }
}

}  // namespace
}  // namespace sparsescale::kernels::cuda_emu
