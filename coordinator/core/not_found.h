// The NotFound answers of the core, worded once: the request field, the kind of object and its
// id ("id: job j-1 does not exist"). Pure functions; thread-safe.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace sparsescale::coordinator {

inline absl::Status NotFoundJob(const std::string& field, const std::string& id) {
  return absl::NotFoundError(absl::StrCat(field, ": job ", id, " does not exist"));
}

inline absl::Status NotFoundSweep(const std::string& field, const std::string& id) {
  return absl::NotFoundError(absl::StrCat(field, ": sweep ", id, " does not exist"));
}

}  // namespace sparsescale::coordinator
