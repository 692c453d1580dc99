#include "client/local_cluster.h"

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace sparsescale::client {

namespace fs = std::filesystem;
using agent::ExitInfo;
using agent::SpawnOptions;
using agent::Subprocess;

namespace {

bool IsExecutable(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec) && access(p.c_str(), X_OK) == 0;
}

// The last `max_bytes` of a log file, for error messages.
std::string LogTail(const std::string& path, size_t max_bytes = 2000) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string text = buffer.str();
  return text.size() > max_bytes ? text.substr(text.size() - max_bytes) : text;
}

}  // namespace

std::string DialAddress(const std::string& listen_address) {
  const size_t colon = listen_address.rfind(':');
  if (colon == std::string::npos) {
    return listen_address;
  }
  const std::string host = listen_address.substr(0, colon);
  const std::string port = listen_address.substr(colon + 1);
  if (host == "0.0.0.0" || host.empty()) {
    return "127.0.0.1:" + port;
  }
  if (host == "[::]" || host == "::") {
    return "[::1]:" + port;
  }
  return listen_address;
}

absl::StatusOr<std::string> FindBinary(const std::string& name) {
  std::vector<fs::path> candidates;
  if (const char* dir = std::getenv("SPARSESCALE_BIN_DIR"); dir != nullptr && *dir != '\0') {
    candidates.push_back(fs::path(dir) / name);
  }
  if (absl::StatusOr<std::string> self = agent::SelfExecutablePath(); self.ok()) {
    fs::path dir = fs::path(*self).parent_path();
    for (const fs::path& up : {dir, dir.parent_path(), dir.parent_path().parent_path()}) {
      candidates.push_back(up / name);
      candidates.push_back(up / "coordinator" / name);
      candidates.push_back(up / "worker" / name);
      candidates.push_back(up / "client" / name);
    }
  }
  if (const char* build = std::getenv("SPARSESCALE_BINARY_DIR");
      build != nullptr && *build != '\0') {
    candidates.push_back(fs::path(build) / "coordinator" / name);
    candidates.push_back(fs::path(build) / "worker" / name);
    candidates.push_back(fs::path(build) / "client" / name);
  }
  if (const char* path = std::getenv("PATH"); path != nullptr) {
    for (absl::string_view dir : absl::StrSplit(path, ':', absl::SkipEmpty())) {
      candidates.push_back(fs::path(std::string(dir)) / name);
    }
  }
  std::vector<std::string> looked;
  for (const fs::path& c : candidates) {
    if (IsExecutable(c)) {
      return fs::absolute(c).lexically_normal().string();
    }
    looked.push_back(c.lexically_normal().string());
  }
  return absl::NotFoundError(absl::StrCat(
      "cannot find ", name, " (build it first; looked in ",
      absl::StrJoin(looked.begin(), looked.begin() + std::min<size_t>(looked.size(), 9), ", "),
      ", ... and PATH)"));
}

absl::StatusOr<std::unique_ptr<LocalCluster>> LocalCluster::Start(LocalClusterOptions options) {
  if (options.work_dir.empty()) {
    return absl::InvalidArgumentError("local cluster: work_dir is required");
  }
  std::error_code ec;
  fs::create_directories(fs::path(options.work_dir) / "logs", ec);
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat("--work-dir: cannot create ", options.work_dir, ": ", ec.message()));
  }
  options.work_dir = fs::absolute(options.work_dir).string();
  if (options.db_path.empty()) {
    options.db_path = (fs::path(options.work_dir) / "coordinator.db").string();
  }
  for (auto [bin, name] : {std::pair{&options.coordinator_bin, "sparsescale-coordinator"},
                           std::pair{&options.worker_bin, "sparsescale-worker"}}) {
    if (bin->empty()) {
      absl::StatusOr<std::string> found = FindBinary(name);
      if (!found.ok()) {
        return found.status();
      }
      *bin = *found;
    }
  }
  std::unique_ptr<LocalCluster> cluster(new LocalCluster(std::move(options)));
  if (absl::Status s = cluster->StartCoordinator(); !s.ok()) {
    return s;
  }
  for (int i = 0; i < cluster->options_.workers; ++i) {
    if (absl::StatusOr<int> w = cluster->AddWorker(); !w.ok()) {
      return w.status();
    }
  }
  return cluster;
}

LocalCluster::~LocalCluster() { Stop().IgnoreError(); }

std::string LocalCluster::LogPath(const std::string& name) const {
  return (fs::path(options_.work_dir) / "logs" / (name + ".log")).string();
}

