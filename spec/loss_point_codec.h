// The text forms of a loss point (v1::LossPoint, the one definition of the record wherever it
// leaves a process): one line of JSON through protobuf's JSON mapping (points.jsonl of
// `sparsescale train`, the worker's job process pipe) and CSV columns (points.csv, the sweep
// export). Both follow the proto's fields in declaration order, so a field added to LossPoint
// appears in every form without a change here. Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "sparsescale/v1/coordinator.pb.h"

namespace sparsescale::spec {

// One line of JSON (no newline), every field present except an unset eval_loss:
//   {"step":"12","tokens":"1536","train_loss":3.1,"eval_loss":3.2,"sparsity":0.5,...}
std::string LossPointToJson(const sparsescale::v1::LossPoint& point);

// Reads one line of LossPointToJson, and also the lines written before it (plain numbers for
// the integers, "eval_loss":null). InvalidArgument naming protobuf's reason otherwise.
absl::StatusOr<sparsescale::v1::LossPoint> LossPointFromJson(std::string_view json);

// The CSV column names, "step,tokens,train_loss,eval_loss,...,wall_s" (no newline).
std::string LossPointCsvHeader();

// One point's CSV values in the header's order (no newline): integers in decimal, doubles with
// 17 significant digits (they read back exactly), an unset eval_loss as an empty field.
std::string LossPointCsvRow(const sparsescale::v1::LossPoint& point);

}  // namespace sparsescale::spec
