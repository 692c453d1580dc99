#include "transport/channel_security.h"

#include <grpcpp/grpcpp.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace sparsescale::transport {
namespace {

std::string Env(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? "" : value;
}

absl::StatusOr<std::string> ReadFile(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  if (!in || text.str().empty()) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": cannot read ", path));
  }
  return text.str();
}

}  // namespace

absl::StatusOr<ChannelSecurity> ResolveSecurity(ChannelSecurity flags,
                                                const std::string& token_file) {
  ChannelSecurity s = std::move(flags);
  if (s.token.empty() && !token_file.empty()) {
    ASSIGN_OR_RETURN(s.token, ReadFile(token_file, "--token-file"));
  }
  if (s.token.empty()) {
    s.token = Env("SPARSESCALE_TOKEN");
  }
  if (s.token.empty() && !Env("SPARSESCALE_TOKEN_FILE").empty()) {
    ASSIGN_OR_RETURN(s.token, ReadFile(Env("SPARSESCALE_TOKEN_FILE"), "SPARSESCALE_TOKEN_FILE"));
  }
  s.token = std::string(absl::StripAsciiWhitespace(s.token));
  if (s.tls_ca_file.empty()) {
    s.tls_ca_file = Env("SPARSESCALE_TLS_CA");
  }
  if (s.tls_cert_file.empty()) {
    s.tls_cert_file = Env("SPARSESCALE_TLS_CERT");
  }
  if (s.tls_key_file.empty()) {
    s.tls_key_file = Env("SPARSESCALE_TLS_KEY");
  }
  if (s.tls_cert_file.empty() != s.tls_key_file.empty()) {
    return absl::InvalidArgumentError("--tls-cert and --tls-key: give both or neither");
  }
  if (!s.tls_cert_file.empty() && s.tls_ca_file.empty()) {
    return absl::InvalidArgumentError("--tls-cert: needs --tls-ca (the coordinator's CA)");
  }
  return s;
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ChannelCredentials(
    const ChannelSecurity& security) {
  if (security.tls_ca_file.empty()) {
    return grpc::InsecureChannelCredentials();
  }
  grpc::SslCredentialsOptions ssl;
  ASSIGN_OR_RETURN(ssl.pem_root_certs, ReadFile(security.tls_ca_file, "--tls-ca"));
  if (!security.tls_cert_file.empty()) {
    ASSIGN_OR_RETURN(ssl.pem_cert_chain, ReadFile(security.tls_cert_file, "--tls-cert"));
    ASSIGN_OR_RETURN(ssl.pem_private_key, ReadFile(security.tls_key_file, "--tls-key"));
  }
  return grpc::SslCredentials(ssl);
}

void AttachToken(const ChannelSecurity& security, grpc::ClientContext* context) {
  if (!security.token.empty()) {
    context->AddMetadata("authorization", "Bearer " + security.token);
  }
}

void ExportToEnvironment(const ChannelSecurity& security) {
  const std::pair<const char*, const std::string*> vars[] = {
      {"SPARSESCALE_TOKEN", &security.token},
      {"SPARSESCALE_TLS_CA", &security.tls_ca_file},
      {"SPARSESCALE_TLS_CERT", &security.tls_cert_file},
      {"SPARSESCALE_TLS_KEY", &security.tls_key_file}};
  for (const auto& [name, value] : vars) {
    if (!value->empty()) {
      setenv(name, value->c_str(), 1);
    }
  }
}

std::string ExplainUnavailable(const ChannelSecurity& security, const std::string& grpc_message) {
  if (security.tls_ca_file.empty()) {
    // A TLS server closes a plain-text connection at once.
    return absl::StrContains(grpc_message, "Socket closed")
               ? absl::StrCat(grpc_message,
                              " (if the coordinator serves TLS, pass --tls-ca or set "
                              "SPARSESCALE_TLS_CA)")
               : grpc_message;
  }
  return absl::StrCat(grpc_message,
                      " (TLS is on: if the handshake failed, check that the coordinator serves "
                      "TLS, that its certificate is signed by --tls-ca ",
                      security.tls_ca_file,
                      ", is not expired and names the address dialled; the coordinator's log "
                      "says why it refused)");
}

}  // namespace sparsescale::transport
