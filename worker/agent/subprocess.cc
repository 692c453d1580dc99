#include "worker/agent/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"

extern char** environ;

namespace sparsescale::agent {
namespace {

// Everything the forked child needs, prepared before fork() so that the child calls only
// async-signal-safe functions.
struct ExecPlan {
  std::vector<char*> argv;
  std::vector<std::string> env_storage;
  std::vector<char*> envp;
};

ExecPlan MakePlan(const SpawnOptions& options) {
  ExecPlan plan;
  for (const std::string& arg : options.argv) {
    plan.argv.push_back(const_cast<char*>(arg.c_str()));
  }
  plan.argv.push_back(nullptr);
  // An extra entry replaces an inherited variable of the same name (getenv would otherwise
  // return whichever comes first).
  auto overridden = [&options](const char* entry) {
    const std::string_view e(entry);
    const std::string_view name = e.substr(0, e.find('='));
    for (const std::string& extra : options.extra_env) {
      if (std::string_view(extra).substr(0, extra.find('=')) == name) {
        return true;
      }
    }
    return false;
  };
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    if (!overridden(*e)) {
      plan.env_storage.emplace_back(*e);
    }
  }
  for (const std::string& e : options.extra_env) {
    plan.env_storage.push_back(e);
  }
  for (std::string& e : plan.env_storage) {
    plan.envp.push_back(e.data());
  }
  plan.envp.push_back(nullptr);
  return plan;
}

// Writes errno to the status pipe and exits; the parent turns it into an error.
[[noreturn]] void ChildFail(int status_fd) {
  int err = errno;
  ssize_t ignored = write(status_fd, &err, sizeof(err));
  (void)ignored;
  _exit(127);
}

bool RedirectToFile(const std::string& path, int target_fd) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    return false;
  }
  return dup2(fd, target_fd) >= 0;  // dup2 clears CLOEXEC on the target.
}

// Runs in the child between fork and exec.
[[noreturn]] void ExecChild(const SpawnOptions& options, const ExecPlan& plan, int stdout_write,
                            int status_fd, pid_t parent) {
  sigset_t none;
  sigemptyset(&none);
  pthread_sigmask(SIG_SETMASK, &none, nullptr);
  signal(SIGPIPE, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  signal(SIGINT, SIG_DFL);
  if (options.new_process_group && setpgid(0, 0) != 0) {
    ChildFail(status_fd);
  }
  if (options.kill_on_parent_death) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) {
      _exit(1);  // The parent died before prctl took effect.
    }
  }
  if (stdout_write >= 0 && dup2(stdout_write, STDOUT_FILENO) < 0) {
    ChildFail(status_fd);
  }
  if (stdout_write < 0 && !options.stdout_path.empty() &&
      !RedirectToFile(options.stdout_path, STDOUT_FILENO)) {
    ChildFail(status_fd);
  }
  if (!options.stderr_path.empty() && !RedirectToFile(options.stderr_path, STDERR_FILENO)) {
    ChildFail(status_fd);
  }
  if (!options.cwd.empty() && chdir(options.cwd.c_str()) != 0) {
    ChildFail(status_fd);
  }
  execve(plan.argv[0], plan.argv.data(), plan.envp.data());
  ChildFail(status_fd);
}

ExitInfo DecodeWaitStatus(int status) {
  ExitInfo info;
  if (WIFEXITED(status)) {
    info.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    info.signal = WTERMSIG(status);
  }
  return info;
}

}  // namespace

std::string ExitInfo::ToString() const {
  if (signal != 0) {
    return absl::StrCat("killed by signal ", signal, " (", strsignal(signal), ")");
  }
  return absl::StrCat("exit code ", exit_code);
}

absl::StatusOr<Subprocess> Subprocess::Spawn(const SpawnOptions& options) {
  if (options.argv.empty() || options.argv[0].empty()) {
    return absl::InvalidArgumentError("spawn: argv is empty");
  }
  ExecPlan plan = MakePlan(options);
  int out_pipe[2] = {-1, -1};
  if (options.capture_stdout && pipe2(out_pipe, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("spawn: pipe: ", strerror(errno)));
  }
  int status_pipe[2];
  if (pipe2(status_pipe, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("spawn: pipe: ", strerror(errno)));
  }
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    return absl::InternalError(absl::StrCat("spawn: fork: ", strerror(errno)));
  }
  if (pid == 0) {
    ExecChild(options, plan, out_pipe[1], status_pipe[1], parent);
  }
  close(status_pipe[1]);
  if (out_pipe[1] >= 0) {
    close(out_pipe[1]);
  }
  if (options.new_process_group) {
    setpgid(pid, pid);  // Also in the parent, so Signal() never races the child's setpgid.
  }
  int child_errno = 0;
  ssize_t n;
  do {
    n = read(status_pipe[0], &child_errno, sizeof(child_errno));
  } while (n < 0 && errno == EINTR);
  close(status_pipe[0]);
  Subprocess child(pid, out_pipe[0], options.new_process_group);
  if (n > 0) {
    child.Wait();
    return absl::NotFoundError(
        absl::StrCat("spawn ", options.argv[0], ": ", strerror(child_errno)));
  }
  return child;
}

