#include "bench/coordinator/bench_util.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace sparsescale::bench {

CoordinatorProcess::CoordinatorProcess(const std::string& binary, const std::string& db,
                                       const std::vector<std::string>& extra) {
  int out[2];
  if (pipe(out) != 0) {
    throw std::runtime_error("pipe failed");
  }
  std::vector<std::string> args = {binary, "--db", db, "--listen", "127.0.0.1:0"};
  args.insert(args.end(), extra.begin(), extra.end());
  pid_ = fork();
  if (pid_ == 0) {
    dup2(out[1], STDOUT_FILENO);
    close(out[0]);
    std::vector<char*> argv;
    for (std::string& a : args) {
      argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    execv(binary.c_str(), argv.data());
    std::perror("execv");
    _exit(127);
  }
  close(out[1]);
  FILE* stream = fdopen(out[0], "r");
  char line[256];
  if (stream == nullptr || fgets(line, sizeof line, stream) == nullptr) {
    throw std::runtime_error("coordinator did not start: " + binary);
  }
  std::string text(line);
  const std::string prefix = "listening on ";
  if (text.rfind(prefix, 0) != 0) {
    throw std::runtime_error("unexpected first line: " + text);
  }
  address_ = text.substr(prefix.size());
  address_.erase(address_.find_last_not_of("\r\n") + 1);
  fclose(stream);
}

CoordinatorProcess::~CoordinatorProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
}

std::shared_ptr<grpc::Channel> CoordinatorProcess::NewChannel() const {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  // A distinct argument keeps gRPC from sharing one TCP connection between channels.
  static std::atomic<int> counter{0};
  args.SetInt("sparsescale.bench.channel", ++counter);
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  if (!ca_file_.empty()) {
    std::ifstream in(ca_file_);
    std::stringstream pem;
    pem << in.rdbuf();
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = pem.str();
    credentials = grpc::SslCredentials(ssl);
  }
  auto channel = grpc::CreateCustomChannel(address_, credentials, args);
  // Connected before it is returned, so no timed section pays for TCP and HTTP/2 set-up (a
  // worker keeps its channel for its lifetime).
  if (!channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(30))) {
    std::fprintf(stderr, "cannot connect to the coordinator at %s\n", address_.c_str());
    std::exit(1);
  }
  return channel;
}

static int64_t StatusField(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string key;
  while (in >> key) {
    if (key == field + ":") {
      int64_t value = 0;
      in >> value;
      return value;
    }
    std::getline(in, key);
  }
  return -1;
}

int64_t CoordinatorProcess::RssKiB() const { return StatusField(pid_, "VmRSS"); }
int64_t CoordinatorProcess::PeakRssKiB() const { return StatusField(pid_, "VmHWM"); }

double CoordinatorProcess::CpuSeconds() const {
  std::ifstream in("/proc/" + std::to_string(pid_) + "/stat");
  std::string line;
  std::getline(in, line);
  // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
  std::istringstream rest(line.substr(line.rfind(')') + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i >= 14) {
      ticks += std::stod(field);
    }
  }
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double Percentile(std::vector<double> values, double p) {
  if (values.empty()) {
    return 0;
  }
  std::sort(values.begin(), values.end());
  const size_t index = std::min(values.size() - 1, static_cast<size_t>(p / 100.0 * values.size()));
  return values[index];
}

double NowSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

sparsescale::v1::JobSpec TinySpec() {
  sparsescale::v1::JobSpec spec;
  spec.mutable_model()->set_layers(2);
  spec.mutable_model()->set_width(64);
  spec.mutable_model()->set_heads(4);
  spec.mutable_model()->set_context(32);
  spec.mutable_data()->add_train_shards("data/bench.bin");
  spec.mutable_data()->set_batch_size(4);
  spec.mutable_data()->set_tokens(4096);
  spec.set_device("cpu");
  return spec;
}

std::string MakeTempDir(const std::string& tag) {
  std::string templ = "/tmp/sparsescale_" + tag + "_XXXXXX";
  if (mkdtemp(templ.data()) == nullptr) {
    throw std::runtime_error("mkdtemp failed");
  }
  return templ;
}

}  // namespace sparsescale::bench
