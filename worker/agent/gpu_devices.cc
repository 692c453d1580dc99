#include "worker/agent/gpu_devices.h"

#include <dlfcn.h>

#include <cstdlib>
#include <filesystem>
#include <regex>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace sparsescale::agent {
namespace {

// NVML's C entry points used here (nvml.h: return 0 = NVML_SUCCESS).
using NvmlInit = int (*)();
using NvmlDeviceGetCount = int (*)(unsigned int*);
using NvmlShutdown = int (*)();

// The device count NVML reports, or -1 when NVML or the driver is not there.
int CountWithNvml() {
  void* library = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
  if (library == nullptr) {
    return -1;
  }
  auto init = reinterpret_cast<NvmlInit>(dlsym(library, "nvmlInit_v2"));
  auto count = reinterpret_cast<NvmlDeviceGetCount>(dlsym(library, "nvmlDeviceGetCount_v2"));
  auto shutdown = reinterpret_cast<NvmlShutdown>(dlsym(library, "nvmlShutdown"));
  int result = -1;
  if (init != nullptr && count != nullptr && shutdown != nullptr && init() == 0) {
    unsigned int devices = 0;
    if (count(&devices) == 0) {
      result = static_cast<int>(devices);
    }
    shutdown();
  }
  dlclose(library);
  return result;
}

// /dev/nvidia<N> nodes: what the driver exposes to this container or machine.
int CountDeviceNodes() {
  int count = 0;
  std::error_code ec;
  static const std::regex kNode("nvidia[0-9]+");
  for (const auto& entry : std::filesystem::directory_iterator("/dev", ec)) {
    if (std::regex_match(entry.path().filename().string(), kNode)) {
      ++count;
    }
  }
  return count;
}

std::vector<std::string> Indices(int count) {
  std::vector<std::string> ids;
  for (int i = 0; i < count; ++i) {
    ids.push_back(absl::StrCat(i));
  }
  return ids;
}

}  // namespace

std::vector<std::string> ParseCudaVisibleDevices(const std::string& value) {
  std::vector<std::string> ids;
  for (absl::string_view entry : absl::StrSplit(value, ',')) {
    entry = absl::StripAsciiWhitespace(entry);
    if (entry.empty()) {
      continue;
    }
    if (entry[0] == '-') {
      break;  // CUDA stops at the first invalid entry ("-1" hides every later one).
    }
    ids.emplace_back(entry);
  }
  return ids;
}

GpuInventory VisibleGpus() {
  if (const char* visible = std::getenv("CUDA_VISIBLE_DEVICES"); visible != nullptr) {
    return {ParseCudaVisibleDevices(visible), "CUDA_VISIBLE_DEVICES"};
  }
  if (int count = CountWithNvml(); count >= 0) {
    return {Indices(count), "NVML"};
  }
  const int nodes = CountDeviceNodes();
  return {Indices(nodes), nodes > 0 ? "/dev/nvidia*" : "none"};
}

absl::StatusOr<std::vector<std::string>> SelectGpus(const std::string& flag,
                                                    const std::vector<std::string>& visible) {
  if (flag == "all") {
    return visible;
  }
  std::vector<std::string> chosen;
  std::set<int> seen;
  for (absl::string_view entry : absl::StrSplit(flag, ',')) {
    int index = -1;
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(entry), &index) || index < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--gpus: expected \"all\" or device indices like 0,1, got \"", flag, "\""));
    }
    if (!seen.insert(index).second) {
      return absl::InvalidArgumentError(absl::StrCat("--gpus: device ", index, " is repeated"));
    }
    if (index >= static_cast<int>(visible.size())) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--gpus: device ", index, " is not visible; this worker sees ", visible.size(),
          " GPU(s)", visible.empty() ? "" : absl::StrCat(" (", absl::StrJoin(visible, ","), ")")));
    }
    chosen.push_back(visible[static_cast<size_t>(index)]);
  }
  return chosen;
}

}  // namespace sparsescale::agent