Subprocess::Subprocess(pid_t pid, int stdout_fd, bool own_group)
    : pid_(pid), stdout_fd_(stdout_fd), own_group_(own_group) {}

Subprocess::Subprocess(Subprocess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      stdout_fd_(std::exchange(other.stdout_fd_, -1)),
      own_group_(other.own_group_),
      exit_(std::move(other.exit_)),
      partial_(std::move(other.partial_)) {}

Subprocess& Subprocess::operator=(Subprocess&& other) noexcept {
  if (this != &other) {
    Reset();
    pid_ = std::exchange(other.pid_, -1);
    stdout_fd_ = std::exchange(other.stdout_fd_, -1);
    own_group_ = other.own_group_;
    exit_ = std::move(other.exit_);
    partial_ = std::move(other.partial_);
  }
  return *this;
}

Subprocess::~Subprocess() { Reset(); }

void Subprocess::Reset() {
  if (pid_ > 0 && !exit_.has_value()) {
    Signal(SIGKILL);
    Wait();
  }
  CloseStdout();
  pid_ = -1;
  exit_.reset();
  partial_.clear();
}

void Subprocess::CloseStdout() {
  if (stdout_fd_ >= 0) {
    close(stdout_fd_);
    stdout_fd_ = -1;
  }
}

void Subprocess::Signal(int sig) const {
  if (pid_ <= 0 || exit_.has_value()) {
    return;
  }
  if (own_group_) {
    kill(-pid_, sig);
  } else {
    kill(pid_, sig);
  }
}

bool Subprocess::ReadLines(std::chrono::milliseconds timeout, std::vector<std::string>* lines) {
  if (stdout_fd_ < 0) {
    return false;
  }
  pollfd pfd{stdout_fd_, POLLIN, 0};
  int ready = poll(&pfd, 1, static_cast<int>(timeout.count()));
  if (ready <= 0) {
    return true;  // Timeout or EINTR: nothing yet.
  }
  char buf[16384];
  ssize_t n = read(stdout_fd_, buf, sizeof(buf));
  if (n < 0) {
    return errno == EINTR || errno == EAGAIN;
  }
  if (n == 0) {
    if (!partial_.empty()) {
      lines->push_back(std::move(partial_));
      partial_.clear();
    }
    CloseStdout();
    return false;
  }
  partial_.append(buf, static_cast<size_t>(n));
  size_t start = 0;
  for (size_t nl = partial_.find('\n'); nl != std::string::npos; nl = partial_.find('\n', start)) {
    lines->push_back(partial_.substr(start, nl - start));
    start = nl + 1;
  }
  partial_.erase(0, start);
  return true;
}

std::optional<ExitInfo> Subprocess::TryWait() {
  if (exit_.has_value() || pid_ <= 0) {
    return exit_;
  }
  int status = 0;
  pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    exit_ = DecodeWaitStatus(status);
  }
  return exit_;
}

ExitInfo Subprocess::Wait() {
  while (!exit_.has_value() && pid_ > 0) {
    int status = 0;
    pid_t r = waitpid(pid_, &status, 0);
    if (r == pid_) {
      exit_ = DecodeWaitStatus(status);
    } else if (r < 0 && errno != EINTR) {
      exit_ = ExitInfo{};  // ECHILD: someone else reaped it.
    }
  }
  return exit_.value_or(ExitInfo{});
}

std::optional<ExitInfo> Subprocess::WaitFor(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto pause = std::chrono::milliseconds(1);
  while (!TryWait().has_value()) {
    if (std::chrono::steady_clock::now() >= deadline) {
      return std::nullopt;
    }
    // waitpid has no timeout; a short, growing pause keeps this cheap and responsive.
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(50));
  }
  return exit_;
}

ExitInfo Subprocess::Terminate(std::chrono::milliseconds grace) {
  Signal(SIGTERM);
  if (auto info = WaitFor(grace)) {
    return *info;
  }
  Signal(SIGKILL);
  return Wait();
}

absl::StatusOr<std::string> SelfExecutablePath() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) {
    return absl::InternalError(absl::StrCat("readlink /proc/self/exe: ", strerror(errno)));
  }
  return std::string(buf, static_cast<size_t>(n));
}

}  // namespace sparsescale::agent
