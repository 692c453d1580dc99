#include "worker/agent/rank_launcher.h"

#include <filesystem>
#include <fstream>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace sparsescale::agent {
namespace {

std::string LastLine(const std::string& path) {
  std::ifstream in(path);
  std::string line, last;
  while (std::getline(in, line)) {
    if (!line.empty()) {
      last = line;
    }
  }
  return last;
}

}  // namespace

absl::StatusOr<std::vector<std::string>> GpusForRanks(int world_size, const char* visible) {
  std::vector<std::string> gpus;
  if (visible == nullptr || *visible == '\0') {
    for (int r = 0; r < world_size; ++r) {
      gpus.push_back(absl::StrCat(r));
    }
    return gpus;
  }
  for (absl::string_view id : absl::StrSplit(visible, ',', absl::SkipWhitespace())) {
    gpus.emplace_back(id);
  }
  if (gpus.size() < static_cast<size_t>(world_size)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "gpus: the job has ", world_size, " data-parallel ranks but CUDA_VISIBLE_DEVICES=\"",
        visible, "\" names ", gpus.size(), " device(s)"));
  }
  gpus.resize(static_cast<size_t>(world_size));
  return gpus;
}

absl::StatusOr<RankGroup> RankGroup::Launch(const RankLaunchOptions& options) {
  RankGroup group;
  group.first_rank_ = options.first_rank;
  std::error_code ec;
  std::filesystem::create_directories(options.log_dir, ec);
  const int count = options.rank_count > 0 ? options.rank_count : options.world_size;
  for (int r = options.first_rank + 1; r < options.first_rank + count; ++r) {
    SpawnOptions spawn;
    spawn.argv = options.argv;
    const std::string log =
        (std::filesystem::path(options.log_dir) / absl::StrCat("rank", r, ".log")).string();
    std::filesystem::remove(log, ec);
    spawn.stdout_path = log;
    spawn.stderr_path = log;
    spawn.kill_on_parent_death = true;
    spawn.extra_env = {absl::StrCat("SPARSESCALE_RANK=", r),
                       absl::StrCat("SPARSESCALE_WORLD_SIZE=", options.world_size)};
    if (!options.rendezvous_path.empty()) {
      spawn.extra_env.push_back("SPARSESCALE_RENDEZVOUS=file:" + options.rendezvous_path);
    }
    if (!options.gpus.empty()) {
      spawn.extra_env.push_back("CUDA_VISIBLE_DEVICES=" + options.gpus[static_cast<size_t>(r - options.first_rank)]);
    }
    absl::StatusOr<Subprocess> child = Subprocess::Spawn(spawn);
    if (!child.ok()) {
      return absl::Status(child.status().code(),
                          absl::StrCat("starting rank ", r, ": ", child.status().message()));
    }
    group.ranks_.push_back(std::move(*child));
    group.logs_.push_back(log);
  }
  return group;
}

std::string RankGroup::Finish(std::chrono::milliseconds grace) {
  const auto deadline = std::chrono::steady_clock::now() + grace;
  std::vector<std::string> failures;
  for (size_t i = 0; i < ranks_.size(); ++i) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    std::optional<ExitInfo> info = ranks_[i].WaitFor(std::max(left, std::chrono::milliseconds(0)));
    if (!info.has_value()) {
      info = ranks_[i].Terminate(std::chrono::milliseconds(2000));
    }
    if (!info->ok()) {
      const std::string last = LastLine(logs_[i]);
      failures.push_back(absl::StrCat("rank ", first_rank_ + static_cast<int>(i) + 1, ": ", info->ToString(),
                                      last.empty() ? "" : " (" + last + ")"));
    }
  }
  ranks_.clear();
  return absl::StrJoin(failures, "; ");
}

}  // namespace sparsescale::agent
