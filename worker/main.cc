// `sparsescale-worker`: the worker daemon. It dials the coordinator, pulls jobs and runs each
// in a child process (`sparsescale-worker run-job ...`, a hidden mode of this same binary).
// SIGTERM or SIGINT drains: running jobs checkpoint, upload and release their leases, then the
// daemon exits 0.
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <filesystem>
#include <regex>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "worker/agent/agent.h"
#include "worker/agent/coordinator_rendezvous.h"
#include "worker/agent/run_job.h"
#include "worker/agent/subprocess.h"
#include "worker/agent/worker_rpc.h"

namespace {

namespace agent = sparsescale::agent;
namespace fs = std::filesystem;

constexpr int kExitUsage = 2;

struct DaemonFlags {
  std::string coordinator;
  std::string name;
  int slots = 1;
  std::string device = "auto";
  std::string work_dir;
  int threads = 0;
  std::string log_level = "info";
  int64_t log_max_bytes = int64_t{1} << 20;
  // TLS and token (transport/channel_security.h); job processes get them by environment.
  agent::GrpcWorkerRpcOptions rpc;
  std::string token_file;
};

// Counts /dev/nvidia<N> device nodes: the daemon itself never loads CUDA (each job process
// does), and the node count is what the driver exposes to this container or machine.
int CountNvidiaDevices() {
  int count = 0;
  std::error_code ec;
  static const std::regex kNode("nvidia[0-9]+");
  for (const auto& entry : fs::directory_iterator("/dev", ec)) {
    if (std::regex_match(entry.path().filename().string(), kNode)) {
      ++count;
    }
  }
  return count;
}

std::string DefaultName() {
  char host[256] = "worker";
  gethostname(host, sizeof(host) - 1);
  return absl::StrCat(host, "-", getpid());
}

int RunDaemon(const DaemonFlags& flags) {
  agent::AgentOptions options;
  options.name = flags.name.empty() ? DefaultName() : flags.name;
  options.slots = flags.slots;
  options.version = SPARSESCALE_VERSION;
  int gpus = CountNvidiaDevices();
  bool cuda = flags.device == "cuda" || (flags.device == "auto" && gpus > 0);
  options.device_kind = cuda ? "cuda" : "cpu";
  options.gpus = cuda ? gpus : 0;
  options.memory_bytes = static_cast<int64_t>(sysconf(_SC_PHYS_PAGES)) * sysconf(_SC_PAGE_SIZE);
  absl::StatusOr<std::string> exe = agent::SelfExecutablePath();
  if (!exe.ok()) {
    sparsescale::LogError("%s", exe.status().ToString());
    return 1;
  }
  options.runner.worker_exe = *exe;
  options.runner.work_dir =
      flags.work_dir.empty()
          ? (fs::temp_directory_path() / absl::StrCat("sparsescale-worker-", getpid())).string()
          : flags.work_dir;
  options.runner.device = options.device_kind;
  options.runner.threads = flags.threads;
  options.runner.coordinator = flags.coordinator;
  options.runner.log_max_bytes = flags.log_max_bytes;

  // Signals go to one thread that starts the drain; every other thread has them blocked.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  absl::StatusOr<sparsescale::transport::ChannelSecurity> security =
      sparsescale::transport::ResolveSecurity(flags.rpc.security, flags.token_file);
  if (security.ok()) {
    // Read the TLS files now, so that a missing one stops the worker with its name.
    absl::Status readable = sparsescale::transport::ChannelCredentials(*security).status();
    if (!readable.ok()) {
      security = readable;
    }
  }
  if (!security.ok()) {
    sparsescale::LogError("%s", security.status().message());
    return kExitUsage;
  }
  // Job processes (the rendezvous of multi-GPU jobs) dial the coordinator too: they inherit
  // the token and TLS files through the environment, never through their command line.
  sparsescale::transport::ExportToEnvironment(*security);
  agent::GrpcWorkerRpcOptions rpc = flags.rpc;
  rpc.security = *security;
  agent::Agent daemon(options, agent::MakeGrpcWorkerRpc(flags.coordinator, rpc));
  std::atomic<bool> done{false};
  std::thread signal_thread([&] {
    timespec poll_period{0, 200'000'000};
    while (!done.load()) {
      int sig = sigtimedwait(&signals, nullptr, &poll_period);
      if (sig > 0) {
        sparsescale::LogInfo("signal %d: draining", sig);
        daemon.Drain();
      }
    }
  });
  sparsescale::LogInfo("coordinator %s, work dir %s, device %s", flags.coordinator,
                       options.runner.work_dir, options.device_kind);
  absl::Status status = daemon.Run();
  done.store(true);
  signal_thread.join();
  if (!status.ok()) {
    sparsescale::LogError("%s", status.ToString());
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"sparsescale-worker: pulls training jobs from a sparsescale coordinator"};
  app.set_version_flag("--version", "sparsescale-worker " SPARSESCALE_VERSION);
  DaemonFlags flags;
  app.add_option("--coordinator", flags.coordinator, "coordinator address HOST:PORT");
  app.add_option("--name", flags.name, "worker name shown in status (default host-pid)");
  app.add_option("--token", flags.rpc.security.token,
                 "worker token (default: $SPARSESCALE_TOKEN); prefer --token-file");
  app.add_option("--token-file", flags.token_file,
                 "file holding the worker token (default: $SPARSESCALE_TOKEN_FILE)");
  app.add_option("--tls-ca", flags.rpc.security.tls_ca_file,
                 "verify the coordinator's certificate against this CA (PEM); enables TLS");
  app.add_option("--tls-cert", flags.rpc.security.tls_cert_file,
                 "this worker's certificate for mutual TLS (PEM)");
  app.add_option("--tls-key", flags.rpc.security.tls_key_file, "its private key (PEM)");
  app.add_option("--slots", flags.slots, "jobs run at once")->check(CLI::Range(1, 1024));
  app.add_option("--device", flags.device, "auto, cpu or cuda")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  app.add_option("--work-dir", flags.work_dir, "directory for job files (default: a temp dir)");
  app.add_option("--threads", flags.threads, "CPU threads per job (0: the job spec's)")
      ->check(CLI::Range(0, 1024));
  app.add_option("--log-level", flags.log_level, "debug, info, warning or error")
      ->check(CLI::IsMember({"debug", "info", "warning", "error"}));
  app.add_option("--job-log-max-bytes", flags.log_max_bytes,
                 "a job attempt's log kept and sent to the coordinator: its last N bytes")
      ->check(CLI::Range(int64_t{1024}, int64_t{64} << 20));

  agent::RunJobOptions job;
  CLI::App* run_job = app.add_subcommand("run-job", "run one job (used by the daemon)");
  run_job->group("");  // hidden
  run_job->add_option("--spec", job.spec_path, "JobSpec JSON")->required();
  run_job->add_option("--out", job.out_dir, "checkpoint directory")->required();
  run_job->add_option("--upload-dir", job.upload_dir, "checkpoints to upload")->required();
  run_job->add_option("--resume", job.resume_from, "checkpoint to resume from");
  run_job->add_option("--device", job.device, "auto, cpu or cuda");
  run_job->add_option("--threads", job.threads, "CPU threads");
  // Given by the daemon for every job; a multi-rank job meets through the coordinator's
  // Rendezvous RPC instead of a file (worker/agent/coordinator_rendezvous.h).
  std::string job_coordinator, job_id, job_attempt;
  run_job->add_option("--coordinator", job_coordinator,
                      "coordinator HOST:PORT carrying the rendezvous of a multi-rank job");
  run_job->add_option("--job-id", job_id, "the leased job's id (with --coordinator)");
  run_job->add_option("--attempt", job_attempt, "the lease's attempt (with --coordinator)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : kExitUsage;
  }
  // The daemon and its job processes (run-job) log as "worker". The daemon starts job processes
  // without --log-level, so they log at info and their rendezvous lines reach the job's log.
  sparsescale::SetLogComponent("worker");
  sparsescale::LogLevel level = sparsescale::LogLevel::kInfo;
  sparsescale::ParseLogLevel(flags.log_level, &level);  // checked by the flag's IsMember
  sparsescale::SetLogLevel(level);
  if (run_job->parsed()) {
    absl::StatusOr<agent::CoordinatorRendezvousFlags> rendezvous =
        agent::ParseCoordinatorRendezvousFlags(job_coordinator, job_id, job_attempt);
    if (!rendezvous.ok()) {
      sparsescale::LogError("run-job: %s", rendezvous.status().message());
      return kExitUsage;
    }
    job.coordinator = *rendezvous;
    return agent::RunJob(job);
  }
  if (flags.coordinator.empty()) {
    sparsescale::LogError("--coordinator HOST:PORT is required");
    return kExitUsage;
  }
  return RunDaemon(flags);
}
