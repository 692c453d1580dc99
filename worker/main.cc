// `sparsescale-worker`: the worker daemon. It dials the coordinator, pulls jobs and runs each
// in a child process (`sparsescale-worker run-job ...`, a hidden mode of this same binary).
// SIGTERM or SIGINT drains: running jobs checkpoint, upload and release their leases, then the
// daemon exits 0.
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <filesystem>
#include <string>
#include <vector>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status.h"
#include "common/log.h"
#include "common/version.h"
#include "worker/agent/advertise_address.h"
#include "worker/agent/agent.h"
#include "worker/agent/gpu_devices.h"
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
  int slots = 0;  // 0: one per GPU on a cuda worker, else 1
  std::string device = "auto";
  std::string gpus = "all";
  int fake_gpus = -1;  // tests: pretend devices 0..N-1 exist
  int protocol_version = 0;  // tests: pretend to speak another worker protocol
  std::string advertise_address;
  std::string work_dir;
  std::string dataset_cache;
  int64_t dataset_cache_bytes = int64_t{64} << 30;
  int dataset_fault_corrupt_chunks = 0;
  int threads = 0;
  std::string log_level = "info";
  int64_t log_max_bytes = int64_t{1} << 20;
  // TLS and token (transport/channel_security.h); job processes get them by environment.
  agent::GrpcWorkerRpcOptions rpc;
  std::string token_file;
};

std::vector<std::string> Indices(int count) {
  std::vector<std::string> ids;
  for (int i = 0; i < count; ++i) {
    ids.push_back(absl::StrCat(i));
  }
  return ids;
}

// The GPUs this worker offers (gpu_devices.h), the device kind and the slots. InvalidArgument
// naming the flag when they contradict each other.
absl::Status ChooseDevices(const DaemonFlags& flags, agent::AgentOptions* options) {
  agent::GpuInventory inventory = flags.fake_gpus >= 0
                                      ? agent::GpuInventory{Indices(flags.fake_gpus), "--fake-gpus"}
                                      : agent::VisibleGpus();
  std::vector<std::string> gpus;
  if (flags.device != "cpu") {
    ASSIGN_OR_RETURN(gpus, agent::SelectGpus(flags.gpus, inventory.ids));
  }
  if (flags.device == "cuda" && gpus.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("--device cuda: no GPU to use (counted from ",
                                                   inventory.source, ", --gpus ", flags.gpus,
                                                   ")"));
  }
  const bool cuda = !gpus.empty();
  options->device_kind = cuda ? "cuda" : "cpu";
  options->gpu_ids = gpus;
  options->slots = flags.slots > 0 ? flags.slots : (cuda ? static_cast<int>(gpus.size()) : 1);
  sparsescale::LogInfo("devices: %s, %d GPU(s) [%s] from %s, %d slot(s)", options->device_kind,
                       gpus.size(), absl::StrJoin(gpus, ","), inventory.source, options->slots);
  return absl::OkStatus();
}

// --advertise-address, or the local address of the route to the coordinator; empty (the job's
// ranks then use 127.0.0.1) only when that cannot be found, with a warning.
absl::StatusOr<std::string> ChooseAdvertiseAddress(const DaemonFlags& flags) {
  if (!flags.advertise_address.empty()) {
    RETURN_IF_ERROR(agent::CheckAdvertiseAddress(flags.advertise_address));
    return flags.advertise_address;
  }
  absl::StatusOr<std::string> detected = agent::DetectAdvertiseAddress(flags.coordinator);
  if (!detected.ok()) {
    sparsescale::LogWarning(
        "cannot detect the address to advertise (%s); multi-rank jobs bind 127.0.0.1 unless "
        "--advertise-address is given",
        detected.status().message());
    return std::string();
  }
  return *detected;
}

std::string DefaultName() {
  char host[256] = "worker";
  gethostname(host, sizeof(host) - 1);
  return absl::StrCat(host, "-", getpid());
}

