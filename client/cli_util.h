// Shared plumbing of the coordinator-facing CLI commands: exit codes from statuses, failing a
// command with a message, the --coordinator/--json flags, and reading input files.
// Functions are thread-safe; Fail() throws CLI::RuntimeError, caught by client/main.cc.
#pragma once

#include <CLI/CLI.hpp>
#include <atomic>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "client/coordinator_client.h"

namespace sparsescale::client {

// kExitUsage for INVALID_ARGUMENT / OUT_OF_RANGE, kExitUnavailable for UNAVAILABLE /
// DEADLINE_EXCEEDED, kExitNotFound for NOT_FOUND, kExitFailure otherwise (0 for OK).
int ExitCodeFor(const absl::Status& status);

// Prints "sparsescale: <message>" to stderr and ends the command with ExitCodeFor(status).
[[noreturn]] void Fail(const absl::Status& status);

// The value, or Fail() with the error.
template <typename T>
T OrFail(absl::StatusOr<T> value) {
  if (!value.ok()) {
    Fail(value.status());
  }
  return *std::move(value);
}

struct CommonFlags {
  std::string coordinator;  // HOST:PORT
  bool json = false;
  // TLS and token (transport/channel_security.h says where else they come from).
  std::string token;
  std::string token_file;
  std::string tls_ca;
  std::string tls_cert;
  std::string tls_key;
};

// Adds --coordinator (default: DefaultCoordinatorAddress()), --json, --token, --token-file,
// --tls-ca, --tls-cert and --tls-key to `command`.
void AddCommonFlags(CLI::App* command, CommonFlags* flags);

// The client options for `flags` (token and TLS resolved with the environment). Fail()s with
// the flag's name when a file cannot be read.
ClientOptions ConnectOptions(const CommonFlags& flags);

// Blocks SIGINT and SIGTERM in this thread (and the threads it starts later) and turns them
// into a flag, so that a long-running command can stop its child processes in order.
class StopSignal {
 public:
  StopSignal();
  ~StopSignal();
  StopSignal(const StopSignal&) = delete;
  StopSignal& operator=(const StopSignal&) = delete;
  const std::atomic<bool>& stopped() const { return stopped_; }
  int signal() const { return signal_.load(); }

 private:
  std::atomic<bool> stopped_{false};
  std::atomic<bool> done_{false};
  std::atomic<int> signal_{0};
  std::thread thread_;
};

// Reads a whole file. NotFound naming it when it cannot be opened.
absl::StatusOr<std::string> ReadTextFile(const std::string& path);

}  // namespace sparsescale::client
