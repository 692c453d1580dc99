#include "worker/trainer/job_inputs.h"

#include <glob.h>

#include <set>

#include "common/status.h"
#include "worker/trainer/safetensors.h"
#include "worker/trainer/shard.h"

namespace sparsescale::trainer {
namespace {

using sparsescale::v1::JobSpec;

absl::Status CheckShardList(const google::protobuf::RepeatedPtrField<std::string>& patterns,
                            const std::string& field) {
  ASSIGN_OR_RETURN(std::vector<std::string> paths, ExpandShardPatterns(patterns, field));
  for (const std::string& path : paths) {
    auto tokens = ReadShardHeader(path);
    if (!tokens.ok()) {
      return absl::Status(tokens.status().code(),
                          field + ": " + std::string(tokens.status().message()));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<std::string>> ExpandShardPatterns(
    const google::protobuf::RepeatedPtrField<std::string>& patterns, const std::string& field) {
  std::set<std::string> paths;
  for (const std::string& pattern : patterns) {
    glob_t g{};
    const int rc = ::glob(pattern.c_str(), GLOB_NOSORT, nullptr, &g);
    if (rc == GLOB_NOMATCH || g.gl_pathc == 0) {
      ::globfree(&g);
      return absl::NotFoundError(field + ": no file matches \"" + pattern + "\"");
    }
    if (rc != 0) {
      ::globfree(&g);
      return absl::InvalidArgumentError(field + ": cannot expand \"" + pattern + "\"");
    }
    for (size_t i = 0; i < g.gl_pathc; ++i) {
      paths.insert(g.gl_pathv[i]);
    }
    ::globfree(&g);
  }
  return std::vector<std::string>(paths.begin(), paths.end());
}

absl::Status CheckJobInputs(const JobSpec& spec) {
  RETURN_IF_ERROR(CheckShardList(spec.data().train_shards(), "data.train_shards"));
  if (!spec.data().eval_shards().empty()) {
    RETURN_IF_ERROR(CheckShardList(spec.data().eval_shards(), "data.eval_shards"));
  }
  if (!spec.pruning().init_checkpoint().empty()) {
    auto header = SafetensorsFile::ReadHeader(spec.pruning().init_checkpoint());
    if (!header.ok()) {
      return absl::Status(header.status().code(),
                          "pruning.init_checkpoint: " + std::string(header.status().message()));
    }
  }
  return absl::OkStatus();
}

}  // namespace sparsescale::trainer
