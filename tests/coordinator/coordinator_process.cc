#include "tests/coordinator/coordinator_process.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>

#include "absl/strings/str_cat.h"

namespace sparsescale::coordinator::testing {

absl::StatusOr<std::unique_ptr<CoordinatorProcess>> CoordinatorProcess::Start(
    const std::string& db, const std::vector<std::string>& flags) {
  std::vector<std::string> args = {SPARSESCALE_COORDINATOR_BINARY, "--db", db, "--listen",
                                   "127.0.0.1:0"};
  args.insert(args.end(), flags.begin(), flags.end());
  // Built before fork(): the child of a threaded process may only call async-signal-safe
  // functions until it execs.
  std::vector<char*> argv;
  for (std::string& arg : args) {
    argv.push_back(arg.data());
  }
  argv.push_back(nullptr);
  int out[2];
  if (pipe(out) != 0) {
    return absl::InternalError("pipe failed");
  }
  std::unique_ptr<CoordinatorProcess> process(new CoordinatorProcess());
  process->pid_ = fork();
  if (process->pid_ == 0) {
    dup2(out[1], STDOUT_FILENO);
    close(out[0]);
    close(out[1]);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(out[1]);
  FILE* stream = fdopen(out[0], "r");
  char line[256] = {};
  const bool read = stream != nullptr && fgets(line, sizeof line, stream) != nullptr;
  if (stream != nullptr) {
    fclose(stream);  // the child's later stdout writes are never read
  }
  const std::string text = read ? line : "";
  const std::string prefix = "listening on ";
  if (text.rfind(prefix, 0) != 0) {
    return absl::UnavailableError(
        absl::StrCat(args[0], " did not start serving; its first line: ", text));
  }
  process->address_ = text.substr(prefix.size());
  process->address_.erase(process->address_.find_last_not_of("\r\n") + 1);
  return process;
}

CoordinatorProcess::~CoordinatorProcess() { Crash(); }

void CoordinatorProcess::Crash() {
  if (pid_ <= 0) {
    return;
  }
  kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

}  // namespace sparsescale::coordinator::testing
