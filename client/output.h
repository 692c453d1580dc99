// Human-readable output of the CLI: aligned text tables, state names, durations, and the JSON
// form of API messages for --json. Pure functions; thread-safe.
#pragma once

#include <google/protobuf/message.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "sparsescale/v1/coordinator.pb.h"

namespace sparsescale::client {

// A text table: a header row, then rows; columns are padded to their widest cell and
// separated by two spaces. Cells that look like numbers are right-aligned.
class Table {
 public:
  explicit Table(std::vector<std::string> header);
  void AddRow(std::vector<std::string> cells);  // missing cells are blank
  std::string Render() const;
  size_t rows() const { return rows_.size(); }

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

// "QUEUED", "RUNNING", ... (the enum name without its prefix).
std::string StateName(sparsescale::v1::JobState state);
// Accepts "queued", "QUEUED" or "JOB_STATE_QUEUED". InvalidArgument listing the valid names.
absl::StatusOr<sparsescale::v1::JobState> ParseState(const std::string& text);
bool IsFinal(sparsescale::v1::JobState state);

// "42s", "3m05s", "2h07m"; "-" for a negative or non-finite value.
std::string FormatDuration(double seconds);
// Fixed 4 decimals, or "-" when absent.
std::string FormatLoss(std::optional<double> loss);

// A message as JSON (proto field names; 2-space indentation; default values included).
std::string MessageToJson(const google::protobuf::Message& message);

std::string JobsTable(const std::vector<sparsescale::v1::Job>& jobs);
std::string JobDetail(const sparsescale::v1::Job& job);
std::string SweepsTable(const std::vector<sparsescale::v1::Sweep>& sweeps);
std::string SweepDetail(const sparsescale::v1::Sweep& sweep);
// "1.5 MiB", "512 B"; "?" for a negative (unknown) size.
std::string FormatBytes(int64_t bytes);
// One line while the store writes ("store: ok, disk free ..."); a WARNING block naming the
// error, since when and the effect while it cannot.
std::string StoreHealthText(const sparsescale::v1::StoreHealth& store);
std::string ClusterStatusText(const sparsescale::v1::GetClusterStatusResponse& status);
std::string CurveTable(const sparsescale::v1::GetLossCurveResponse& curve);
std::string CheckpointsTable(const sparsescale::v1::ListCheckpointsResponse& checkpoints);

// Short description of a job's configuration: "d=64 L=2 S=0.75 D=1.2M".
std::string JobShape(const sparsescale::v1::JobSpec& spec);

}  // namespace sparsescale::client
