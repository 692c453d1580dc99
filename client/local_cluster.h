// A coordinator and K workers as child processes on this machine: the embedded default behind
// `sparsescale up` and `sparsescale study`, and the harness of the end-to-end tests (which
// kill and restart the pieces). Each child runs in its own process group, so a terminal's
// Ctrl-C reaches only the parent, which then stops them in order: workers drain first (their
// jobs checkpoint and release their leases), then the coordinator. Logs go to
// work_dir/logs/*.log.
//
// Not thread-safe: owned by one thread (which must outlive the children: they are killed when
// it exits).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "worker/agent/subprocess.h"

namespace sparsescale::client {

struct LocalClusterOptions {
  std::string work_dir;  // required: logs/, worker-<i>/ and (by default) coordinator.db
  std::string db_path;   // default work_dir/coordinator.db
  // The coordinator's --listen HOST:PORT. HOST may be a name ("localhost": the workers then
  // dial that name) or a wildcard (0.0.0.0, [::]: other machines may dial in; the local workers
  // and address() use loopback).
  std::string host = "127.0.0.1";
  int port = 0;  // 0 picks a free port (kept across coordinator restarts)
  int workers = 2;
  int slots = 0;  // per worker; 0: the worker's own default (one per GPU it offers, else 1)
  std::string device = "auto";
  int threads = 0;                            // CPU threads per job; 0 = the job spec's
  std::string coordinator_bin;                // default: FindBinary("sparsescale-coordinator")
  std::string worker_bin;                     // default: FindBinary("sparsescale-worker")
  std::vector<std::string> coordinator_args;  // extra flags, e.g. --lease-ttl-ms 3000
  // The coordinator's dashboard (--http-listen HOST:PORT); empty: off. Port 0 picks a free one
  // (kept across coordinator restarts).
  std::string http_listen;
  std::vector<std::string> worker_args;
  std::chrono::milliseconds start_timeout{30000};
};

class LocalCluster {
 public:
  // Starts the coordinator, waits until it serves, then starts the workers. Errors: NotFound
  // (a binary), Unavailable (the coordinator exited or did not serve in time; the message
  // carries the end of its log).
  static absl::StatusOr<std::unique_ptr<LocalCluster>> Start(LocalClusterOptions options);
  ~LocalCluster();  // Stop()

  // Where the workers and clients on this machine dial the coordinator (DialAddress).
  const std::string& address() const { return address_; }
  // The dashboard's HOST:PORT ("" when options().http_listen is empty).
  const std::string& http_address() const { return http_address_; }
  const LocalClusterOptions& options() const { return options_; }

  // The coordinator alone (tests): kill it (SIGKILL by default) and start it again on the
  // same port and database.
  void KillCoordinator(int sig);
  absl::Status StartCoordinator();

  // Workers, by index. AddWorker returns the new index.
  absl::StatusOr<int> AddWorker();
  int worker_count() const { return static_cast<int>(workers_.size()); }
  void SignalWorker(int index, int sig);
  bool WorkerRunning(int index);
  // Waits for worker `index` to exit; nullopt on timeout.
  std::optional<agent::ExitInfo> WaitWorker(int index, std::chrono::milliseconds timeout);

  // Drains the workers (SIGTERM; SIGKILL after drain_timeout), then stops the coordinator.
  // Returns an error naming any worker that did not exit cleanly.
  absl::Status Stop(std::chrono::milliseconds drain_timeout = std::chrono::seconds(60));

  std::string LogPath(const std::string& name) const;

 private:
  explicit LocalCluster(LocalClusterOptions options) : options_(std::move(options)) {}
  absl::StatusOr<std::string> WaitForAddress(const std::string& log, uintmax_t offset);
  // The "http on HOST:PORT" line the coordinator logged after `offset` (before it printed its
  // gRPC address, so it is there once WaitForAddress returned).
  absl::StatusOr<std::string> FindHttpAddress(const std::string& log, uintmax_t offset);

  LocalClusterOptions options_;
  std::string address_;
  std::string http_address_;
  std::optional<agent::Subprocess> coordinator_;
  std::vector<std::optional<agent::Subprocess>> workers_;
};

// The address to dial for a server listening on `listen_address` (HOST:PORT): a wildcard
// host (0.0.0.0, [::], empty) becomes loopback of the same family; anything else is returned
// as it is.
std::string DialAddress(const std::string& listen_address);

// Finds an executable of this project: $SPARSESCALE_BIN_DIR, next to the running executable,
// the build tree's coordinator/, worker/ and client/ folders seen from it, $SPARSESCALE_BINARY_DIR,
// then PATH. NotFound listing where it looked.
absl::StatusOr<std::string> FindBinary(const std::string& name);

}  // namespace sparsescale::client
