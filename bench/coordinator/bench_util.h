// Support for the coordinator benchmarks: run `sparsescale-coordinator` as a child process on
// loopback (port 0), connect stubs, read its memory, and summarise latencies.
// Not thread-safe except the stubs and Percentile.
#pragma once

#include <grpcpp/grpcpp.h>
#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "sparsescale/v1/coordinator.grpc.pb.h"

namespace sparsescale::bench {

class CoordinatorProcess {
 public:
  // Starts `binary --db db --listen 127.0.0.1:0 extra...` and waits for "listening on".
  CoordinatorProcess(const std::string& binary, const std::string& db,
                     const std::vector<std::string>& extra);
  ~CoordinatorProcess();  // SIGTERM, then wait

  const std::string& address() const { return address_; }
  // Channels made after this dial over TLS, verifying the coordinator against `ca_file`.
  void UseTls(const std::string& ca_file) { ca_file_ = ca_file; }
  std::shared_ptr<grpc::Channel> NewChannel() const;  // a separate connection each call
  // VmRSS and VmHWM of the child in KiB.
  int64_t RssKiB() const;
  int64_t PeakRssKiB() const;
  // User + system CPU time the child has used so far.
  double CpuSeconds() const;

 private:
  pid_t pid_ = -1;
  std::string address_;
  std::string ca_file_;
};

// The p-th percentile (0..100) of `values` (sorted copy); 0 when empty.
double Percentile(std::vector<double> values, double p);

double NowSeconds();

// A small valid job spec (the benchmark never trains).
sparsescale::v1::JobSpec TinySpec();

// A fresh temporary directory (removed by the caller).
std::string MakeTempDir(const std::string& tag);

}  // namespace sparsescale::bench
