#include "client/cli_util.h"

#include <signal.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "client/command.h"
#include "client/coordinator_client.h"

namespace sparsescale::client {

int ExitCodeFor(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return cli::kExitOk;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return cli::kExitUsage;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
      return cli::kExitUnavailable;
    case absl::StatusCode::kNotFound:
      return cli::kExitNotFound;
    default:
      return cli::kExitFailure;
  }
}

void Fail(const absl::Status& status) {
  std::fprintf(stderr, "sparsescale: %s\n", std::string(status.message()).c_str());
  throw CLI::RuntimeError(ExitCodeFor(status));
}

void AddCommonFlags(CLI::App* command, CommonFlags* flags) {
  flags->coordinator = DefaultCoordinatorAddress();
  command
      ->add_option("--coordinator", flags->coordinator,
                   "coordinator HOST:PORT (default: $SPARSESCALE_COORDINATOR or 127.0.0.1:7070)")
      ->capture_default_str();
  command->add_flag("--json", flags->json, "print JSON instead of tables");
  command->add_option("--token", flags->token,
                      "bearer token (default: $SPARSESCALE_TOKEN); prefer --token-file, which "
                      "keeps it out of `ps`");
  command->add_option("--token-file", flags->token_file,
                      "file holding the bearer token (default: $SPARSESCALE_TOKEN_FILE)");
  command->add_option("--tls-ca", flags->tls_ca,
                      "verify the coordinator's TLS certificate against this CA (PEM; default: "
                      "$SPARSESCALE_TLS_CA); without it the connection is plain text");
  command->add_option("--tls-cert", flags->tls_cert, "client certificate for mutual TLS (PEM)");
  command->add_option("--tls-key", flags->tls_key, "the client certificate's key (PEM)");
}

ClientOptions ConnectOptions(const CommonFlags& flags) {
  transport::ChannelSecurity given{.token = flags.token,
                                   .tls_ca_file = flags.tls_ca,
                                   .tls_cert_file = flags.tls_cert,
                                   .tls_key_file = flags.tls_key};
  ClientOptions options;
  options.security = OrFail(transport::ResolveSecurity(given, flags.token_file));
  // Read the TLS files now, so that a missing one is reported by name, not as UNAVAILABLE.
  OrFail(transport::ChannelCredentials(options.security));
  return options;
}

StopSignal::StopSignal() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  thread_ = std::thread([this, signals] {
    timespec period{0, 100'000'000};
    while (!done_.load()) {
      int sig = sigtimedwait(&signals, nullptr, &period);
      if (sig > 0) {
        signal_.store(sig);
        stopped_.store(true);
      }
    }
  });
}

StopSignal::~StopSignal() {
  done_.store(true);
  thread_.join();
}

absl::StatusOr<std::string> ReadTextFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("cannot read ", path, ": ", std::strerror(errno)));
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

}  // namespace sparsescale::client
