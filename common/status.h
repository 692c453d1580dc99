// Status helpers shared by every module: Debian's abseil (20220623) has no
// ABSL_RETURN_IF_ERROR, so the two macros the codebase uses are defined once here.
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define SS_STATUS_CONCAT_INNER_(a, b) a##b
#define SS_STATUS_CONCAT_(a, b) SS_STATUS_CONCAT_INNER_(a, b)

// Returns from the enclosing function when `expr` (an absl::Status) is not OK.
#define RETURN_IF_ERROR(expr)                          \
  do {                                                 \
    ::absl::Status ss_status_tmp_ = (expr);            \
    if (!ss_status_tmp_.ok()) return ss_status_tmp_;   \
  } while (false)

// `ASSIGN_OR_RETURN(auto x, StatusOrExpr())`: binds the value or returns the error.
#define ASSIGN_OR_RETURN(lhs, rexpr) \
  ASSIGN_OR_RETURN_IMPL_(SS_STATUS_CONCAT_(ss_statusor_, __LINE__), lhs, rexpr)

#define ASSIGN_OR_RETURN_IMPL_(tmp, lhs, rexpr) \
  auto tmp = (rexpr);                           \
  if (!tmp.ok()) return tmp.status();           \
  lhs = std::move(tmp).value()

// Crashes with file and line when an invariant is broken (never for expected failures).
#define SS_CHECK(cond)                                                              \
  do {                                                                              \
    if (!(cond)) ::sparsescale::CheckFailed(__FILE__, __LINE__, #cond);             \
  } while (false)

namespace sparsescale {
[[noreturn]] void CheckFailed(const char* file, int line, const char* cond);
}  // namespace sparsescale
