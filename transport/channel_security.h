// ChannelSecurity: what a client or worker needs to reach a coordinator that runs with TLS
// and tokens: the CA that signed the server's certificate, optionally its own certificate
// (mutual TLS, for workers), and the bearer token it sends in every call's metadata
// (`authorization: Bearer <token>`). Everything is optional: an empty ChannelSecurity dials in
// plain text without a token, as before.
//
// Where the token comes from, first found wins: --token, --token-file, SPARSESCALE_TOKEN,
// SPARSESCALE_TOKEN_FILE. The TLS files: the flags, else SPARSESCALE_TLS_CA, SPARSESCALE_TLS_CERT,
// SPARSESCALE_TLS_KEY. A worker hands the same to its job processes through these variables
// (never on a command line, where `ps` would show a token).
// Thread-safety: plain values; the functions are thread-safe.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace grpc {
class ChannelCredentials;
class ClientContext;
}  // namespace grpc

namespace sparsescale::transport {

struct ChannelSecurity {
  std::string token;          // bearer token; "" = none
  std::string tls_ca_file;    // verify the coordinator against this CA (PEM); "" = plain text
  std::string tls_cert_file;  // this side's certificate (mutual TLS); needs tls_ca_file
  std::string tls_key_file;   // its private key
};

// Fills the empty fields of `flags` from the environment and reads `token_file` (a flag) or
// SPARSESCALE_TOKEN_FILE into `token` when no token is given. InvalidArgument naming the flag
// or variable when a file cannot be read or is empty, or a certificate comes without its key.
absl::StatusOr<ChannelSecurity> ResolveSecurity(ChannelSecurity flags,
                                                const std::string& token_file = "");

// TLS credentials verifying against tls_ca_file (with the client certificate when given), or
// insecure ones when tls_ca_file is empty. InvalidArgument naming the file that cannot be read.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ChannelCredentials(
    const ChannelSecurity& security);

// Adds `authorization: Bearer <token>` to `context` when there is a token.
void AttachToken(const ChannelSecurity& security, grpc::ClientContext* context);

// Exports `security` to this process's environment (the variables above), so that children
// started afterwards dial the same way. The token travels as SPARSESCALE_TOKEN.
void ExportToEnvironment(const ChannelSecurity& security);

// Explains a failed connection: when TLS is on, says that the TLS handshake may have failed
// (wrong CA, expired certificate, plain-text server) and adds gRPC's own words.
std::string ExplainUnavailable(const ChannelSecurity& security, const std::string& grpc_message);

}  // namespace sparsescale::transport
