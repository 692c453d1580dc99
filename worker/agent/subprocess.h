// A child process started with fork + exec: the worker runs every job in one (isolation, and a
// kill that always works), and `sparsescale up` runs the coordinator and workers in them.
// The child's stdout can be captured through a pipe and read line by line.
//
// A Subprocess object is owned by one thread; distinct objects are independent. Signal() and
// pid() may be called from any thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace sparsescale::agent {

struct SpawnOptions {
  std::vector<std::string> argv;  // argv[0] is the executable path (no PATH lookup).
  bool capture_stdout = false;    // stdout into a pipe read with ReadLines(); else inherited.
  std::string stdout_path;        // when not capturing: append stdout here ("" = inherit).
  std::string stderr_path;        // append stderr here ("" = inherit).
  std::string cwd;                // "" = the parent's.
  // Put the child in its own process group, so a terminal's Ctrl-C reaches only the parent,
  // which then stops its children in order.
  bool new_process_group = false;
  // Linux: the child gets SIGKILL when the thread that spawned it exits (parent death), so a
  // `kill -9` of the worker never leaves an orphaned job training.
  bool kill_on_parent_death = false;
  // "NAME=value" entries added to the environment (replacing inherited ones of that name).
  std::vector<std::string> extra_env;
};

// How a child ended.
struct ExitInfo {
  int exit_code = -1;  // when it exited normally, else -1
  int signal = 0;      // the signal that killed it, else 0
  bool ok() const { return exit_code == 0; }
  std::string ToString() const;
};

class Subprocess {
 public:
  // Starts the child. Errors: InvalidArgument (empty argv), Internal (pipe/fork failed),
  // NotFound (exec failed: the child exits 127 and this returns the errno text).
  static absl::StatusOr<Subprocess> Spawn(const SpawnOptions& options);

  Subprocess(Subprocess&& other) noexcept;
  Subprocess& operator=(Subprocess&& other) noexcept;
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;
  // Kills (SIGKILL) and reaps a child that is still running.
  ~Subprocess();

  pid_t pid() const { return pid_; }

  // Sends `sig` to the child (to its group when it has its own). No-op once reaped.
  void Signal(int sig) const;

  // Waits up to `timeout` for stdout data and appends complete lines (without the newline) to
  // `lines`. Returns false once stdout is at end of file (the child closed it or exited) and
  // every complete line has been returned; a final unterminated line is returned too.
  bool ReadLines(std::chrono::milliseconds timeout, std::vector<std::string>* lines);

  // Non-blocking: the exit info once the child has ended.
  std::optional<ExitInfo> TryWait();
  // Blocks until the child ends.
  ExitInfo Wait();
  // Waits up to `timeout`; nullopt if still running.
  std::optional<ExitInfo> WaitFor(std::chrono::milliseconds timeout);
  // SIGTERM, up to `grace` to exit, then SIGKILL. Returns the exit info.
  ExitInfo Terminate(std::chrono::milliseconds grace);

 private:
  Subprocess(pid_t pid, int stdout_fd, bool own_group);
  void CloseStdout();
  void Reset();  // kill + reap a running child, close the pipe

  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  bool own_group_ = false;
  std::optional<ExitInfo> exit_;
  std::string partial_;  // bytes after the last newline read so far
};

// The absolute path of the running executable (/proc/self/exe).
absl::StatusOr<std::string> SelfExecutablePath();

}  // namespace sparsescale::agent
