// `sparsescale checkpoint list JOB` and `sparsescale checkpoint get JOB [--step S] --out FILE`
// (a resumable download: FILE.part holds the bytes so far; the SHA-256 is checked at the end).
#include <cstdio>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "client/cli_util.h"
#include "client/command.h"
#include "client/coordinator_client.h"
#include "client/output.h"

namespace sparsescale::cli {
namespace {

namespace v1 = sparsescale::v1;
using client::CommonFlags;

struct CheckpointFlags {
  CommonFlags common;
  std::string job;
  int64_t step = 0;
  std::string out;
};

void Out(const std::string& text) { std::fputs(text.c_str(), stdout); }

void List(CheckpointFlags& f) {
  client::CoordinatorClient c(f.common.coordinator, client::ConnectOptions(f.common));
  v1::ListCheckpointsResponse r = client::OrFail(c.ListCheckpoints(f.job));
  if (f.common.json) {
    Out(client::MessageToJson(r) + "\n");
    return;
  }
  Out(r.checkpoints().empty() ? absl::StrCat("job ", f.job, " has no checkpoint\n")
                              : client::CheckpointsTable(r));
}

void Get(CheckpointFlags& f) {
  std::error_code ec;
  const auto resumed = static_cast<int64_t>(std::filesystem::file_size(f.out + ".part", ec));
  client::CoordinatorClient c(f.common.coordinator, client::ConnectOptions(f.common));
  v1::CheckpointInfo info = client::OrFail(c.DownloadCheckpoint(f.job, f.step, f.out));
  if (f.common.json) {
    Out(client::MessageToJson(info) + "\n");
    return;
  }
  Out(absl::StrCat("checkpoint step ", info.step(), " of job ", f.job, ": ", info.size_bytes(),
                   " bytes, sha256 ", info.sha256(), " verified -> ", f.out,
                   ec ? "" : absl::StrCat(" (resumed after ", resumed, " bytes)"), "\n"));
}

void Install(CLI::App& root) {
  static CheckpointFlags f;
  CLI::App* group = root.add_subcommand("checkpoint", "list and download a job's checkpoints");
  group->require_subcommand(1);

  CLI::App* list = group->add_subcommand("list", "a job's stored checkpoints");
  list->add_option("JOB", f.job, "job id")->required();
  client::AddCommonFlags(list, &f.common);
  list->callback([] { List(f); });

  CLI::App* get = group->add_subcommand(
      "get", "download a checkpoint (safetensors) to a file; resumes from FILE.part");
  get->add_option("JOB", f.job, "job id")->required();
  get->add_option("--step", f.step, "the checkpoint's step (default: the latest)")
      ->check(CLI::NonNegativeNumber);
  get->add_option("--out", f.out, "file to write")->required();
  client::AddCommonFlags(get, &f.common);
  get->callback([] { Get(f); });
}

CommandRegistrar registrar(Install);

}  // namespace
}  // namespace sparsescale::cli
