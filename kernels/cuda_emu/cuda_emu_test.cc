// The emulator itself: barriers order shared-memory traffic, a missing barrier shows as stale
// data, divergent barriers and wmma rule breaks are errors, shuffles and wmma products compute
// what CUDA documents.
#include "kernels/cuda_emu/cuda_emu.h"

#include <gtest/gtest.h>

#include <vector>

namespace sparsescale::kernels::cuda_emu {
namespace {

namespace wmma = nvcuda::wmma;

TEST(CudaEmuTest, SyncThreadsMakesEveryThreadsWritesVisible) {
  std::vector<int> out(2 * 64, -1);
  ASSERT_TRUE(Launch(Dim3{2, 1, 1}, 64, 64 * sizeof(int), [&] {
                int* smem = reinterpret_cast<int*>(DynamicSmem());
                const int t = static_cast<int>(threadIdx.x);
                smem[t] = t * 10 + static_cast<int>(blockIdx.x);
                __syncthreads();
                out[blockIdx.x * 64 + t] = smem[63 - t];  // written by another warp
              }).ok());
  for (int b = 0; b < 2; ++b) {
    for (int t = 0; t < 64; ++t) {
      EXPECT_EQ(out[b * 64 + t], (63 - t) * 10 + b);
    }
  }
}

TEST(CudaEmuTest, AMissingBarrierReadsStaleSharedMemory) {
  std::vector<int> out(64, 0);
  ASSERT_TRUE(Launch(Dim3{1, 1, 1}, 64, 64 * sizeof(int), [&] {
                int* smem = reinterpret_cast<int*>(DynamicSmem());
                const int t = static_cast<int>(threadIdx.x);
                smem[t] = t;
                out[t] = smem[63 - t];  // no __syncthreads: thread 0 runs before thread 63 writes
              }).ok());
  EXPECT_NE(out[0], 63) << "thread 0 saw a value thread 63 had not yet written";
  EXPECT_EQ(out[0], -1) << "fresh shared memory is 0xFF bytes";
}

TEST(CudaEmuTest, DivergentSyncThreadsIsADeadlockError) {
  const absl::Status s = Launch(Dim3{1, 1, 1}, 64, 0, [&] {
    if (threadIdx.x < 32) {
      __syncthreads();
    }
  });
  EXPECT_TRUE(absl::IsInternal(s)) << s;
  EXPECT_NE(s.message().find("barrier deadlock"), std::string::npos) << s;
}

TEST(CudaEmuTest, ShflXorExchangesWithinTheWarp) {
  std::vector<float> out(64);
  ASSERT_TRUE(Launch(Dim3{1, 1, 1}, 64, 0, [&] {
                const float v = static_cast<float>(threadIdx.x);
                float sum = v;
                for (int o = 16; o > 0; o /= 2) {
                  sum += __shfl_xor_sync(0xffffffffu, sum, o);
                }
                out[threadIdx.x] = sum + 0.001f * __shfl_xor_sync(0xffffffffu, v, 1);
              }).ok());
  for (int t = 0; t < 64; ++t) {
    const int warp = t / 32;
    const float warp_sum = 32.0f * (32 * warp) + 31.0f * 32 / 2;  // sum of the warp's indices
    EXPECT_FLOAT_EQ(out[t], warp_sum + 0.001f * static_cast<float>(t ^ 1)) << "thread " << t;
  }
}

TEST(CudaEmuTest, TrapAndFailAreReportedWithTheirThread) {
  const absl::Status s = Launch(Dim3{3, 1, 1}, 32, 0, [&] {
    if (blockIdx.x == 2 && threadIdx.x == 5) {
      __trap();
    }
  });
  EXPECT_TRUE(absl::IsInternal(s)) << s;
  EXPECT_NE(s.message().find("block (2, 0) thread 5: __trap()"), std::string::npos) << s;
  EXPECT_TRUE(absl::IsInvalidArgument(Launch(Dim3{}, 0, 0, [] {})));
  EXPECT_TRUE(absl::IsInvalidArgument(Launch(Dim3{}, 1025, 0, [] {})));
  EXPECT_TRUE(absl::IsInvalidArgument(Launch(Dim3{1, 1, 2}, 32, 0, [] {})));
  EXPECT_TRUE(absl::IsInvalidArgument(Launch(Dim3{0, 1, 1}, 32, 0, [] {})));
}

TEST(CudaEmuTest, APartialWarpSynchronisesAndVotesOverItsOwnLanes) {
  std::vector<unsigned> votes(40);
  std::vector<int> counts(40);
  ASSERT_TRUE(Launch(Dim3{}, 40, 0, [&] {  // warp 1 has 8 lanes
                __shared__ int arrived;
                if (threadIdx.x == 0) {
                  arrived = 0;
                }
                __syncthreads();
                atomicAdd(&arrived, 1);
                __syncthreads();
                counts[threadIdx.x] = arrived;
                votes[threadIdx.x] = __ballot_sync(0xffffffffu, threadIdx.x % 2 == 0);
              }).ok());
  for (int t = 0; t < 40; ++t) {
    EXPECT_EQ(counts[t], 40);
    EXPECT_EQ(votes[t], t < 32 ? 0x55555555u : 0x55u) << "thread " << t;
  }
}

TEST(CudaEmuTest, Bf16RoundsToNearestEven) {
  EXPECT_EQ(__bfloat162float(__float2bfloat16_rn(1.0f)), 1.0f);
  // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties go to the even mantissa (1).
  EXPECT_EQ(__bfloat162float(__float2bfloat16_rn(1.0f + 1.0f / 256)), 1.0f);
  EXPECT_EQ(__bfloat162float(__float2bfloat16_rn(1.0f + 3.0f / 256)), 1.0f + 4.0f / 256);
  EXPECT_EQ(__bfloat162float(__float2bfloat16_rn(-2.5f)), -2.5f);
  EXPECT_TRUE(std::isnan(__bfloat162float(__float2bfloat16_rn(NAN))));
}

// C = A B with A row-major and B column-major in shared memory, against a plain loop.
TEST(CudaEmuTest, WmmaProductMatchesAPlainLoop) {
  std::vector<float> a(16 * 16), b(16 * 16), c(16 * 16);
  for (int i = 0; i < 256; ++i) {
    a[i] = static_cast<float>(i % 7) - 3.0f;
    b[i] = static_cast<float>(i % 5) * 0.5f;
  }
  constexpr int kLd = 24;  // padded strides, as kernels use
  ASSERT_TRUE(Launch(Dim3{}, 32, 2 * 16 * kLd * 2 + 16 * kLd * 4, [&] {
                unsigned char* smem = DynamicSmem();
                auto* as = reinterpret_cast<__nv_bfloat16*>(smem);
                auto* bs = as + 16 * kLd;
                auto* cs = reinterpret_cast<float*>(bs + 16 * kLd);
                for (int i = static_cast<int>(threadIdx.x); i < 256; i += 32) {
                  const int r = i / 16, k = i % 16;
                  as[r * kLd + k] = __float2bfloat16_rn(a[i]);
                  bs[k * kLd + r] = __float2bfloat16_rn(b[i]);  // b[i] = B(r, k): col-major
                }
                __syncwarp();
                wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> fa;
                wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::col_major> fb;
                wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
                wmma::fill_fragment(acc, 1.0f);
                wmma::load_matrix_sync(fa, as, kLd);
                wmma::load_matrix_sync(fb, bs, kLd);
                wmma::mma_sync(acc, fa, fb, acc);
                wmma::store_matrix_sync(cs, acc, kLd, wmma::mem_row_major);
                __syncwarp();
                for (int i = static_cast<int>(threadIdx.x); i < 256; i += 32) {
                  c[i] = cs[(i / 16) * kLd + i % 16];
                }
              }).ok());
  for (int r = 0; r < 16; ++r) {
    for (int n = 0; n < 16; ++n) {
      float want = 1.0f;
      for (int k = 0; k < 16; ++k) {
        want += a[r * 16 + k] * b[k * 16 + n];
      }
      EXPECT_FLOAT_EQ(c[r * 16 + n], want) << r << "," << n;
    }
  }
}

TEST(CudaEmuTest, AWmmaStoreIsOnlyVisibleToOtherLanesAfterSyncwarp) {
  std::vector<float> early(32), late(32);
  ASSERT_TRUE(Launch(Dim3{}, 32, 16 * 16 * 4, [&] {
                float* tile = reinterpret_cast<float*>(DynamicSmem());
                wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
                wmma::fill_fragment(acc, 2.0f);
                wmma::store_matrix_sync(tile, acc, 16, wmma::mem_row_major);
                early[threadIdx.x] = tile[255];  // written by lane 31
                __syncwarp();
                late[threadIdx.x] = tile[255];
              }).ok());
  EXPECT_TRUE(std::isnan(early[0])) << "lane 0 read lane 31's element before lane 31 stored it";
  EXPECT_EQ(early[31], 2.0f);
  for (float v : late) {
    EXPECT_EQ(v, 2.0f);
  }
}

TEST(CudaEmuTest, WmmaRefusesWhatTheHardwareRefuses) {
  const absl::Status misaligned = Launch(Dim3{}, 32, 1024, [&] {
    wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> fa;
    wmma::load_matrix_sync(fa, reinterpret_cast<__nv_bfloat16*>(DynamicSmem() + 16), 16);
  });
  EXPECT_NE(misaligned.message().find("not 32-byte aligned"), std::string::npos) << misaligned;
  const absl::Status stride = Launch(Dim3{}, 32, 2048, [&] {
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
    wmma::fill_fragment(acc, 0.0f);
    wmma::store_matrix_sync(reinterpret_cast<float*>(DynamicSmem()), acc, 18,
                            wmma::mem_row_major);
  });
  EXPECT_NE(stride.message().find("ldm 18 is not a multiple of 16 bytes"), std::string::npos)
      << stride;
}

}  // namespace
}  // namespace sparsescale::kernels::cuda_emu
