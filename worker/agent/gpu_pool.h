// The GPUs of a worker that no running job holds. The agent takes a job's GPUs when it starts
// the job (W of them for a W-GPU job, each held by one job at a time) and gives them back when
// the job process has ended; the job sees only its own through CUDA_VISIBLE_DEVICES.
//
// Thread-safe.
#pragma once

#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace sparsescale::agent {

class GpuPool {
 public:
  // `ids`: CUDA_VISIBLE_DEVICES entries (gpu_devices.h), all free.
  explicit GpuPool(std::vector<std::string> ids);

  // `count` free GPUs, first in the order given to the constructor; nullopt (nothing taken)
  // when fewer are free. count 0 gives an empty list.
  std::optional<std::vector<std::string>> Take(int count);

  // Returns GPUs from Take(); unknown or already free ids are a broken invariant (crash).
  void Give(const std::vector<std::string>& ids);

  int size() const { return static_cast<int>(ids_.size()); }
  int free() const;

 private:
  const std::vector<std::string> ids_;
  mutable std::mutex mu_;  // guards the fields below
  std::vector<bool> held_;
};

// "CUDA_VISIBLE_DEVICES=a,b" for a job holding `ids` (empty ids: no device at all).
std::string CudaVisibleDevicesEntry(const std::vector<std::string>& ids);

}  // namespace sparsescale::agent
