#include "worker/agent/job_runner.h"

#include <signal.h>

#include <algorithm>
#include <deque>
#include <filesystem>
#include <fstream>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/sha256.h"
#include "common/status.h"
#include "spec/proto_json.h"
#include "worker/agent/coordinator_rendezvous.h"
#include "worker/agent/file_digest.h"
#include "worker/agent/log_shipper.h"
#include "worker/agent/point_buffer.h"
#include "worker/agent/retry.h"
#include "worker/agent/subprocess.h"

namespace sparsescale::agent {

namespace fs = std::filesystem;
namespace v1 = sparsescale::v1;
using Clock = std::chrono::steady_clock;

namespace {

// A lease for part of a multi-node gang's ranks (Lease.rank_count below world_size).
bool IsGangMember(const v1::Lease& lease) {
  return lease.world_size() > 1 && lease.rank_count() > 0 &&
         lease.rank_count() < lease.world_size();
}

}  // namespace

std::string AttemptEndRequestId(const char* kind, const v1::Lease& lease) {
  std::string id = absl::StrCat(kind, "-", lease.job_id(), "-", lease.attempt());
  if (lease.rank() > 0) {
    absl::StrAppend(&id, "-r", lease.rank());
  }
  return id;
}

const char* JobEndName(JobEnd end) {
  switch (end) {
    case JobEnd::kSucceeded:
      return "succeeded";
    case JobEnd::kFailed:
      return "failed";
    case JobEnd::kCancelled:
      return "cancelled";
    case JobEnd::kReleased:
      return "released";
    case JobEnd::kAbandoned:
      return "abandoned";
    case JobEnd::kLeaseLost:
      return "lease lost";
  }
  return "?";
}

// A checkpoint the job process wrote, waiting for upload. It may be uploaded once the first
// `points_before` points of the attempt are acknowledged (every point up to its step).
struct JobRunner::PendingCheckpoint {
  int64_t step = 0;
  std::string path;
  int64_t points_before = 0;
};

// The state of one Run(): directories, the job process, unacknowledged points and checkpoints.
class JobRunner::Session {
 public:
  explicit Session(JobRunner& runner)
      : r_(runner),
        dir_(fs::path(runner.options_.work_dir) / "jobs" / runner.job_id() /
             absl::StrCat("a", runner.attempt())),
        points_(runner.options_.points_batch_max, runner.options_.points_max_delay),
        logs_((dir_ / "job.log").string(), runner.options_.log_max_bytes,
              runner.options_.log_chunk_bytes),
        backoff_(runner.options_.retry_initial, runner.options_.retry_max) {
    // Only the lease holding rank 0 reports (points and checkpoints come from rank 0 alone);
    // another gang member's log stays on its worker, in job.log.
    logs_enabled_ = runner.lease_.rank() == 0;
  }

  JobEnd Run();

 private:
  JobOrder order() const { return static_cast<JobOrder>(r_.order_.load()); }
  std::string Tag() const { return absl::StrCat(r_.job_id(), "#", r_.attempt()); }

  absl::Status Prepare();
  absl::Status DownloadResume(const std::string& path);
  absl::StatusOr<Subprocess> StartChild();
  JobEnd Pump(Subprocess& child);
  absl::Status HandleLine(const std::string& line);
  absl::Status TrySend(Clock::time_point now);
  absl::Status SendOnce(bool force);
  absl::Status SendLogs(bool force);
  absl::Status UploadFront();
  absl::Status FlushAll();
  absl::Status Retry(const std::function<absl::Status()>& call);
  std::chrono::milliseconds Budget() const;
  JobEnd Finish(const ExitInfo& exit);
  JobEnd Complete(v1::JobState outcome, v1::FailureClass failure, const std::string& error);
  void Cleanup(JobEnd end);

