// The checks of the files a JobSpec names (shards, init checkpoint), which need the trainer's
// shard and safetensors readers; the spec's own rules are in spec/job_spec.h. Thread-safe.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sparsescale/v1/job.pb.h"

namespace sparsescale::trainer {

// Expands the glob patterns of one shard list; sorted, de-duplicated. NotFound naming `field`
// when a pattern matches nothing, InvalidArgument when it cannot be expanded.
absl::StatusOr<std::vector<std::string>> ExpandShardPatterns(
    const google::protobuf::RepeatedPtrField<std::string>& patterns, const std::string& field);

// Checks the files a spec names: every shard pattern matches, every shard header is valid
// (magic, version, size), there are enough tokens for one window, and init_checkpoint (if
// any) has a readable safetensors header. Errors name the field and file.
absl::Status CheckJobInputs(const sparsescale::v1::JobSpec& spec);

}  // namespace sparsescale::trainer
