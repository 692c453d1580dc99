#include "worker/agent/gpu_pool.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_join.h"
#include "common/status.h"

namespace sparsescale::agent {

GpuPool::GpuPool(std::vector<std::string> ids) : ids_(std::move(ids)), held_(ids_.size(), false) {}

std::optional<std::vector<std::string>> GpuPool::Take(int count) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<size_t> chosen;
  for (size_t i = 0; i < ids_.size() && static_cast<int>(chosen.size()) < count; ++i) {
    if (!held_[i]) {
      chosen.push_back(i);
    }
  }
  if (static_cast<int>(chosen.size()) < count) {
    return std::nullopt;
  }
  std::vector<std::string> taken;
  for (size_t i : chosen) {
    held_[i] = true;
    taken.push_back(ids_[i]);
  }
  return taken;
}

void GpuPool::Give(const std::vector<std::string>& ids) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const std::string& id : ids) {
    auto it = std::find(ids_.begin(), ids_.end(), id);
    SS_CHECK(it != ids_.end());
    const size_t i = static_cast<size_t>(it - ids_.begin());
    SS_CHECK(held_[i]);
    held_[i] = false;
  }
}

int GpuPool::free() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(std::count(held_.begin(), held_.end(), false));
}

std::string CudaVisibleDevicesEntry(const std::vector<std::string>& ids) {
  return "CUDA_VISIBLE_DEVICES=" + absl::StrJoin(ids, ",");
}

}  // namespace sparsescale::agent
