// What makes two requests with one request id the same request, for the idempotency ledger.
// Pure function; thread-safe.
#pragma once

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/sha256.h"
#include "coordinator/core/job_rules.h"

namespace sparsescale::coordinator {

// The method name plus a hash of the request without its request id: a reused id with a
// different body is a conflict, the same body a retry. Stored in the `requests` table, so the
// format must stay as it is.
template <typename Request>
std::string FingerprintOf(absl::string_view method, Request request) {
  request.clear_request_id();
  return absl::StrCat(method, ":", Sha256Hex(DeterministicBytes(request)));
}

}  // namespace sparsescale::coordinator
