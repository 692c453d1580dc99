// An in-memory coordinator for the agent's tests: stores points, checkpoints and completions,
// hands out scripted leases, and can be told to fail calls. Thread-safe.
#pragma once

#include <algorithm>
#include <chrono>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/await_mutex.h"
#include "common/sha256.h"
#include "common/status.h"
#include "worker/agent/worker_rpc.h"

namespace sparsescale::agent {

namespace v1 = sparsescale::v1;

class FakeWorkerRpc : public WorkerRpc {
 public:
  struct Call {
    std::string method;
    // Last point's step (ReportPoints), checkpoint step (up or down) or log offset (logs).
    int64_t step = 0;
  };

  absl::StatusOr<v1::RegisterWorkerResponse> RegisterWorker(
      const v1::RegisterWorkerRequest& request) override {
    AwaitMutex::Lock lock(mu_);
    registrations_.push_back(request);
    if (!refusal_.ok()) {
      return refusal_;
    }
    v1::RegisterWorkerResponse response;
    response.set_worker_id(absl::StrCat("w", registrations_.size()));
    response.set_heartbeat_period_ms(50);
    return response;
  }

  absl::StatusOr<v1::AcquireLeaseResponse> AcquireLease(
      const v1::AcquireLeaseRequest& request) override {
    AwaitMutex::Lock lock(mu_);
    v1::AcquireLeaseResponse response;
    for (int i = 0; i < request.free_slots() && !leases_.empty(); ++i) {
      *response.add_leases() = leases_.front();
      leases_.pop_front();
    }
    if (response.leases().empty()) {
      lock.AwaitFor(std::chrono::milliseconds(20), [this] { return !leases_.empty(); });
    }
    return response;
  }

  absl::StatusOr<v1::HeartbeatResponse> Heartbeat(const v1::HeartbeatRequest& request) override {
    AwaitMutex::Lock lock(mu_);
    heartbeats_.push_back(request);
    v1::HeartbeatResponse response;
    response.set_reregister(reregister_once_);
    reregister_once_ = false;
    for (const v1::Order& o : orders_) {
      *response.add_orders() = o;
    }
    orders_.clear();
    return response;
  }

  absl::StatusOr<v1::ReportPointsResponse> ReportPoints(
      const v1::ReportPointsRequest& request) override {
    AwaitMutex::Lock lock(mu_);
    if (absl::Status s = NextFailure(&report_failures_); !s.ok()) {
      return s;
    }
    for (const v1::LossPoint& p : request.points()) {
      points_[request.job_id()].push_back(p);
    }
    calls_.push_back({"points", request.points().empty() ? 0 : request.points().rbegin()->step()});
    v1::ReportPointsResponse response;
    response.set_points_stored(request.points_size());
    return response;
  }

  // Stores like the coordinator: bytes at offsets already stored are ignored.
  absl::StatusOr<v1::ReportLogsResponse> ReportLogs(const v1::ReportLogsRequest& request) override {
    AwaitMutex::Lock lock(mu_);
    if (absl::Status s = NextFailure(&log_failures_); !s.ok()) {
      return s;
    }
    std::string& log = logs_[{request.job_id(), request.attempt()}];
    const auto end = static_cast<int64_t>(log.size());
    if (request.offset() > end) {
      log.append(static_cast<size_t>(request.offset() - end), '?');  // dropped bytes
    }
    const int64_t skip = std::max<int64_t>(0, end - request.offset());
    if (skip < static_cast<int64_t>(request.data().size())) {
      log.append(request.data().substr(static_cast<size_t>(skip)));
    }
    resent_log_bytes_ += std::min<int64_t>(skip, static_cast<int64_t>(request.data().size()));
    calls_.push_back({"logs", request.offset()});
    v1::ReportLogsResponse response;
    response.set_stored_through(static_cast<int64_t>(log.size()));
    return response;
  }
  std::string Log(const std::string& job_id, int attempt) {
    AwaitMutex::Lock lock(mu_);
    return logs_[{job_id, attempt}];
  }
  // The attempt's log as stored when its CompleteJob arrived.
  std::string LogAtCompletion(const std::string& job_id, int attempt) {
    AwaitMutex::Lock lock(mu_);
    return logs_at_completion_[{job_id, attempt}];
  }
  int64_t resent_log_bytes() {
    AwaitMutex::Lock lock(mu_);
    return resent_log_bytes_;
  }
  void FailLogs(std::vector<absl::Status> failures) {
    AwaitMutex::Lock lock(mu_);
    log_failures_.assign(failures.begin(), failures.end());
  }