absl::Status LocalCluster::StartCoordinator() {
  if (coordinator_.has_value() && !coordinator_->TryWait().has_value()) {
    return absl::FailedPreconditionError("the coordinator is already running");
  }
  std::string log = LogPath("coordinator");
  std::error_code ec;
  uintmax_t log_offset = fs::exists(log, ec) ? fs::file_size(log, ec) : 0;
  SpawnOptions spawn;
  spawn.argv = {options_.coordinator_bin, "--db", options_.db_path, "--listen",
                absl::StrCat(options_.host, ":", options_.port)};
  if (!options_.http_listen.empty()) {
    spawn.argv.insert(spawn.argv.end(), {"--http-listen", options_.http_listen});
  }
  spawn.argv.insert(spawn.argv.end(), options_.coordinator_args.begin(),
                    options_.coordinator_args.end());
  spawn.stdout_path = log;
  spawn.stderr_path = log;
  spawn.new_process_group = true;
  spawn.kill_on_parent_death = true;
  absl::StatusOr<Subprocess> child = Subprocess::Spawn(spawn);
  if (!child.ok()) {
    return child.status();
  }
  coordinator_ = std::move(*child);
  absl::StatusOr<std::string> address = WaitForAddress(log, log_offset);
  if (!address.ok()) {
    return address.status();
  }
  address_ = DialAddress(*address);
  // A restart reuses the port, so that workers find the coordinator again.
  options_.port = std::stoi(address_.substr(address_.rfind(':') + 1));
  if (!options_.http_listen.empty()) {
    absl::StatusOr<std::string> http = FindHttpAddress(log, log_offset);
    if (!http.ok()) {
      return http.status();
    }
    http_address_ = *http;
    options_.http_listen = http_address_;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> LocalCluster::FindHttpAddress(const std::string& log,
                                                          uintmax_t offset) {
  static constexpr char kMarker[] = "http on ";
  std::ifstream in(log);
  in.seekg(static_cast<std::streamoff>(offset));
  std::string line;
  while (std::getline(in, line)) {
    const size_t at = line.find(kMarker);
    if (at != std::string::npos) {
      return line.substr(at + sizeof(kMarker) - 1);
    }
  }
  return absl::UnavailableError(
      absl::StrCat("the coordinator did not log its http address:\n", LogTail(log)));
}

// Waits for the coordinator's "listening on HOST:PORT" line in its log (after `offset`).
absl::StatusOr<std::string> LocalCluster::WaitForAddress(const std::string& log, uintmax_t offset) {
  static constexpr char kMarker[] = "listening on ";
  auto deadline = std::chrono::steady_clock::now() + options_.start_timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream in(log);
    in.seekg(static_cast<std::streamoff>(offset));
    std::string line;
    while (std::getline(in, line)) {
      size_t at = line.find(kMarker);
      if (at != std::string::npos && !in.eof()) {  // a complete line
        return line.substr(at + sizeof(kMarker) - 1);
      }
    }
    if (std::optional<ExitInfo> exit = coordinator_->TryWait(); exit.has_value()) {
      return absl::UnavailableError(
          absl::StrCat("the coordinator exited (", exit->ToString(), "):\n", LogTail(log)));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  coordinator_->Signal(SIGKILL);
  return absl::UnavailableError(absl::StrCat("the coordinator did not start serving within ",
                                             options_.start_timeout.count(), " ms:\n",
                                             LogTail(log)));
}

void LocalCluster::KillCoordinator(int sig) {
  if (coordinator_.has_value()) {
    coordinator_->Signal(sig);
    coordinator_->Wait();
  }
}

absl::StatusOr<int> LocalCluster::AddWorker() {
  int index = static_cast<int>(workers_.size());
  std::string name = absl::StrCat("worker-", index);
  SpawnOptions spawn;
  spawn.argv = {options_.worker_bin,
                "--coordinator",
                address_,
                "--name",
                name,
                "--device",
                options_.device,
                "--threads",
                absl::StrCat(options_.threads),
                "--work-dir",
                (fs::path(options_.work_dir) / name).string()};
  if (options_.slots > 0) {
    spawn.argv.insert(spawn.argv.end(), {"--slots", absl::StrCat(options_.slots)});
  }
  spawn.argv.insert(spawn.argv.end(), options_.worker_args.begin(), options_.worker_args.end());
  spawn.stdout_path = LogPath(name);
  spawn.stderr_path = LogPath(name);
  spawn.new_process_group = true;
  spawn.kill_on_parent_death = true;
  absl::StatusOr<Subprocess> child = Subprocess::Spawn(spawn);
  if (!child.ok()) {
    return child.status();
  }
  workers_.emplace_back(std::move(*child));
  return index;
}

void LocalCluster::SignalWorker(int index, int sig) {
  if (index >= 0 && index < worker_count() && workers_[index].has_value()) {
    // The worker only, not its process group: a SIGKILL must leave its job process to die of
    // parent death (as on a real machine), not take it down directly.
    kill(workers_[index]->pid(), sig);
  }
}

bool LocalCluster::WorkerRunning(int index) {
  return index >= 0 && index < worker_count() && workers_[index].has_value() &&
         !workers_[index]->TryWait().has_value();
}

std::optional<ExitInfo> LocalCluster::WaitWorker(int index, std::chrono::milliseconds timeout) {
  if (index < 0 || index >= worker_count() || !workers_[index].has_value()) {
    return std::nullopt;
  }
  return workers_[index]->WaitFor(timeout);
}

absl::Status LocalCluster::Stop(std::chrono::milliseconds drain_timeout) {
  for (auto& w : workers_) {
    if (w.has_value()) {
      w->Signal(SIGTERM);
    }
  }
  std::vector<std::string> unclean;
  auto deadline = std::chrono::steady_clock::now() + drain_timeout;
  for (size_t i = 0; i < workers_.size(); ++i) {
    auto& w = workers_[i];
    if (!w.has_value()) {
      continue;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    std::optional<ExitInfo> exit = w->WaitFor(std::max(left, std::chrono::milliseconds(0)));
    if (!exit.has_value()) {
      w->Signal(SIGKILL);
      exit = w->Wait();
    }
    // A worker killed earlier on purpose (tests) counts as stopped.
    if (!exit->ok() && exit->signal != SIGKILL) {
      unclean.push_back(absl::StrCat("worker-", i, ": ", exit->ToString()));
    }
    w.reset();
  }
  workers_.clear();
  if (coordinator_.has_value()) {
    coordinator_->Terminate(std::chrono::seconds(10));
    coordinator_.reset();
  }
  if (!unclean.empty()) {
    return absl::InternalError(absl::StrCat("unclean stop: ", absl::StrJoin(unclean, "; ")));
  }
  return absl::OkStatus();
}

}  // namespace sparsescale::client