  JobRunner& r_;
  fs::path dir_;
  std::string resume_path_;
  std::shared_ptr<DatasetCache::Pin> dataset_;  // the job's dataset, held until the end
  PointBuffer points_;
  LogShipper logs_;
  bool logs_enabled_ = true;  // false once the coordinator cannot take logs
  Clock::time_point next_log_send_{};
  int64_t points_added_ = 0;
  int64_t points_acked_ = 0;
  std::deque<PendingCheckpoint> checkpoints_;
  std::optional<v1::JobSummary> done_;
  bool stopped_ = false;
  bool drain_sent_ = false;
  absl::Status error_;  // the job's own error (error event, bad event, rejected data)
  Backoff backoff_;
  Clock::time_point next_try_{};
};

JobRunner::JobRunner(v1::Lease lease, JobRunnerOptions options, WorkerRpc* rpc,
                     std::function<std::string()> worker_id)
    : lease_(std::move(lease)),
      options_(std::move(options)),
      rpc_(rpc),
      worker_id_(std::move(worker_id)) {
  std::lock_guard<std::mutex> lock(mu_);
  step_ = lease_.resume_step();
}

JobEnd JobRunner::Run() {
  Session session(*this);
  return session.Run();
}

void JobRunner::Order(JobOrder order) {
  int wanted = static_cast<int>(order);
  int current = order_.load();
  while (wanted > current && !order_.compare_exchange_weak(current, wanted)) {
  }
}

std::vector<v1::Lease> JobRunner::TakeNextLeases() {
  std::lock_guard<std::mutex> lock(mu_);
  return std::exchange(next_leases_, {});
}

v1::LeaseProgress JobRunner::Progress() const {
  v1::LeaseProgress p;
  p.set_job_id(lease_.job_id());
  p.set_attempt(lease_.attempt());
  std::lock_guard<std::mutex> lock(mu_);
  p.set_step(step_);
  p.set_tokens(tokens_);
  return p;
}

JobEnd JobRunner::Session::Run() {
  LogInfo("job %s: starting (resume step %d)", Tag(), r_.lease_.resume_step());
  JobEnd end;
  absl::Status prepared = Prepare();
  if (!prepared.ok()) {
    LogWarning("job %s: set-up failed: %s", Tag(), prepared.ToString());
    if (order() == JobOrder::kAbandon || IsLeaseLost(prepared)) {
      end = order() == JobOrder::kAbandon ? JobEnd::kAbandoned : JobEnd::kLeaseLost;
    } else {
      end = Complete(v1::JOB_STATE_FAILED, v1::FAILURE_CLASS_INFRA,
                     absl::StrCat("worker set-up: ", prepared.ToString()));
    }
  } else if (absl::StatusOr<Subprocess> child = StartChild(); !child.ok()) {
    end = Complete(v1::JOB_STATE_FAILED, v1::FAILURE_CLASS_INFRA,
                   absl::StrCat("starting the job process: ", child.status().ToString()));
  } else {
    end = Pump(*child);
  }
  LogInfo("job %s: %s", Tag(), JobEndName(end));
  Cleanup(end);
  return end;
}

absl::Status JobRunner::Session::Prepare() {
  std::error_code ec;
  fs::create_directories(dir_ / "ckpt", ec);
  fs::create_directories(dir_ / "upload", ec);
  if (ec) {
    return absl::InternalError(absl::StrCat("cannot create ", dir_.string(), ": ", ec.message()));
  }
  // A stored dataset: downloaded (once per worker) and verified into the cache, held until the
  // attempt ends; the job process reads it there (--dataset-dir).
  if (const std::string& hash = r_.lease_.spec().data().dataset(); !hash.empty()) {
    if (r_.options_.datasets == nullptr) {
      return absl::FailedPreconditionError(
          absl::StrCat("data.dataset: this worker has no dataset cache for ", hash));
    }
    ASSIGN_OR_RETURN(dataset_, r_.options_.datasets->Acquire(hash));
  }
  // As leased, unnormalised: the job process fills the defaults itself.
  std::ofstream(dir_ / "spec.json") << spec::ToJsonLine(r_.lease_.spec(), /*print_defaults=*/false)
                                    << "\n";
  if (r_.lease_.resume_step() > 0) {
    resume_path_ =
        (dir_ / absl::StrCat("resume-", r_.lease_.resume_step(), ".safetensors")).string();
    return Retry([&] { return DownloadResume(resume_path_); });
  }
  return absl::OkStatus();
}

absl::Status JobRunner::Session::DownloadResume(const std::string& path) {
  v1::DownloadCheckpointRequest request;
  request.set_job_id(r_.job_id());
  request.set_step(r_.lease_.resume_step());
  std::string tmp = path + ".part";
  std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
  Sha256 sha;
  v1::CheckpointInfo info;
  int64_t received = 0;
  absl::Status s = r_.rpc_->DownloadCheckpoint(
      request,
      [&](const v1::CheckpointInfo& i) {
        info = i;
        return absl::OkStatus();
      },
      [&](std::string_view data) {
        sha.Update(data);
        received += static_cast<int64_t>(data.size());
        out.write(data.data(), static_cast<std::streamsize>(data.size()));
        return out ? absl::OkStatus() : absl::InternalError(absl::StrCat("cannot write ", tmp));
      });
  out.close();
  RETURN_IF_ERROR(s);
  std::string digest = Sha256::ToHex(sha.Finish());
  if (received != info.size_bytes() || digest != info.sha256()) {
    // A transfer that arrived damaged is retried like a network error.
    return absl::UnavailableError(absl::StrCat(
        "checkpoint step ", info.step(), " arrived damaged: ", received, " bytes sha256 ", digest,
        ", expected ", info.size_bytes(), " bytes sha256 ", info.sha256()));
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    return absl::InternalError(absl::StrCat("cannot rename ", tmp, ": ", ec.message()));
  }
  LogInfo("job %s: downloaded checkpoint step %d (%d bytes)", Tag(), info.step(), received);
  return absl::OkStatus();
}

absl::StatusOr<Subprocess> JobRunner::Session::StartChild() {
  const JobRunnerOptions& o = r_.options_;
  SpawnOptions spawn;
  spawn.argv = {o.worker_exe,   "run-job",
                "--spec",       (dir_ / "spec.json").string(),
                "--out",        (dir_ / "ckpt").string(),
                "--upload-dir", (dir_ / "upload").string(),
                "--device",     o.device,
                "--threads",    absl::StrCat(o.threads)};
  if (!resume_path_.empty()) {
    spawn.argv.push_back("--resume");
    spawn.argv.push_back(resume_path_);
  }
  if (dataset_ != nullptr) {
    spawn.argv.push_back("--dataset-dir");
    spawn.argv.push_back(dataset_->files_dir());
  }
  if (!o.coordinator.empty()) {
    CoordinatorRendezvousFlags rendezvous{o.coordinator, r_.job_id(), r_.attempt()};
    for (const std::string& arg : rendezvous.ToArgs()) {
      spawn.argv.push_back(arg);
    }
  }
  if (!o.advertise_address.empty()) {
    spawn.argv.push_back("--advertise-address");
    spawn.argv.push_back(o.advertise_address);
  }
  if (IsGangMember(r_.lease_)) {
    spawn.argv.push_back("--first-rank");
    spawn.argv.push_back(absl::StrCat(r_.lease_.rank()));
    spawn.argv.push_back("--rank-count");
    spawn.argv.push_back(absl::StrCat(r_.lease_.rank_count()));
  }
  spawn.extra_env = o.env;
  spawn.capture_stdout = true;
  spawn.stderr_path = (dir_ / "job.log").string();
  spawn.kill_on_parent_death = true;
  return Subprocess::Spawn(spawn);
}

JobEnd JobRunner::Session::Pump(Subprocess& child) {
  while (true) {
    JobOrder o = order();
    if (o == JobOrder::kAbandon || o == JobOrder::kCancel) {
      child.Signal(SIGKILL);
      break;
    }
    if (o == JobOrder::kDrain && !drain_sent_) {
      child.Signal(SIGTERM);  // The job process checkpoints and reports "stopped".
      drain_sent_ = true;
    }
    std::vector<std::string> lines;
    bool open = child.ReadLines(r_.options_.poll_interval, &lines);
    for (const std::string& line : lines) {
      absl::Status handled = HandleLine(line);
      if (!handled.ok() && error_.ok()) {
        error_ = handled;
        child.Signal(SIGKILL);
      }
    }
    if (absl::Status polled = logs_.Poll(); !polled.ok() && logs_enabled_) {
      LogWarning("job %s: %s; its log is not sent", Tag(), polled.ToString());
      logs_enabled_ = false;
    }
    absl::Status sent = TrySend(Clock::now());
    if (IsLeaseLost(sent)) {
      LogWarning("job %s: the coordinator rejected this attempt: %s", Tag(), sent.ToString());
      child.Signal(SIGKILL);
      child.Wait();
      return JobEnd::kLeaseLost;
    }
    if (!sent.ok() && error_.ok()) {
      error_ = absl::Status(sent.code(), absl::StrCat("report rejected: ", sent.message()));
      child.Signal(SIGKILL);
    }
    if (!open) {
      break;
    }
  }
  return Finish(child.Wait());
}

absl::Status JobRunner::Session::HandleLine(const std::string& line) {
  ASSIGN_OR_RETURN(v1::JobProcessEvent event, ParseChildEvent(line));
  switch (event.event_case()) {
    case v1::JobProcessEvent::kPoint: {
      points_.Add(event.point(), Clock::now());
      ++points_added_;
      std::lock_guard<std::mutex> lock(r_.mu_);
      r_.step_ = std::max(r_.step_, event.point().step());
      r_.tokens_ = std::max(r_.tokens_, event.point().tokens());
      break;
    }
    case v1::JobProcessEvent::kCheckpoint:
      checkpoints_.push_back(PendingCheckpoint{event.checkpoint().step(),
                                               event.checkpoint().path(), points_added_});
      break;
    case v1::JobProcessEvent::kProgress: {
      std::lock_guard<std::mutex> lock(r_.mu_);
      r_.step_ = event.progress().step();
      r_.tokens_ = event.progress().tokens();
      break;
    }
    case v1::JobProcessEvent::kDone:
      done_ = event.done();
      break;
    case v1::JobProcessEvent::kStopped:
      stopped_ = true;
      break;
    case v1::JobProcessEvent::kError:
      error_ = EventError(event.error());
      break;
    case v1::JobProcessEvent::EVENT_NOT_SET:
      break;  // ParseChildEvent never returns one
  }
  return absl::OkStatus();
}

// One non-blocking round of reporting while the job runs; transient failures only delay the
// next round.
absl::Status JobRunner::Session::TrySend(Clock::time_point now) {
  if (now < next_try_) {
    return absl::OkStatus();
  }
  absl::Status s = SendOnce(/*force=*/false);
  if (IsTransient(s)) {
    next_try_ = now + backoff_.Next();
    return absl::OkStatus();
  }
  if (s.ok()) {
    backoff_.Reset();
  }
  return s;
}

absl::Status JobRunner::Session::SendOnce(bool force) {
  bool checkpoint_waits =
      !checkpoints_.empty() && points_acked_ < checkpoints_.front().points_before;
  if (!points_.empty() && (force || checkpoint_waits || points_.Due(Clock::now()))) {
    v1::ReportPointsRequest request;
    request.set_worker_id(r_.worker_id_());
    request.set_job_id(r_.job_id());
    request.set_attempt(r_.attempt());
    std::vector<v1::LossPoint> batch = points_.NextBatch();
    for (v1::LossPoint& p : batch) {
      *request.add_points() = std::move(p);
    }
    RETURN_IF_ERROR(r_.rpc_->ReportPoints(request).status());
    points_.Ack(batch.size());
    points_acked_ += static_cast<int64_t>(batch.size());
  }
  if (!checkpoints_.empty() && points_acked_ >= checkpoints_.front().points_before) {
    RETURN_IF_ERROR(UploadFront());
  }
  return SendLogs(force);
}

// One ReportLogs call when log bytes are pending and due (every points_max_delay, at once when
// a whole chunk is pending, always when forced).
absl::Status JobRunner::Session::SendLogs(bool force) {
  if (!logs_enabled_ || logs_.empty()) {
    return absl::OkStatus();
  }
  const Clock::time_point now = Clock::now();
  if (!force && now < next_log_send_ && logs_.pending_bytes() < r_.options_.log_chunk_bytes) {
    return absl::OkStatus();
  }
  v1::ReportLogsRequest request;
  request.set_worker_id(r_.worker_id_());
  request.set_job_id(r_.job_id());
  request.set_attempt(r_.attempt());
  request.set_offset(logs_.next_offset());
  request.set_data(std::string(logs_.next_chunk()));
  request.set_keep_bytes(r_.options_.log_max_bytes);
  absl::StatusOr<v1::ReportLogsResponse> response = r_.rpc_->ReportLogs(request);
  if (!response.ok() && !IsTransient(response.status()) && !IsLeaseLost(response.status())) {
    // The job's results matter more than its log: stop sending it, keep running.
    LogWarning("job %s: the coordinator refused its log (%s); the log stays in %s", Tag(),
               response.status().ToString(), (dir_ / "job.log").string());
    logs_enabled_ = false;
    return absl::OkStatus();
  }
  RETURN_IF_ERROR(response.status());
  logs_.Ack(response->stored_through());
  next_log_send_ = now + r_.options_.points_max_delay;
  return absl::OkStatus();
}

absl::Status JobRunner::Session::UploadFront() {
  const PendingCheckpoint& ckpt = checkpoints_.front();
  ASSIGN_OR_RETURN(FileDigest digest, DigestFile(ckpt.path));
  v1::CheckpointInfo info;
  info.set_job_id(r_.job_id());
  info.set_attempt(r_.attempt());
  info.set_step(ckpt.step);
  info.set_size_bytes(digest.size_bytes);
  info.set_sha256(digest.sha256);
  auto in = std::make_shared<std::ifstream>(ckpt.path, std::ios::binary);
  auto source = [in](std::string* chunk) -> absl::StatusOr<bool> {
    chunk->resize(kCheckpointChunkBytes);
    in->read(chunk->data(), static_cast<std::streamsize>(chunk->size()));
    chunk->resize(static_cast<size_t>(in->gcount()));
    if (in->bad()) {
      return absl::DataLossError("checkpoint read failed");
    }
    return !chunk->empty();
  };
  RETURN_IF_ERROR(r_.rpc_->UploadCheckpoint(r_.worker_id_(), info, source).status());
  std::error_code ec;
  fs::remove(ckpt.path, ec);  // The upload link only; the job keeps its own copy.
  checkpoints_.pop_front();
  return absl::OkStatus();
}

std::chrono::milliseconds JobRunner::Session::Budget() const {
  return drain_sent_ || order() == JobOrder::kDrain ? r_.options_.drain_budget
                                                    : r_.options_.finish_budget;
}

// Repeats `call` while it fails transiently, within the budget, unless the job is abandoned.
absl::Status JobRunner::Session::Retry(const std::function<absl::Status()>& call) {
  auto deadline = Clock::now() + Budget();
  Backoff backoff(r_.options_.retry_initial, r_.options_.retry_max);
  while (true) {
    absl::Status s = call();
    if (s.ok() || !IsTransient(s)) {
      return s;
    }
    auto delay = backoff.Next();
    if (order() == JobOrder::kAbandon || Clock::now() + delay > deadline) {
      return s;
    }
    std::this_thread::sleep_for(delay);
  }
}

absl::Status JobRunner::Session::FlushAll() {
  return Retry([&]() -> absl::Status {
    while (!points_.empty() || !checkpoints_.empty() || (logs_enabled_ && !logs_.empty())) {
      RETURN_IF_ERROR(SendOnce(/*force=*/true));
    }
    return absl::OkStatus();
  });
}

JobEnd JobRunner::Session::Finish(const ExitInfo& exit) {
  JobOrder o = order();
  if (o == JobOrder::kAbandon) {
    return JobEnd::kAbandoned;
  }
  if (o == JobOrder::kCancel) {
    return Complete(v1::JOB_STATE_CANCELLED, v1::FAILURE_CLASS_UNSPECIFIED, "cancelled");
  }
  if (absl::Status polled = logs_.Poll(); !polled.ok()) {  // the log's last lines
    logs_enabled_ = false;
  }
  absl::Status flushed = FlushAll();
  if (IsLeaseLost(flushed)) {
    return JobEnd::kLeaseLost;
  }
  if (!error_.ok()) {
    // The trainer's own error; a device that cannot be used is the machine's fault.
    auto failure = error_.code() == absl::StatusCode::kUnavailable ? v1::FAILURE_CLASS_INFRA
                                                                   : v1::FAILURE_CLASS_JOB;
    return Complete(v1::JOB_STATE_FAILED, failure, error_.ToString());
  }
  if (!flushed.ok()) {
    // Everything ran but the results could not be delivered: let the coordinator's lease
    // expiry requeue the job rather than report a success whose points are missing.
    LogWarning("job %s: could not deliver results: %s", Tag(), flushed.ToString());
    return JobEnd::kLeaseLost;
  }
  if (done_.has_value()) {
    return Complete(v1::JOB_STATE_SUCCEEDED, v1::FAILURE_CLASS_UNSPECIFIED, "");
  }
  if (stopped_ || drain_sent_) {
    return Complete(v1::JOB_STATE_QUEUED, v1::FAILURE_CLASS_UNSPECIFIED, "");
  }
  return Complete(v1::JOB_STATE_FAILED, v1::FAILURE_CLASS_INFRA,
                  absl::StrCat("job process ended without a result: ", exit.ToString()));
}

JobEnd JobRunner::Session::Complete(v1::JobState outcome, v1::FailureClass failure,
                                    const std::string& error) {
  v1::CompleteJobRequest request;
  request.set_request_id(AttemptEndRequestId("complete", r_.lease_));
  request.set_worker_id(r_.worker_id_());
  request.set_job_id(r_.job_id());
  request.set_attempt(r_.attempt());
  request.set_outcome(outcome);
  request.set_failure(failure);
  request.set_error(error);
  if (done_.has_value()) {
    request.set_final_train_loss(done_->final_train_loss());
    if (done_->has_final_eval_loss()) {
      request.set_final_eval_loss(done_->final_eval_loss());
    }
    request.set_steps(done_->steps());
  }
  // A finished attempt frees its slot: ask for the next lease in the same call (and commit) when
  // the agent wants one. A retry carries the same request id, so it gets the same lease back.
  if (outcome != v1::JOB_STATE_QUEUED && r_.options_.next_free_slots) {
    request.set_next_free_slots(std::max(0, r_.options_.next_free_slots()));
  }
  absl::Status s = Retry([&]() -> absl::Status {
    request.set_worker_id(r_.worker_id_());
    absl::StatusOr<v1::CompleteJobResponse> response = r_.rpc_->CompleteJob(request);
    if (!response.ok()) {
      return response.status();
    }
    std::lock_guard<std::mutex> lock(r_.mu_);
    r_.next_leases_.assign(response->leases().begin(), response->leases().end());
    return absl::OkStatus();
  });
  if (!s.ok()) {
    LogWarning("job %s: CompleteJob failed: %s", Tag(), s.ToString());
    return order() == JobOrder::kAbandon ? JobEnd::kAbandoned : JobEnd::kLeaseLost;
  }
  switch (outcome) {
    case v1::JOB_STATE_SUCCEEDED:
      return JobEnd::kSucceeded;
    case v1::JOB_STATE_CANCELLED:
      return JobEnd::kCancelled;
    case v1::JOB_STATE_QUEUED:
      return JobEnd::kReleased;
    default:
      return JobEnd::kFailed;
  }
}

void JobRunner::Session::Cleanup(JobEnd end) {
  if (r_.options_.keep_files) {
    return;
  }
  std::error_code ec;
  fs::remove_all(dir_ / "ckpt", ec);
  fs::remove_all(dir_ / "upload", ec);
  if (!resume_path_.empty()) {
    fs::remove(resume_path_, ec);
  }
  (void)end;  // spec.json and job.log stay for inspection.
}

}  // namespace sparsescale::agent
