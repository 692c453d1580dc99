#include "tests/security/security_support.h"

#include <grpcpp/generic/generic_stub.h>

#include <cstdlib>
#include <fstream>
#include <future>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "worker/agent/subprocess.h"

namespace sparsescale::security_test {
namespace {

// One empty message out, half-close, read until the end; the status at the end.
class RawCall : public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  grpc::Status Run(grpc::GenericStub& stub, const std::string& method, const std::string& token) {
    if (!token.empty()) {
      context_.AddMetadata("authorization", "Bearer " + token);
    }
    context_.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    grpc::Slice empty("");
    request_ = grpc::ByteBuffer(&empty, 1);
    stub.PrepareBidiStreamingCall(&context_, method, grpc::StubOptions(), this);
    StartWrite(&request_);
    StartWritesDone();
    StartRead(&response_);
    StartCall();
    return done_.get_future().get();
  }

  void OnReadDone(bool ok) override {
    if (ok) {
      StartRead(&response_);
    }
  }
  void OnDone(const grpc::Status& status) override { done_.set_value(status); }

 private:
  grpc::ClientContext context_;
  grpc::ByteBuffer request_;
  grpc::ByteBuffer response_;
  std::promise<grpc::Status> done_;
};

std::string SourceDir() {
  const char* dir = std::getenv("SPARSESCALE_SOURCE_DIR");
  return dir == nullptr ? "." : dir;
}

}  // namespace

int RunCommand(const std::vector<std::string>& argv, const std::string& log) {
  agent::SpawnOptions spawn;
  spawn.argv = argv;
  spawn.stdout_path = log;
  spawn.stderr_path = log;
  absl::StatusOr<agent::Subprocess> child = agent::Subprocess::Spawn(spawn);
  return child.ok() ? child->Wait().exit_code : -1;
}

absl::Status MakeCerts(const std::string& dir, const std::vector<std::string>& sans,
                       const std::vector<std::string>& extra) {
  std::vector<std::string> argv = {"/bin/bash", SourceDir() + "/deploy/certs.sh", dir};
  for (const std::string& san : sans) {
    argv.insert(argv.end(), {"--san", san});
  }
  argv.insert(argv.end(), extra.begin(), extra.end());
  const std::string log = dir + ".log";
  if (RunCommand(argv, log) != 0) {
    std::ifstream in(log);
    std::stringstream text;
    text << in.rdbuf();
    return absl::InternalError(absl::StrCat("deploy/certs.sh failed: ", text.str()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::map<std::string, int64_t>> CountRows(const std::string& db) {
  agent::SpawnOptions spawn;
  // One query that counts every table; the table list comes from sqlite_master first.
  spawn.argv = {"/usr/bin/sqlite3", "-readonly", db,
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"};
  spawn.capture_stdout = true;
  absl::StatusOr<agent::Subprocess> child = agent::Subprocess::Spawn(spawn);
  if (!child.ok()) {
    return child.status();
  }
  std::vector<std::string> tables;
  while (child->ReadLines(std::chrono::milliseconds(1000), &tables)) {
  }
  if (!child->Wait().ok() || tables.empty()) {
    return absl::InternalError(absl::StrCat("sqlite3 could not list the tables of ", db));
  }
  std::string query;
  for (const std::string& table : tables) {
    absl::StrAppend(&query, query.empty() ? "" : " UNION ALL ", "SELECT '", table,
                    "', COUNT(*) FROM \"", table, "\"");
  }
  spawn.argv = {"/usr/bin/sqlite3", "-readonly", db, query};
  child = agent::Subprocess::Spawn(spawn);
  if (!child.ok()) {
    return child.status();
  }
  std::vector<std::string> lines;
  while (child->ReadLines(std::chrono::milliseconds(1000), &lines)) {
  }
  std::map<std::string, int64_t> counts;
  for (const std::string& line : lines) {
    std::vector<std::string> cells = absl::StrSplit(line, '|');
    int64_t n = 0;
    if (cells.size() == 2 && absl::SimpleAtoi(cells[1], &n)) {
      counts[cells[0]] = n;
    }
  }
  if (!child->Wait().ok() || counts.size() != tables.size()) {
    return absl::InternalError(absl::StrCat("sqlite3 could not count the rows of ", db));
  }
  return counts;
}

std::shared_ptr<grpc::Channel> TlsChannel(const std::string& address, const std::string& ca_file) {
  std::ifstream in(ca_file);
  std::stringstream pem;
  pem << in.rdbuf();
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = pem.str();
  return grpc::CreateChannel(address, grpc::SslCredentials(ssl));
}

grpc::Status CallRaw(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
                     const std::string& token) {
  grpc::GenericStub stub(channel);
  RawCall call;
  return call.Run(stub, method, token);
}

}  // namespace sparsescale::security_test
