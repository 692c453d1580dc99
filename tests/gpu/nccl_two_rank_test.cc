// The multi-rank NCCL path: two ranks, one thread each with its own CUDA backend on GPU 0 and
// GPU 1, join a communicator (the unique id passed in memory, as the coordinator or the id
// file would carry it) and all-reduce buffers whose sum the CPU computes. The sum of two fp32
// values is one correctly rounded addition whichever rank adds, so both ranks must hold exactly
// the CPU's result (tolerance 0). Skips with fewer than 2 GPUs or without NCCL.
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "kernels/comm.h"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/nccl_comm.h"
#include "kernels/cuda/parity_checks.h"
#include "kernels/ops.h"

namespace sparsescale::kernels::cuda {
namespace {

constexpr int kRanks = 2;

class NcclTwoRankTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!NcclAvailable()) {
      GTEST_SKIP() << "this build has no NCCL: the two-rank NCCL test needs a CUDA build that "
                      "found nccl.h and libnccl";
    }
    const int devices = DeviceCount();
    if (devices < kRanks) {
      GTEST_SKIP() << "the two-rank NCCL test needs 2 CUDA GPUs, this process sees " << devices
                   << "; run it on a multi-GPU machine";
    }
    for (int r = 0; r < kRanks; ++r) {
      auto ops = MakeCudaOps(r);
      ASSERT_TRUE(ops.ok()) << "GPU " << r << ": " << ops.status().ToString();
      ops_.push_back(std::move(ops).value());
    }
  }

  // Runs `body(rank, ops, comm)` on one thread per rank once that rank has joined a new
  // communicator (a fresh unique id each time: NCCL's bootstrap serves one initialisation per
  // id). A rank that cannot join fails the test; the other then waits in NCCL's initialisation
  // until the test's timeout, which also reports the failure.
  void OnEveryRank(const std::function<void(int, Ops&, Communicator&)>& body) {
    const absl::StatusOr<std::string> id = MakeNcclUniqueId();
    ASSERT_TRUE(id.ok()) << id.status().ToString();
    std::vector<std::thread> threads;
    for (int r = 0; r < kRanks; ++r) {
      threads.emplace_back([this, r, &body, &id] {
        auto comm = MakeNcclCommunicator(*ops_[r], *id, r, kRanks);
        ASSERT_TRUE(comm.ok()) << "rank " << r << ": " << comm.status().ToString();
        EXPECT_EQ((*comm)->rank(), r);
        EXPECT_EQ((*comm)->world_size(), kRanks);
        body(r, *ops_[r], **comm);
      });
    }
    for (std::thread& t : threads) {
      t.join();
    }
  }

  std::vector<std::unique_ptr<Ops>> ops_;
};

// Rank r's input: seeded random values, different on each rank.
std::vector<float> RankInput(int rank, size_t n) {
  return testing::RandomFloats(n, 1000 + static_cast<uint32_t>(rank), -4.0f, 4.0f);
}

// x[i] = sum over ranks of RankInput(r, n)[i], in fp32 as NCCL sums.
std::vector<float> ExpectedSum(size_t n) {
  std::vector<float> sum = RankInput(0, n);
  const std::vector<float> other = RankInput(1, n);
  for (size_t i = 0; i < n; ++i) {
    sum[i] += other[i];
  }
  return sum;
}

// Uploads rank r's input on `ops`, reduces it with `reduce`, and returns the result on the host.
std::vector<float> ReduceOnRank(int rank, size_t n, Ops& ops,
                                const std::function<absl::Status(float*, size_t)>& reduce) {
  const std::vector<float> input = RankInput(rank, n);
  auto buffer = ops.Allocate(n * sizeof(float));
  EXPECT_TRUE(buffer.ok()) << buffer.status().ToString();
  if (!buffer.ok()) {
    return {};
  }
  float* x = (*buffer)->f32();
  EXPECT_TRUE(ops.CopyToDevice(x, input.data(), n * sizeof(float)).ok());
  const absl::Status reduced = reduce(x, n);
  EXPECT_TRUE(reduced.ok()) << "rank " << rank << ": " << reduced.ToString();
  std::vector<float> out(n);
  EXPECT_TRUE(ops.CopyToHost(out.data(), x, n * sizeof(float)).ok());
  return out;
}

// Index of the first element where `got` and `want` differ (exact comparison); -1 when none.
int64_t FirstMismatch(const std::vector<float>& got, const std::vector<float>& want) {
  for (size_t i = 0; i < want.size(); ++i) {
    if (i >= got.size() || got[i] != want[i]) {
      return static_cast<int64_t>(i);
    }
  }
  return got.size() == want.size() ? -1 : static_cast<int64_t>(want.size());
}

// One element, an odd size, and 4M + 3 floats (16 MB: many NCCL chunks and a ragged tail).
const std::vector<size_t> kSizes = {1, 1001, (size_t{1} << 22) + 3};

TEST_F(NcclTwoRankTest, AllReduceSumGivesEveryRankTheExactSum) {
  for (size_t n : kSizes) {
    std::vector<std::vector<float>> results(kRanks);
    OnEveryRank([&](int r, Ops& ops, Communicator& comm) {
      results[r] = ReduceOnRank(
          r, n, ops, [&](float* x, size_t count) { return comm.AllReduceSum(x, count); });
      EXPECT_TRUE(comm.Barrier().ok());
    });
    const std::vector<float> want = ExpectedSum(n);
    for (int r = 0; r < kRanks; ++r) {
      EXPECT_EQ(FirstMismatch(results[r], want), -1) << "rank " << r << ", " << n << " floats";
    }
  }
}

// The path the trainer's bucketed all-reduce takes: reductions started on the communication
// stream while the compute stream goes on, then WaitAll before the results are used.
TEST_F(NcclTwoRankTest, AsyncAllReduceIsCompleteAfterWaitAll) {
  const size_t n = kSizes[2];
  std::vector<std::vector<float>> results(kRanks);
  OnEveryRank([&](int r, Ops& ops, Communicator& comm) {
    results[r] = ReduceOnRank(r, n, ops, [&](float* x, size_t count) {
      // Two buckets, as the trainer reduces gradients in pieces.
      const size_t half = count / 2;
      absl::Status s = comm.AllReduceSumAsync(x, half);
      if (s.ok()) {
        s = comm.AllReduceSumAsync(x + half, count - half);
      }
      return s.ok() ? comm.WaitAll() : s;
    });
    EXPECT_TRUE(comm.Barrier().ok());
  });
  const std::vector<float> want = ExpectedSum(n);
  for (int r = 0; r < kRanks; ++r) {
    EXPECT_EQ(FirstMismatch(results[r], want), -1) << "rank " << r;
  }
}

}  // namespace
}  // namespace sparsescale::kernels::cuda
