// Protobuf's JSON mapping as one-line text, the form every message takes where it crosses a
// process outside gRPC (job configs, the worker's job process pipe, points.jsonl): proto field
// names, doubles that read back exactly, NaN and infinities as "NaN" / "Infinity", 64-bit
// integers as strings (numbers are read too). Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "google/protobuf/message.h"

namespace sparsescale::spec {

// One line of JSON (no newline). With `print_defaults`, fields without presence are printed
// even when they hold their default value (a reader sees every column).
std::string ToJsonLine(const google::protobuf::Message& message, bool print_defaults);

// Parses `json` into `message` (cleared first). Unknown fields are an error. InvalidArgument
// with protobuf's reason ("... widht ...") otherwise.
absl::Status FromJson(std::string_view json, google::protobuf::Message* message);

}  // namespace sparsescale::spec
