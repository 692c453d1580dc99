// Fixtures shared by the tests of every target that speaks the spec (spec, trainer, agent):
// one tiny valid job and one loss point with every field set. Test-only (the
// sparsescale_spec_testing library); thread-safe (pure functions).
#pragma once

#include <cstdint>
#include <string>

#include "sparsescale/v1/coordinator.pb.h"
#include "sparsescale/v1/job.pb.h"

namespace sparsescale::spec::testing {

// A tiny job (2 layers, width 32, 2 heads, context 16, batch 4) over `shard` for `steps` steps:
// CPU, one thread, eval every steps/4, checkpoint every steps/2 (all kept), seed 7. Not
// normalised: callers that need defaults filled run NormalizeJobSpec.
sparsescale::v1::JobSpec TinySpec(const std::string& shard, int64_t steps);

// A loss point with every field set to a value that needs all 17 significant digits or an
// exact power of two, so that a codec that rounds or drops a field fails a round trip.
sparsescale::v1::LossPoint FullLossPoint();

}  // namespace sparsescale::spec::testing
