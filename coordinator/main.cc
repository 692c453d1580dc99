// sparsescale-coordinator: the coordinator daemon. Opens (migrating) the SQLite database,
// serves the client and worker gRPC services, and shuts down cleanly on SIGTERM or SIGINT.
// Prints "listening on HOST:PORT" on stdout once serving (port 0 picks a free port); with
// --http-listen it also serves the dashboard over HTTP and logs "http on HOST:PORT" (with
// --tls-cert/--tls-key it serves HTTPS with the same certificate and logs "https on HOST:PORT").
#include <signal.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/log.h"
#include "common/version.h"
#include "coordinator/api/server.h"

namespace {

using sparsescale::coordinator::ServerOptions;

struct Flags {
  std::string auth;  // "tokens", "none" or "" (tokens unless --listen is a loopback address)
  std::string port_file;
  std::string http_port_file;
  std::string sync = "normal";
  std::string log_level = "info";
};

// The flags of docs/SECURITY.md: TLS, tokens, rate limits and stream caps.
void AddSecurityFlags(CLI::App& app, ServerOptions& options, Flags& flags) {
  app.add_option("--auth", flags.auth,
                 "tokens: every call needs a bearer token of the right role; none: no check. "
                 "Default: none when --listen is a loopback address, tokens otherwise")
      ->check(CLI::IsMember({"tokens", "none"}));
  app.add_option("--admin-token-file", options.auth.admin_token_file,
                 "where the first start with tokens writes the admin token (mode 0600; "
                 "default: <db>.admin-token)");
  app.add_option("--tls-cert", options.tls.cert_file, "serve TLS with this certificate (PEM)");
  app.add_option("--tls-key", options.tls.key_file, "the certificate's private key (PEM)");
  app.add_option("--tls-client-ca", options.tls.client_ca_file,
                 "verify client certificates against this CA; worker calls then need one "
                 "(mutual TLS for workers)");
  app.add_flag("--insecure", options.insecure,
               "serve a non-loopback --listen without TLS and tokens (anyone who reaches the "
               "port controls the cluster)");
  app.add_option("--rate-limit", options.auth.rate.per_second,
                 "mutating calls per second per token (token bucket; 0 = no limit)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1e9));
  app.add_option("--rate-burst", options.auth.rate.burst, "mutating calls a token may make at once")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 1e9));
  app.add_option("--max-streams-per-connection", options.max_streams_per_connection,
                 "concurrent calls (streams) per client connection")
      ->capture_default_str()
      ->check(CLI::Range(1, 100'000));
}

void AddFlags(CLI::App& app, ServerOptions& options, Flags& flags) {
  auto& c = options.coordinator;
  auto& s = c.scheduler;
  app.add_option("--db", c.db_path, "SQLite database file (created if missing)")->required();
  app.add_option("--listen", options.listen, "HOST:PORT to serve on; port 0 picks a free port")
      ->capture_default_str();
  app.add_option("--port-file", flags.port_file, "also write the bound port to this file");
  app.add_option("--http-listen", options.http_listen,
                 "HOST:PORT of the dashboard's HTTP server (JSON API, /metrics); port 0 picks a "
                 "free port; off when not given");
  app.add_option("--http-port-file", flags.http_port_file,
                 "also write the HTTP server's bound port to this file (needs --http-listen)");
  app.add_option("--lease-ttl-ms", s.lease_ttl_ms, "lease time-to-live without a heartbeat")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{100}, int64_t{86'400'000}));
  app.add_option("--hang-timeout-ms", s.hang_timeout_ms,
                 "requeue a job whose step has not advanced for this long (0 = never)")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{0}, int64_t{604'800'000}));
  app.add_option("--restart-grace-ms", s.restart_grace_ms,
                 "after a restart, running attempts may re-attach for this long")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{0}, int64_t{86'400'000}));
  app.add_option("--max-attempts", c.default_max_attempts,
                 "default failed attempts before a job fails for good")
      ->capture_default_str()
      ->check(CLI::Range(1, 100));
  app.add_option("--job-failure-retries", s.job_failure_retries,
                 "retries after the job's own (JOB-class) failure")
      ->capture_default_str()
      ->check(CLI::Range(0, 100));
  app.add_option("--heartbeat-period-ms", c.heartbeat_period_ms, "heartbeat period for workers")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{50}, int64_t{60'000}));
  app.add_option("--writer-batch", c.writer_max_ops_per_commit,
                 "operations per SQLite commit (group commit); 1 = one commit per request")
      ->capture_default_str()
      ->check(CLI::Range(1, 1'000'000));
  app.add_option("--curve-rows", c.store.curve_rows,
                 "about this many job_curves rows per job for the SQL views; 0 = keep none")
      ->capture_default_str()
      ->check(CLI::Range(0, 100'000));
  app.add_option("--checkpoint-dir", c.store.checkpoint_dir,
                 "keep new checkpoint payloads as content-addressed files in this directory (a "
                 "volume); SQLite keeps their size, sha256 and location; empty = in SQLite "
                 "(docs/DEPLOY.md, \"Checkpoints\")");
  app.add_option("--checkpoints-kept-per-job", c.store.checkpoints_kept_per_job,
                 "newest checkpoints kept per job unless its sweep sets checkpoint_keep_last")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  app.add_option("--log-level", flags.log_level, "least severe log lines written")
      ->capture_default_str()
      ->check(CLI::IsMember({"debug", "info", "warning", "error"}));
  app.add_option("--sync", flags.sync,
                 "SQLite synchronous level: normal (durable against process crash) or full "
                 "(also against power loss)")
      ->capture_default_str()
      ->check(CLI::IsMember({"normal", "full"}));
  AddSecurityFlags(app, options, flags);
}

bool WritePortFile(const std::string& path, int port) {
  const std::string temp = path + ".tmp";
  {
    std::ofstream out(temp);
    out << port << "\n";
    if (!out) {
      return false;
    }
  }
  std::error_code ec;
  std::filesystem::rename(temp, path, ec);
  return !ec;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"sparsescale coordinator: sweeps, scheduling and storage over gRPC"};
  app.set_version_flag("--version", absl::StrCat("sparsescale-coordinator ", sparsescale::kVersion,
                                                 " (worker protocol ",
                                                 sparsescale::kProtocolVersion, ")"));
  ServerOptions options;
  Flags flags;
  AddFlags(app, options, flags);
  CLI11_PARSE(app, argc, argv);
  sparsescale::SetLogComponent("coordinator");
  sparsescale::LogLevel level = sparsescale::LogLevel::kInfo;
  sparsescale::ParseLogLevel(flags.log_level, &level);  // CLI11 checked the name
  sparsescale::SetLogLevel(level);
  // Debian's abseil checks every Mutex acquisition for lock-order cycles (a debug aid that
  // gRPC's hot paths pay for on every call); the coordinator's lock order is fixed by design.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  options.coordinator.store.db.sync = flags.sync == "full" ? sparsescale::store::SyncMode::kFull
                                                           : sparsescale::store::SyncMode::kNormal;
  // Block the stop signals in every thread; main waits for them with sigwait.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  options.auth.tokens = flags.auth.empty()
                            ? !sparsescale::coordinator::IsLoopbackAddress(options.listen)
                            : flags.auth == "tokens";
  auto server = sparsescale::coordinator::CoordinatorServer::Start(options);
  if (!server.ok()) {
    sparsescale::LogError("%s", server.status().ToString());
    return 1;
  }
  if (!flags.port_file.empty() && !WritePortFile(flags.port_file, (*server)->port())) {
    sparsescale::LogError("cannot write --port-file %s", flags.port_file);
    return 1;
  }
  if (!flags.http_port_file.empty() &&
      ((*server)->http_port() == 0 ||
       !WritePortFile(flags.http_port_file, (*server)->http_port()))) {
    sparsescale::LogError("cannot write --http-port-file %s (is --http-listen given?)",
                          flags.http_port_file);
    return 1;
  }
  // Stdout carries only this line: `sparsescale up`, the tests and the benchmarks read it.
  std::printf("listening on %s\n", (*server)->address().c_str());
  sparsescale::LogInfo("auth %s, TLS %s%s", options.auth.tokens ? "tokens" : "none",
                       options.tls.cert_file.empty() ? "off" : "on",
                       options.tls.client_ca_file.empty() ? "" : " (worker certificates required)");
  std::fflush(stdout);
  int signal = 0;
  sigwait(&stop_signals, &signal);
  sparsescale::LogInfo("signal %d, shutting down", signal);
  (*server)->Shutdown();
  server->reset();
  sparsescale::LogInfo("stopped");
  return 0;
}