int RunDaemon(const DaemonFlags& flags) {
  agent::AgentOptions options;
  options.name = flags.name.empty() ? DefaultName() : flags.name;
  options.version = sparsescale::kVersion;
  options.protocol_version = flags.protocol_version;
  if (absl::Status s = ChooseDevices(flags, &options); !s.ok()) {
    sparsescale::LogError("%s", s.message());
    return kExitUsage;
  }
  absl::StatusOr<std::string> advertise = ChooseAdvertiseAddress(flags);
  if (!advertise.ok()) {
    sparsescale::LogError("%s", advertise.status().message());
    return kExitUsage;
  }
  options.runner.advertise_address = *advertise;
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
  options.datasets.dir = flags.dataset_cache;
  options.datasets.max_bytes = flags.dataset_cache_bytes;
  options.datasets.corrupt_chunks = flags.dataset_fault_corrupt_chunks;

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
  sparsescale::LogInfo("coordinator %s, work dir %s, device %s, advertising %s",
                       flags.coordinator, options.runner.work_dir, options.device_kind,
                       options.runner.advertise_address.empty() ? "127.0.0.1"
                                                                : options.runner.advertise_address);
  absl::Status status = daemon.Run();
  done.store(true);
  signal_thread.join();
  if (!status.ok()) {
    // A refusal for good (another protocol version, a bad field): exit non-zero saying why.
    sparsescale::LogError("%s", status.ToString());
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"sparsescale-worker: pulls training jobs from a sparsescale coordinator"};
  app.set_version_flag("--version", absl::StrCat("sparsescale-worker ", sparsescale::kVersion,
                                                 " (worker protocol ",
                                                 sparsescale::kProtocolVersion, ")"));
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
  app.add_option("--slots", flags.slots, "jobs run at once (default: one per GPU, else 1)")
      ->check(CLI::Range(1, 1024));
  app.add_option("--device", flags.device, "auto, cpu or cuda")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  app.add_option("--gpus", flags.gpus,
                 "GPUs offered to jobs: all (every visible one, honouring CUDA_VISIBLE_DEVICES) "
                 "or indices such as 0,1; each job gets its own through CUDA_VISIBLE_DEVICES")
      ->capture_default_str();
  app.add_option("--fake-gpus", flags.fake_gpus, "tests: pretend N GPUs exist")
      ->check(CLI::Range(0, 64))
      ->group("");  // hidden
  app.add_option("--protocol-version", flags.protocol_version,
                 "tests: register with this worker protocol version")
      ->check(CLI::Range(1, 1000))
      ->group("");  // hidden
  app.add_option("--advertise-address", flags.advertise_address,
                 "IPv4 address of this machine that multi-rank jobs publish to their other "
                 "ranks (default: the local address of the route to the coordinator)");
  app.add_option("--work-dir", flags.work_dir, "directory for job files (default: a temp dir)");
  app.add_option("--dataset-cache", flags.dataset_cache,
                 "directory of downloaded datasets, kept across restarts (default: "
                 "WORK_DIR/datasets)");
  app.add_option("--dataset-cache-bytes", flags.dataset_cache_bytes,
                 "cap on the dataset cache; least recently used datasets not in use are "
                 "deleted to make room (0: no cap)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--dataset-fault-corrupt-chunks", flags.dataset_fault_corrupt_chunks,
                 "tests: damage the first N dataset chunks received (they are refused and "
                 "fetched again)")
      ->group("");
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
  run_job->add_option("--dataset-dir", job.dataset_dir,
                      "where the files of the spec's data.dataset are (the worker's cache)");
  run_job->add_option("--device", job.device, "auto, cpu or cuda");
  run_job->add_option("--threads", job.threads, "CPU threads");
  // Given by the daemon for every job; a multi-rank job meets through the coordinator's
  // Rendezvous RPC instead of a file (worker/agent/coordinator_rendezvous.h).
  std::string job_coordinator, job_id, job_attempt;
  run_job->add_option("--coordinator", job_coordinator,
                      "coordinator HOST:PORT carrying the rendezvous of a multi-rank job");
  run_job->add_option("--job-id", job_id, "the leased job's id (with --coordinator)");
  run_job->add_option("--attempt", job_attempt, "the lease's attempt (with --coordinator)");
  run_job->add_option("--advertise-address", job.advertise_address,
                      "IPv4 address the TCP ring of a multi-rank job binds and publishes");
  run_job->add_option("--first-rank", job.first_rank,
                      "a multi-node gang member: the first of the ranks this lease runs")
      ->check(CLI::NonNegativeNumber);
  run_job->add_option("--rank-count", job.rank_count,
                      "a multi-node gang member: how many ranks this lease runs (0: all)")
      ->check(CLI::NonNegativeNumber);
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
