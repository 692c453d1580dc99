// Fuzz target job_events: one line of the job process's stdout as the worker daemon parses it
// (worker/agent/job_events.h). An event that parses must encode and parse back to itself.
#include <string>

#include "fuzz/fuzz_target.h"
#include "worker/agent/job_events.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace agent = sparsescale::agent;
  const std::string line(reinterpret_cast<const char*>(data), size);
  auto event = agent::ParseChildEvent(line);
  if (!event.ok()) return 0;
  if (event->has_error()) (void)agent::EventError(event->error());
  auto again = agent::ParseChildEvent(agent::EncodeEvent(*event));
  SPARSESCALE_FUZZ_CHECK(again.ok());
  return 0;
}