  absl::StatusOr<v1::CheckpointInfo> UploadCheckpoint(const std::string& worker_id,
                                                      const v1::CheckpointInfo& info,
                                                      const ChunkSource& source) override {
    (void)worker_id;
    std::string data, chunk;
    while (true) {
      absl::StatusOr<bool> more = source(&chunk);
      if (!more.ok()) {
        return more.status();
      }
      if (!*more) {
        break;
      }
      data += chunk;
    }
    AwaitMutex::Lock lock(mu_);
    if (absl::Status s = NextFailure(&upload_failures_); !s.ok()) {
      return s;
    }
    if (static_cast<int64_t>(data.size()) != info.size_bytes() ||
        Sha256Hex(data) != info.sha256()) {
      return absl::DataLossError("upload does not match its size and sha256");
    }
    checkpoints_[info.job_id()][info.step()] = data;
    calls_.push_back({"checkpoint", info.step()});
    return info;
  }

  absl::Status DownloadCheckpoint(const v1::DownloadCheckpointRequest& request,
                                  const InfoSink& on_info, const DataSink& on_data) override {
    std::string data;
    v1::CheckpointInfo info;
    {
      AwaitMutex::Lock lock(mu_);
      auto& steps = checkpoints_[request.job_id()];
      auto it = steps.find(request.step());
      if (it == steps.end()) {
        return absl::NotFoundError("no such checkpoint");
      }
      data = it->second;
      calls_.push_back({"download", request.step()});
      info.set_sha256(Sha256Hex(data));
      if (damaged_downloads_ > 0 && !data.empty()) {
        // One flipped bit and the size unchanged: only the SHA-256 check can tell (the fake
        // job's "step=10" would read as step 11).
        --damaged_downloads_;
        data.back() = static_cast<char>(data.back() ^ 1);
      }
    }
    info.set_job_id(request.job_id());
    info.set_step(request.step());
    info.set_size_bytes(static_cast<int64_t>(data.size()));
    RETURN_IF_ERROR(on_info(info));
    return on_data(data);
  }

  absl::StatusOr<v1::CompleteJobResponse> CompleteJob(
      const v1::CompleteJobRequest& request) override {
    AwaitMutex::Lock lock(mu_);
    if (absl::Status s = NextFailure(&complete_failures_); !s.ok()) {
      return s;
    }
    completions_.push_back(request);
    logs_at_completion_[{request.job_id(), request.attempt()}] =
        logs_[{request.job_id(), request.attempt()}];
    calls_.push_back({"complete", request.steps()});
    v1::CompleteJobResponse response;
    for (int i = 0; i < request.next_free_slots() && !leases_.empty(); ++i) {
      *response.add_leases() = leases_.front();
      leases_.pop_front();
      ++leases_on_completion_;
    }
    return response;
  }
  // Leases handed out in CompleteJob answers (chained), not by AcquireLease.
  int leases_on_completion() {
    AwaitMutex::Lock lock(mu_);
    return leases_on_completion_;
  }

