// Fuzz target safetensors: checkpoint bytes as the trainer and the coordinator read them
// (worker/trainer/safetensors.h): the whole-file parse, then every tensor copied out as F32
// with the shape the header declares, as resuming a job does.
#include <string>
#include <vector>

#include "fuzz/fuzz_target.h"
#include "worker/trainer/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace trainer = sparsescale::trainer;
  auto file = trainer::SafetensorsFile::Parse(
      std::string(reinterpret_cast<const char*>(data), size), "fuzz.safetensors");
  if (!file.ok()) return 0;
  for (const auto& [name, view] : file->tensors()) {
    const int64_t numel = view.numel();
    if (view.dtype != trainer::DType::kF32 || numel < 0 || numel > (1 << 20)) continue;
    std::vector<float> out(static_cast<size_t>(numel));
    SPARSESCALE_FUZZ_CHECK(file->CopyF32(name, view.shape, out.data()).ok());
  }
  for (const auto& [key, value] : file->metadata()) {
    SPARSESCALE_FUZZ_CHECK(file->Metadata(key).ok());
  }
  return 0;
}
