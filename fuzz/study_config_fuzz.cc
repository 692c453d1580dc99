// Fuzz target study_config: sweep and study JSON files (`sparsescale sweep create`,
// `sparsescale study run`), parsed by the CLI's own readers in client/study_config.h; the same
// bytes go to both, since a study file embeds a sweep.
#include <string>

#include "client/study_config.h"
#include "fuzz/fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace client = sparsescale::client;
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto sweep = client::ParseSweepJson(text);
  if (sweep.ok()) (void)client::CountSweepCells(sweep->axes());
  auto study = client::ParseStudyJson(text);
  if (study.ok()) (void)client::CountSweepCells(study->sweep.axes());
  return 0;
}
