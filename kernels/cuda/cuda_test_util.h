// Helpers for the CUDA backend tests: the skip-without-GPU fixture and host <-> device copies;
// seeded random data and tolerance checks come from parity_checks.h.
// Not thread-safe (tests are single-threaded).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/parity_checks.h"
#include "kernels/ops.h"

namespace sparsescale::kernels::cuda::testing {

// Skips the test unless a GPU is usable; otherwise gives a CUDA and a CPU backend.
class CudaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (DeviceCount() == 0) {
      GTEST_SKIP() << "no CUDA GPU is usable in this process (cudaGetDeviceCount found none): "
                      "the CUDA backend tests need one; run bench/gpu/gpu.sh on a GPU machine";
    }
    auto gpu = MakeCudaOps(0);
    ASSERT_TRUE(gpu.ok()) << gpu.status().ToString();
    gpu_ = std::move(gpu).value();
    cpu_ = MakeCpuOps(1);
  }

  // A device copy of `host` (nullptr and a test failure when the copy fails).
  template <typename T>
  std::unique_ptr<DeviceBuffer> Up(const std::vector<T>& host) {
    auto buffer = gpu_->Allocate(host.size() * sizeof(T));
    if (!buffer.ok()) {
      ADD_FAILURE() << buffer.status().ToString();
      return nullptr;
    }
    const absl::Status s =
        gpu_->CopyToDevice((*buffer)->data(), host.data(), host.size() * sizeof(T));
    EXPECT_TRUE(s.ok()) << s.ToString();
    return std::move(buffer).value();
  }

  std::vector<float> Down(DeviceBuffer& buffer, size_t n) {
    std::vector<float> host(n);
    const absl::Status s = gpu_->CopyToHost(host.data(), buffer.data(), n * sizeof(float));
    EXPECT_TRUE(s.ok()) << s.ToString();
    return host;
  }

  std::unique_ptr<Ops> gpu_;
  std::unique_ptr<Ops> cpu_;
};

}  // namespace sparsescale::kernels::cuda::testing
