// `sparsescale dataset upload|list|get|delete`: token shards stored in the coordinator, so that
// workers without the client's filesystem can train on them (docs/DEPLOY.md, "Datasets").
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "client/cli_util.h"
#include "client/command.h"
#include "client/coordinator_client.h"
#include "client/dataset_upload.h"
#include "client/output.h"

namespace sparsescale::cli {
namespace {

namespace v1 = sparsescale::v1;

struct DatasetFlags {
  client::CommonFlags common;
  std::string name;
  std::vector<std::string> files;
};

DatasetFlags f;

std::string StateText(v1::DatasetState state) {
  return state == v1::DATASET_STATE_READY ? "ready"
         : state == v1::DATASET_STATE_UPLOADING ? "uploading"
                                                : "unknown";
}

std::string FormatTime(int64_t unix_ms) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixMillis(unix_ms),
                          absl::UTCTimeZone());
}

// One progress line on stderr: rewritten in place on a terminal, otherwise at most every 2 s.
class ProgressLine {
 public:
  explicit ProgressLine(std::string name)
      : name_(std::move(name)), tty_(::isatty(STDERR_FILENO) != 0),
        start_(std::chrono::steady_clock::now()) {}

  void Show(const client::UploadProgress& p, bool final = false) {
    const auto now = std::chrono::steady_clock::now();
    if (!final && now - last_ < (tty_ ? std::chrono::milliseconds(200) : std::chrono::seconds(2))) {
      return;
    }
    last_ = now;
    const double s = std::chrono::duration<double>(now - start_).count();
    std::string line;
    if (p.hashing) {
      line = absl::StrCat("hashing ", name_, ": ", client::FormatBytes(p.bytes_hashed), " of ",
                          client::FormatBytes(p.bytes_total));
    } else {
      line = absl::StrCat(
          "uploading ", name_, ": ", client::FormatBytes(p.bytes_present + p.bytes_sent), " of ",
          client::FormatBytes(p.bytes_total), " (", p.chunks_sent, " chunks sent, ",
          client::FormatBytes(p.bytes_present), " already stored)",
          s > 0 ? absl::StrCat(", ", static_cast<int64_t>(p.bytes_sent / 1e6 / s), " MB/s") : "");
    }
    std::fprintf(stderr, tty_ ? "\r%-100s" : "%s\n", line.c_str());
    if (tty_ && final) {
      std::fprintf(stderr, "\n");
    }
  }

 private:
  std::string name_;
  bool tty_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_{};
};

void PrintDataset(const v1::Dataset& d, bool files) {
  std::printf("dataset %s\n  hash     %s\n  state    %s\n  size     %s in %d files\n  created  %s\n",
              d.name().c_str(), d.hash().empty() ? "-" : d.hash().c_str(),
              StateText(d.state()).c_str(), client::FormatBytes(d.total_bytes()).c_str(),
              d.file_count(), FormatTime(d.created_unix_ms()).c_str());
  if (!files || d.files().empty()) {
    return;
  }
  client::Table table({"FILE", "SIZE", "CHUNKS", "SHA256"});
  for (const v1::DatasetFile& file : d.files()) {
    table.AddRow({file.name(), client::FormatBytes(file.size_bytes()),
                  absl::StrCat(file.chunks_size()), file.sha256()});
  }
  std::printf("%s", table.Render().c_str());
}

void Upload() {
  client::CoordinatorClient c(f.common.coordinator, client::ConnectOptions(f.common));
  ProgressLine line(f.name);
  client::UploadOptions options;
  options.progress = [&line](const client::UploadProgress& p) { line.Show(p); };
  absl::StatusOr<client::UploadResult> result = client::UploadDataset(c, f.name, f.files, options);
  if (result.ok()) {
    line.Show(result->progress, /*final=*/true);
  }
  client::UploadResult done = client::OrFail(std::move(result));
  if (f.common.json) {
    std::printf("%s\n", client::MessageToJson(done.dataset).c_str());
    return;
  }
  std::printf("%s dataset %s (%s, hash %s): %lld chunks sent, %s already stored\n",
              done.created ? "stored" : "already stored:", done.dataset.name().c_str(),
              client::FormatBytes(done.dataset.total_bytes()).c_str(),
              done.dataset.hash().c_str(), static_cast<long long>(done.progress.chunks_sent),
              client::FormatBytes(done.progress.bytes_present).c_str());
}

void List() {
  client::CoordinatorClient c(f.common.coordinator, client::ConnectOptions(f.common));
  v1::ListDatasetsResponse list = client::OrFail(c.ListDatasets());
  if (f.common.json) {
    std::printf("%s\n", client::MessageToJson(list).c_str());
    return;
  }
  client::Table table({"NAME", "STATE", "SIZE", "FILES", "HASH", "CREATED"});
  for (const v1::Dataset& d : list.datasets()) {
    table.AddRow({d.name(), StateText(d.state()), client::FormatBytes(d.total_bytes()),
                  absl::StrCat(d.file_count()), d.hash().empty() ? "-" : d.hash().substr(0, 16),
                  FormatTime(d.created_unix_ms())});
  }
  std::printf("%s", table.Render().c_str());
}

void Get() {
  client::CoordinatorClient c(f.common.coordinator, client::ConnectOptions(f.common));
  v1::Dataset d = client::OrFail(c.GetDataset(f.name));
  if (f.common.json) {
    std::printf("%s\n", client::MessageToJson(d).c_str());
    return;
  }
  PrintDataset(d, /*files=*/true);
}

void Delete() {
  client::CoordinatorClient c(f.common.coordinator, client::ConnectOptions(f.common));
  v1::DeleteDatasetResponse deleted = client::OrFail(c.DeleteDataset(f.name));
  if (f.common.json) {
    std::printf("%s\n", client::MessageToJson(deleted).c_str());
    return;
  }
  std::printf("deleted dataset %s: %lld chunks (%s) freed\n", deleted.dataset().name().c_str(),
              static_cast<long long>(deleted.chunks_deleted()),
              client::FormatBytes(deleted.bytes_freed()).c_str());
}

void Install(CLI::App& root) {
  CLI::App* group = root.add_subcommand(
      "dataset", "token shards stored in the coordinator (for workers without shared storage)");
  group->require_subcommand(1);
  CLI::App* upload = group->add_subcommand(
      "upload", "upload files as dataset NAME; sends only the chunks the coordinator lacks, so "
                "running it again resumes an interrupted upload");
  upload->add_option("NAME", f.name, "dataset name (letters, digits, . _ -)")->required();
  upload->add_option("FILES", f.files, "token shards (stored under their base names)")
      ->required();
  client::AddCommonFlags(upload, &f.common);
  upload->callback([] { Upload(); });
  CLI::App* list = group->add_subcommand("list", "every dataset");
  client::AddCommonFlags(list, &f.common);
  list->callback([] { List(); });
  CLI::App* get = group->add_subcommand("get", "one dataset and its files");
  get->add_option("DATASET", f.name, "name or hash")->required();
  client::AddCommonFlags(get, &f.common);
  get->callback([] { Get(); });
  CLI::App* del = group->add_subcommand(
      "delete", "delete a dataset and the chunks no other dataset uses (refused while a queued "
                "or running job uses it)");
  del->add_option("DATASET", f.name, "name or hash")->required();
  client::AddCommonFlags(del, &f.common);
  del->callback([] { Delete(); });
}

CommandRegistrar registrar(Install);

}  // namespace
}  // namespace sparsescale::cli
