// NCCL communicator start-up helpers (these run without a GPU) and a one-rank all-reduce
// (skipped without a GPU).
#include "kernels/cuda/nccl_comm.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "kernels/cuda/cuda_test_util.h"

namespace sparsescale::kernels::cuda {
namespace {

std::string TempPath(const char* name) {
  const char* dir = std::getenv("TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/sparsescale_nccl_" +
         std::to_string(getpid()) + "_" + name;
}

void ClearEnv() {
  unsetenv("SPARSESCALE_RANK");
  unsetenv("SPARSESCALE_WORLD_SIZE");
  unsetenv("SPARSESCALE_NCCL_ID_FILE");
}

TEST(NcclRendezvousTest, MissingEnvironmentMeansOneProcess) {
  ClearEnv();
  auto r = NcclRendezvousFromEnv();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->rank, 0);
  EXPECT_EQ(r->world_size, 1);
  EXPECT_TRUE(r->id_path.empty());
}

TEST(NcclRendezvousTest, RankOutsideWorldIsInvalidArgument) {
  ClearEnv();
  setenv("SPARSESCALE_RANK", "2", 1);
  setenv("SPARSESCALE_WORLD_SIZE", "2", 1);
  setenv("SPARSESCALE_NCCL_ID_FILE", "/tmp/x", 1);
  EXPECT_TRUE(absl::IsInvalidArgument(NcclRendezvousFromEnv().status()));
  setenv("SPARSESCALE_RANK", "one", 1);
  auto bad = NcclRendezvousFromEnv();
  EXPECT_TRUE(absl::IsInvalidArgument(bad.status()));
  EXPECT_NE(bad.status().ToString().find("SPARSESCALE_RANK"), std::string::npos);
  ClearEnv();
}

TEST(NcclRendezvousTest, SeveralRanksNeedAnIdFile) {
  ClearEnv();
  setenv("SPARSESCALE_WORLD_SIZE", "4", 1);
  EXPECT_TRUE(absl::IsInvalidArgument(NcclRendezvousFromEnv().status()));
  ClearEnv();
}

TEST(NcclRendezvousTest, FileCarriesTheIdFromRankZeroToOthers) {
  const std::string path = TempPath("id");
  std::remove(path.c_str());
  const std::string id(128, '\x07');
  NcclRendezvous r0{0, 2, path};
  NcclRendezvous r1{1, 2, path};
  auto written = RendezvousNcclUniqueId(r0, id, 0);
  ASSERT_TRUE(written.ok()) << written.status().ToString();
  auto read = RendezvousNcclUniqueId(r1, "", 1000);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(*read, id);
  std::remove(path.c_str());
}

TEST(NcclRendezvousTest, MissingFileTimesOut) {
  NcclRendezvous r1{1, 2, TempPath("never_written")};
  EXPECT_TRUE(absl::IsDeadlineExceeded(RendezvousNcclUniqueId(r1, "", 0).status()));
}

TEST(NcclCommTest, UniqueIdIs128Bytes) {
  if (!NcclAvailable()) {
    GTEST_SKIP() << "this build has no NCCL";
  }
  auto id = MakeNcclUniqueId();
  if (!id.ok()) {
    GTEST_SKIP() << "ncclGetUniqueId failed on this machine: " << id.status().ToString();
  }
  EXPECT_EQ(id->size(), 128u);
}

using NcclSingleRankTest = testing::CudaTest;

TEST_F(NcclSingleRankTest, AllReduceOverOneRankLeavesDataUnchanged) {
  if (!NcclAvailable()) {
    GTEST_SKIP() << "this build has no NCCL";
  }
  auto id = MakeNcclUniqueId();
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  auto comm = MakeNcclCommunicator(*gpu_, *id, 0, 1);
  ASSERT_TRUE(comm.ok()) << comm.status().ToString();
  EXPECT_EQ((*comm)->world_size(), 1);
  const std::vector<float> x = {1.0f, -2.0f, 3.5f};
  auto gx = Up(x);
  ASSERT_TRUE((*comm)->AllReduceSum(gx->f32(), x.size()).ok());
  ASSERT_TRUE((*comm)->Barrier().ok());
  EXPECT_EQ(Down(*gx, x.size()), x);
}

TEST_F(NcclSingleRankTest, BadRankIsInvalidArgument) {
  EXPECT_TRUE(
      absl::IsInvalidArgument(MakeNcclCommunicator(*gpu_, std::string(128, 'a'), 1, 1).status()));
  EXPECT_TRUE(
      absl::IsInvalidArgument(MakeNcclCommunicator(*cpu_, std::string(128, 'a'), 0, 1).status()));
}

}  // namespace
}  // namespace sparsescale::kernels::cuda
