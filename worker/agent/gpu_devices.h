// Which GPUs a worker offers to its jobs, as the entries a job's CUDA_VISIBLE_DEVICES names.
//
// The worker daemon never loads the CUDA runtime (its job processes do: a CUDA context in the
// daemon would hold device memory and break fork()). It counts devices with NVML, loaded with
// dlopen("libnvidia-ml.so.1") so that nothing is needed at build time and a machine without the
// driver simply has none, and falls back to counting /dev/nvidia<N> nodes. An inherited
// CUDA_VISIBLE_DEVICES (Slurm, a container runtime, the user) is honoured: its entries are the
// devices, passed on to jobs as they are (indices or GPU-UUIDs of the whole machine).
//
// Thread-safe (reads the environment and /dev; NVML is initialised and shut down per call).
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace sparsescale::agent {

struct GpuInventory {
  std::vector<std::string> ids;  // CUDA_VISIBLE_DEVICES entries, in CUDA's order
  std::string source;            // "CUDA_VISIBLE_DEVICES", "NVML", "/dev/nvidia*" or "none"
};

// The GPUs this process may use (see above). Never fails: no driver means no GPUs.
GpuInventory VisibleGpus();

// The entries of a CUDA_VISIBLE_DEVICES value up to the first invalid one (CUDA ignores the
// rest), with blanks dropped: "2,3" -> {"2","3"}; "" -> {}; "0,-1,1" -> {"0"}.
std::vector<std::string> ParseCudaVisibleDevices(const std::string& value);

// The worker's `--gpus` flag applied to the visible devices: "all" gives them all; "0,2" gives
// the visible devices at those positions (CUDA's numbering inside this process, so with an
// inherited CUDA_VISIBLE_DEVICES=4,5,6,7 "--gpus 1" is device "5"). InvalidArgument naming
// "--gpus" for a malformed list, a repeated index or one past the visible devices.
absl::StatusOr<std::vector<std::string>> SelectGpus(const std::string& flag,
                                                    const std::vector<std::string>& visible);

}  // namespace sparsescale::agent
