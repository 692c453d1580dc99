// `sparsescale up` (a coordinator and K workers on this machine, until Ctrl-C) and
// `sparsescale status` (workers and queue of a running coordinator).
#include <chrono>
#include <cstdio>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "client/cli_util.h"
#include "client/command.h"
#include "client/coordinator_client.h"
#include "client/local_cluster.h"
#include "client/output.h"

namespace sparsescale::cli {
namespace {

using client::CommonFlags;

struct UpFlags {
  client::LocalClusterOptions cluster;
  std::string listen;     // HOST:PORT; overrides --port when given
  bool insecure = false;  // a non-loopback --listen without TLS or tokens
};

// Splits --listen HOST:PORT into the cluster's host and port (usage error naming the flag).
void ApplyListen(UpFlags& flags) {
  if (flags.listen.empty()) {
    return;
  }
  const size_t colon = flags.listen.rfind(':');
  int port = -1;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(flags.listen.substr(colon + 1), &port) || port < 0 || port > 65535) {
    client::Fail(absl::InvalidArgumentError(
        absl::StrCat("--listen: expected HOST:PORT (port 0-65535), got \"", flags.listen, "\"")));
  }
  flags.cluster.host = flags.listen.substr(0, colon);
  flags.cluster.port = port;
  if (flags.insecure) {
    // `up` starts its own workers without tokens, so off loopback it runs with auth off and
    // tells the coordinator that this is meant (docs/SECURITY.md).
    for (const char* arg : {"--auth", "none", "--insecure"}) {
      flags.cluster.coordinator_args.push_back(arg);
    }
  }
}

void RunUp(UpFlags& flags) {
  ApplyListen(flags);
  client::StopSignal stop;  // Before any child or thread starts.
  auto cluster = client::OrFail(client::LocalCluster::Start(flags.cluster));
  std::printf("sparsescale up: coordinator listening on %s\n", cluster->address().c_str());
  if (!cluster->http_address().empty()) {
    std::printf("  dashboard: http://%s/\n", cluster->http_address().c_str());
  }
  const std::string slots = flags.cluster.slots > 0 ? absl::StrCat(flags.cluster.slots, " slots each")
                                                    : "one slot per GPU, else one";
  std::printf("  %d workers (%s), database %s, logs in %s/logs\n", flags.cluster.workers,
              slots.c_str(), cluster->options().db_path.c_str(),
              cluster->options().work_dir.c_str());
  std::printf("  export SPARSESCALE_COORDINATOR=%s   # for other sparsescale commands\n",
              cluster->address().c_str());
  std::printf("  Ctrl-C stops everything (running jobs checkpoint first)\n");
  std::fflush(stdout);
  client::CoordinatorClient probe(cluster->address());
  while (!stop.stopped().load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  std::printf("sparsescale up: stopping (draining workers)...\n");
  std::fflush(stdout);
  absl::Status stopped = cluster->Stop();
  if (!stopped.ok()) {
    client::Fail(stopped);
  }
  std::printf("sparsescale up: stopped\n");
}

void InstallUp(CLI::App& root) {
  static UpFlags flags;
  flags.cluster.port = 7070;
  flags.cluster.work_dir = "runs/up";
  flags.cluster.http_listen = "127.0.0.1:0";
  CLI::App* up = root.add_subcommand(
      "up", "start a coordinator and workers on this machine (stop with Ctrl-C)");
  up->add_option("--workers", flags.cluster.workers, "worker processes")
      ->capture_default_str()
      ->check(CLI::Range(0, 256));
  up->add_option("--slots", flags.cluster.slots,
                 "jobs per worker at once (default: one per GPU the worker offers, else 1)")
      ->check(CLI::Range(1, 256));
  CLI::Option* port =
      up->add_option("--port", flags.cluster.port, "coordinator port on 127.0.0.1 (0: a free one)")
          ->capture_default_str()
          ->check(CLI::Range(0, 65535));
  up->add_option("--listen", flags.listen,
                 "HOST:PORT the coordinator serves on (0.0.0.0:PORT lets other machines' "
                 "workers dial in; replaces --port)")
      ->excludes(port);
  up->add_flag("--insecure", flags.insecure,
               "with a non-loopback --listen: serve it without TLS or tokens (anyone who reaches "
               "the port controls the cluster; for a trusted network only)");
  up->add_option("--http", flags.cluster.http_listen,
                 "dashboard HOST:PORT (port 0 picks a free one; \"\" turns it off)")
      ->capture_default_str();
  up->add_option("--db", flags.cluster.db_path, "SQLite file (default WORK_DIR/coordinator.db)");
  up->add_option("--work-dir", flags.cluster.work_dir, "logs, job files, default database")
      ->capture_default_str();
  up->add_option("--device", flags.cluster.device, "auto, cpu or cuda")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  up->add_option("--threads", flags.cluster.threads, "CPU threads per job (0: the job's own)")
      ->capture_default_str();
  up->callback([] { RunUp(flags); });
}

void InstallStatus(CLI::App& root) {
  static CommonFlags flags;
  CLI::App* status = root.add_subcommand("status", "workers, queue and stored points");
  client::AddCommonFlags(status, &flags);
  status->callback([] {
    client::CoordinatorClient c(flags.coordinator, client::ConnectOptions(flags));
    auto s = client::OrFail(c.GetClusterStatus());
    std::fputs(flags.json ? (client::MessageToJson(s) + "\n").c_str()
                          : client::ClusterStatusText(s).c_str(),
               stdout);
  });
}

CommandRegistrar up_registrar(InstallUp);
CommandRegistrar status_registrar(InstallStatus);

}  // namespace
}  // namespace sparsescale::cli
