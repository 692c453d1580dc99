#include "worker/agent/gpu_devices.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <string>
#include <vector>

#include "worker/agent/gpu_pool.h"

namespace sparsescale::agent {
namespace {

using Ids = std::vector<std::string>;

TEST(GpuDevicesTest, CudaVisibleDevicesEntriesStopAtTheFirstInvalidOne) {
  EXPECT_EQ(ParseCudaVisibleDevices("2,3"), (Ids{"2", "3"}));
  EXPECT_EQ(ParseCudaVisibleDevices(" GPU-1a2b , 5 ,"), (Ids{"GPU-1a2b", "5"}));
  EXPECT_EQ(ParseCudaVisibleDevices(""), Ids{});
  EXPECT_EQ(ParseCudaVisibleDevices("0,-1,1"), Ids{"0"});
}

TEST(GpuDevicesTest, AnInheritedCudaVisibleDevicesIsWhatTheWorkerOffers) {
  const char* saved = std::getenv("CUDA_VISIBLE_DEVICES");
  const std::string restore = saved == nullptr ? "" : saved;
  setenv("CUDA_VISIBLE_DEVICES", "4,5,6", 1);
  const GpuInventory inventory = VisibleGpus();
  EXPECT_EQ(inventory.ids, (Ids{"4", "5", "6"}));
  EXPECT_EQ(inventory.source, "CUDA_VISIBLE_DEVICES");
  setenv("CUDA_VISIBLE_DEVICES", "", 1);
  EXPECT_TRUE(VisibleGpus().ids.empty());  // an empty value hides every device
  if (saved == nullptr) {
    unsetenv("CUDA_VISIBLE_DEVICES");
  } else {
    setenv("CUDA_VISIBLE_DEVICES", restore.c_str(), 1);
  }
}

TEST(GpuDevicesTest, GpusFlagPicksVisibleDevicesByPosition) {
  const Ids visible = {"4", "5", "6", "7"};
  EXPECT_EQ(SelectGpus("all", visible).value(), visible);
  EXPECT_EQ(SelectGpus("1,3", visible).value(), (Ids{"5", "7"}));
  EXPECT_EQ(SelectGpus("all", {}).value(), Ids{});
}

TEST(GpuDevicesTest, BadGpusFlagsAreRefusedNamingTheFlag) {
  const Ids visible = {"0", "1"};
  for (const char* bad : {"", "x", "0,,1", "-1", "0,0", "2"}) {
    absl::StatusOr<Ids> chosen = SelectGpus(bad, visible);
    ASSERT_FALSE(chosen.ok()) << bad;
    EXPECT_EQ(chosen.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(chosen.status().message().rfind("--gpus: ", 0), 0u) << chosen.status();
  }
  EXPECT_NE(SelectGpus("2", visible).status().message().find("sees 2 GPU(s) (0,1)"),
            std::string::npos);
}

TEST(GpuPoolTest, TakesFreeGpusAllOrNothingAndReusesGivenBackOnes) {
  GpuPool pool({"a", "b", "c"});
  EXPECT_EQ(pool.size(), 3);
  EXPECT_EQ(pool.Take(2).value(), (Ids{"a", "b"}));
  EXPECT_FALSE(pool.Take(2).has_value());  // one free: nothing taken
  EXPECT_EQ(pool.free(), 1);
  EXPECT_EQ(pool.Take(0).value(), Ids{});
  pool.Give({"a"});
  EXPECT_EQ(pool.Take(2).value(), (Ids{"a", "c"}));
  EXPECT_EQ(pool.free(), 0);
  EXPECT_EQ(CudaVisibleDevicesEntry({"a", "c"}), "CUDA_VISIBLE_DEVICES=a,c");
  EXPECT_EQ(CudaVisibleDevicesEntry({}), "CUDA_VISIBLE_DEVICES=");
}

}  // namespace
}  // namespace sparsescale::agent
