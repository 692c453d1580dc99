// An Ops backend made of the plain reference loops (kernels/cpu/reference.h) in fp32: the
// baseline the trainer benchmark compares the real CPU backend against. No argument checks, no
// threads. Not thread-safe.
#pragma once

#include <memory>

#include "kernels/ops.h"

namespace sparsescale::bench {

std::unique_ptr<kernels::Ops> MakeReferenceOps();

}  // namespace sparsescale::bench
