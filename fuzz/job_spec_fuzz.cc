// Fuzz target job_spec: JobSpec JSON as a user writes it (`sparsescale job submit spec.json`),
// through the spec's own rules: parse, normalise, validate, hash, and the JSON round trip a
// valid spec must survive unchanged.
#include <string>

#include "fuzz/fuzz_target.h"
#include "spec/job_spec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace spec = sparsescale::spec;
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto parsed = spec::ParseJobSpecJson(text);
  if (!parsed.ok()) return 0;
  spec::NormalizeJobSpec(&*parsed);
  if (!spec::ValidateJobSpec(*parsed).ok()) return 0;
  (void)spec::TotalSteps(*parsed);
  (void)spec::DataParallelRanks(*parsed);
  const std::string hash = spec::CanonicalJobSpecHash(*parsed);
  auto again = spec::ParseJobSpecJson(spec::JobSpecToJson(*parsed));
  SPARSESCALE_FUZZ_CHECK(again.ok());
  spec::NormalizeJobSpec(&*again);
  SPARSESCALE_FUZZ_CHECK(spec::CanonicalJobSpecHash(*again) == hash);
  return 0;
}