  // Scripting and inspection.
  void AddLease(const v1::Lease& lease) {
    AwaitMutex::Lock lock(mu_);
    leases_.push_back(lease);
  }
  void AddOrder(const v1::Order& order) {
    AwaitMutex::Lock lock(mu_);
    orders_.push_back(order);
  }
  void FailReports(std::vector<absl::Status> failures) {
    AwaitMutex::Lock lock(mu_);
    report_failures_.assign(failures.begin(), failures.end());
  }
  void FailUploads(std::vector<absl::Status> failures) {
    AwaitMutex::Lock lock(mu_);
    upload_failures_.assign(failures.begin(), failures.end());
  }
  void DamageDownloads(int count) {
    AwaitMutex::Lock lock(mu_);
    damaged_downloads_ = count;
  }
  // Every registration from now on answers `refusal` (a coordinator of another protocol).
  void RefuseRegistrations(absl::Status refusal) {
    AwaitMutex::Lock lock(mu_);
    refusal_ = std::move(refusal);
  }
  std::vector<v1::RegisterWorkerRequest> registration_requests() {
    AwaitMutex::Lock lock(mu_);
    return registrations_;
  }
  void RequestReregister() {
    AwaitMutex::Lock lock(mu_);
    reregister_once_ = true;
  }
  void StoreCheckpoint(const std::string& job_id, int64_t step, const std::string& data) {
    AwaitMutex::Lock lock(mu_);
    checkpoints_[job_id][step] = data;
  }
  // Waits until `job_id` has at least `count` points stored. False on timeout.
  bool WaitForPoints(const std::string& job_id, size_t count, absl::Duration timeout) {
    AwaitMutex::Lock lock(mu_);
    auto enough = [&]() { return points_[job_id].size() >= count; };
    return lock.AwaitFor(absl::ToChronoNanoseconds(timeout), enough);
  }
  bool WaitForCompletions(size_t count, absl::Duration timeout) {
    AwaitMutex::Lock lock(mu_);
    auto enough = [&]() { return completions_.size() >= count; };
    return lock.AwaitFor(absl::ToChronoNanoseconds(timeout), enough);
  }
  bool WaitForRegistrations(size_t count, absl::Duration timeout) {
    AwaitMutex::Lock lock(mu_);
    auto enough = [&]() { return registrations_.size() >= count; };
    return lock.AwaitFor(absl::ToChronoNanoseconds(timeout), enough);
  }
  std::vector<int64_t> PointSteps(const std::string& job_id) {
    AwaitMutex::Lock lock(mu_);
    std::vector<int64_t> steps;
    for (const auto& p : points_[job_id]) {
      steps.push_back(p.step());
    }
    return steps;
  }
  std::map<int64_t, std::string> Checkpoints(const std::string& job_id) {
    AwaitMutex::Lock lock(mu_);
    return checkpoints_[job_id];
  }
  std::vector<v1::CompleteJobRequest> completions() {
    AwaitMutex::Lock lock(mu_);
    return completions_;
  }
  std::vector<Call> calls() {
    AwaitMutex::Lock lock(mu_);
    return calls_;
  }
  std::vector<v1::HeartbeatRequest> heartbeats() {
    AwaitMutex::Lock lock(mu_);
    return heartbeats_;
  }
  size_t registrations() {
    AwaitMutex::Lock lock(mu_);
    return registrations_.size();
  }

 private:
  static absl::Status NextFailure(std::deque<absl::Status>* failures) {
    if (failures->empty()) {
      return absl::OkStatus();
    }
    absl::Status s = failures->front();
    failures->pop_front();
    return s;
  }

  AwaitMutex mu_;
  std::deque<v1::Lease> leases_;
  int leases_on_completion_ = 0;
  std::vector<v1::Order> orders_;
  std::deque<absl::Status> report_failures_, upload_failures_, complete_failures_, log_failures_;
  std::map<std::pair<std::string, int>, std::string> logs_, logs_at_completion_;
  int64_t resent_log_bytes_ = 0;
  int damaged_downloads_ = 0;
  bool reregister_once_ = false;
  absl::Status refusal_;
  std::vector<v1::RegisterWorkerRequest> registrations_;
  std::vector<v1::HeartbeatRequest> heartbeats_;
  std::map<std::string, std::vector<v1::LossPoint>> points_;
  std::map<std::string, std::map<int64_t, std::string>> checkpoints_;
  std::vector<v1::CompleteJobRequest> completions_;
  std::vector<Call> calls_;
};

}  // namespace sparsescale::agent
