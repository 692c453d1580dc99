// A `sparsescale-coordinator` child process on 127.0.0.1 port 0, for the tests that need a real
// crash (SIGKILL: no destructor runs, nothing queued is committed) rather than a clean shutdown.
// Adapted from the coordinator benchmark's process helper (bench/coordinator/bench_util.h).
// Not thread-safe.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace sparsescale::coordinator::testing {

class CoordinatorProcess {
 public:
  // Starts the binary built with this test (`--db db --listen 127.0.0.1:0` plus `flags`) and
  // waits for its "listening on" line. Unavailable when it exits or says something else first.
  static absl::StatusOr<std::unique_ptr<CoordinatorProcess>> Start(
      const std::string& db, const std::vector<std::string>& flags);
  ~CoordinatorProcess();  // Crash() if still running
  CoordinatorProcess(const CoordinatorProcess&) = delete;
  CoordinatorProcess& operator=(const CoordinatorProcess&) = delete;

  const std::string& address() const { return address_; }
  // SIGKILL, then reap the child.
  void Crash();

 private:
  CoordinatorProcess() = default;

  pid_t pid_ = -1;
  std::string address_;
};

}  // namespace sparsescale::coordinator::testing
