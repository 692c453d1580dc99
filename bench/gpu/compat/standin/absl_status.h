// Stand-in for absl::Status (GPU-only builds on machines without Abseil). It implements only
// what sparsescale's common/ and kernels/ use, with the canonical codes (gRPC's numbers).
// Thread-compatible, like the real one.
#pragma once

#include <ostream>
#include <string>
#include <string_view>
#include <utility>

#include "absl_string_view.h"

namespace absl {

enum class StatusCode : int {
  kOk = 0,
  kCancelled = 1,
  kUnknown = 2,
  kInvalidArgument = 3,
  kDeadlineExceeded = 4,
  kNotFound = 5,
  kAlreadyExists = 6,
  kPermissionDenied = 7,
  kResourceExhausted = 8,
  kFailedPrecondition = 9,
  kAborted = 10,
  kOutOfRange = 11,
  kUnimplemented = 12,
  kInternal = 13,
  kUnavailable = 14,
  kDataLoss = 15,
  kUnauthenticated = 16,
};

inline std::string StatusCodeToString(StatusCode code) {
  static const char* const kNames[] = {"OK",
                                       "CANCELLED",
                                       "UNKNOWN",
                                       "INVALID_ARGUMENT",
                                       "DEADLINE_EXCEEDED",
                                       "NOT_FOUND",
                                       "ALREADY_EXISTS",
                                       "PERMISSION_DENIED",
                                       "RESOURCE_EXHAUSTED",
                                       "FAILED_PRECONDITION",
                                       "ABORTED",
                                       "OUT_OF_RANGE",
                                       "UNIMPLEMENTED",
                                       "INTERNAL",
                                       "UNAVAILABLE",
                                       "DATA_LOSS",
                                       "UNAUTHENTICATED"};
  const int i = static_cast<int>(code);
  return (i >= 0 && i <= 16) ? kNames[i] : "UNKNOWN";
}

class Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string_view message)
      : code_(code), message_(code == StatusCode::kOk ? "" : std::string(message)) {}

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  int raw_code() const { return static_cast<int>(code_); }
  std::string_view message() const { return message_; }
  std::string ToString() const { return ok() ? "OK" : StatusCodeToString(code_) + ": " + message_; }
  void IgnoreError() const {}
  friend bool operator==(const Status& a, const Status& b) {
    return a.code_ == b.code_ && a.message_ == b.message_;
  }
  friend bool operator!=(const Status& a, const Status& b) { return !(a == b); }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline std::ostream& operator<<(std::ostream& out, const Status& s) { return out << s.ToString(); }
inline Status OkStatus() { return Status(); }

#define SS_ABSL_COMPAT_ERROR_(Name)                                                        \
  inline Status Name##Error(std::string_view m) { return Status(StatusCode::k##Name, m); } \
  inline bool Is##Name(const Status& s) { return s.code() == StatusCode::k##Name; }
SS_ABSL_COMPAT_ERROR_(Cancelled)
SS_ABSL_COMPAT_ERROR_(Unknown)
SS_ABSL_COMPAT_ERROR_(InvalidArgument)
SS_ABSL_COMPAT_ERROR_(DeadlineExceeded)
SS_ABSL_COMPAT_ERROR_(NotFound)
SS_ABSL_COMPAT_ERROR_(AlreadyExists)
SS_ABSL_COMPAT_ERROR_(PermissionDenied)
SS_ABSL_COMPAT_ERROR_(ResourceExhausted)
SS_ABSL_COMPAT_ERROR_(FailedPrecondition)
SS_ABSL_COMPAT_ERROR_(Aborted)
SS_ABSL_COMPAT_ERROR_(OutOfRange)
SS_ABSL_COMPAT_ERROR_(Unimplemented)
SS_ABSL_COMPAT_ERROR_(Internal)
SS_ABSL_COMPAT_ERROR_(Unavailable)
SS_ABSL_COMPAT_ERROR_(DataLoss)
SS_ABSL_COMPAT_ERROR_(Unauthenticated)
#undef SS_ABSL_COMPAT_ERROR_

}  // namespace absl
