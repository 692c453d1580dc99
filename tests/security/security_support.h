// Test support for the security tests: certificates from deploy/certs.sh, row counts of every
// table (with the sqlite3 tool), and calling any RPC by name with a given token.
// Not thread-safe; used from the test thread.
#pragma once

#include <grpcpp/grpcpp.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace sparsescale::security_test {

// Runs deploy/certs.sh DIR [--san S]... [extra]; an error with its output when it fails.
absl::Status MakeCerts(const std::string& dir, const std::vector<std::string>& sans,
                       const std::vector<std::string>& extra = {});

// Rows of every table of the database at `db` (sqlite3 tool, read-only).
absl::StatusOr<std::map<std::string, int64_t>> CountRows(const std::string& db);

// A TLS channel to `address` verifying against `ca_file`.
std::shared_ptr<grpc::Channel> TlsChannel(const std::string& address, const std::string& ca_file);

// Calls `method` ("/sparsescale.v1.ClientService/SubmitJob") with one empty request message and
// `token` ("" = no authorization metadata), whatever the RPC's kind; the call's final status.
grpc::Status CallRaw(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
                     const std::string& token);

// Runs a command line (argv[0] a path) and returns its exit code; output to `log` ("" = ours).
int RunCommand(const std::vector<std::string>& argv, const std::string& log = "");

}  // namespace sparsescale::security_test
