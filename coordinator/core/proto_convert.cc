#include "coordinator/core/proto_convert.h"

#include "absl/strings/str_cat.h"
#include "spec/job_spec.h"

namespace sparsescale::coordinator {
namespace {

namespace v1 = sparsescale::v1;

// The scheduler, the store and the protocol each define a job's state and failure class (the
// scheduler and store stay free of protobuf); they are converted by number, so the numbers must
// agree.
static_assert(static_cast<int>(store::JobState::kQueued) == v1::JOB_STATE_QUEUED);
static_assert(static_cast<int>(store::JobState::kRunning) == v1::JOB_STATE_RUNNING);
static_assert(static_cast<int>(store::JobState::kSucceeded) == v1::JOB_STATE_SUCCEEDED);
static_assert(static_cast<int>(store::JobState::kFailed) == v1::JOB_STATE_FAILED);
static_assert(static_cast<int>(store::JobState::kCancelled) == v1::JOB_STATE_CANCELLED);
static_assert(v1::JobState_MAX == v1::JOB_STATE_CANCELLED, "a new JobState needs a store one");
static_assert(static_cast<int>(scheduler::JobPhase::kQueued) == v1::JOB_STATE_QUEUED);
static_assert(static_cast<int>(scheduler::JobPhase::kRunning) == v1::JOB_STATE_RUNNING);
static_assert(static_cast<int>(scheduler::JobPhase::kSucceeded) == v1::JOB_STATE_SUCCEEDED);
static_assert(static_cast<int>(scheduler::JobPhase::kFailed) == v1::JOB_STATE_FAILED);
static_assert(static_cast<int>(scheduler::JobPhase::kCancelled) == v1::JOB_STATE_CANCELLED);
static_assert(static_cast<int>(store::FailureClass::kNone) == v1::FAILURE_CLASS_UNSPECIFIED);
static_assert(static_cast<int>(store::FailureClass::kInfra) == v1::FAILURE_CLASS_INFRA);
static_assert(static_cast<int>(store::FailureClass::kJob) == v1::FAILURE_CLASS_JOB);
static_assert(v1::FailureClass_MAX == v1::FAILURE_CLASS_JOB, "a new class needs a store one");
static_assert(static_cast<int>(scheduler::Failure::kNone) == v1::FAILURE_CLASS_UNSPECIFIED);
static_assert(static_cast<int>(scheduler::Failure::kInfra) == v1::FAILURE_CLASS_INFRA);
static_assert(static_cast<int>(scheduler::Failure::kJob) == v1::FAILURE_CLASS_JOB);

store::JobState StateFromPhase(scheduler::JobPhase phase) {
  return static_cast<store::JobState>(phase);
}

store::FailureClass FailureToStore(scheduler::Failure failure) {
  return static_cast<store::FailureClass>(failure);
}

v1::FailureClass FailureToProto(store::FailureClass failure) {
  return static_cast<v1::FailureClass>(failure);
}

}  // namespace

store::JobState StateFromProto(v1::JobState state) { return static_cast<store::JobState>(state); }

v1::JobState StateToProto(store::JobState state) { return static_cast<v1::JobState>(state); }

scheduler::Failure FailureFromProto(v1::FailureClass failure) {
  return static_cast<scheduler::Failure>(failure);
}

absl::StatusOr<v1::Job> JobToProto(const store::JobRow& row) {
  v1::Job job;
  if (!job.mutable_spec()->ParseFromString(row.spec)) {
    return absl::DataLossError(absl::StrCat("stored spec of job ", row.id, " does not parse"));
  }
  job.set_id(row.id);
  job.set_sweep_id(row.sweep_id);
  job.set_state(StateToProto(row.state));
  job.set_priority(row.priority);
  job.set_attempt(row.attempt);
  job.set_max_attempts(row.max_attempts);
  job.set_worker_id(row.worker_id);
  job.set_step(row.step);
  job.set_total_steps(row.total_steps);
  job.set_last_train_loss(row.last_train_loss);
  if (row.final_eval_loss.has_value()) {
    job.set_last_eval_loss(*row.final_eval_loss);
  } else if (row.last_eval_loss.has_value()) {
    job.set_last_eval_loss(*row.last_eval_loss);
  }
  job.set_error(row.error);
  job.set_last_failure(FailureToProto(row.last_failure));
  job.set_created_unix_ms(row.created_unix_ms);
  job.set_updated_unix_ms(row.updated_unix_ms);
  job.set_checkpoint_step(row.checkpoint_step);
  return job;
}

v1::CheckpointInfo CheckpointToProto(const store::CheckpointRow& row) {
  v1::CheckpointInfo info;
  info.set_job_id(row.job_id);
  info.set_step(row.step);
  info.set_attempt(row.attempt);
  info.set_size_bytes(row.size_bytes);
  info.set_sha256(row.sha256);
  info.set_created_unix_ms(row.created_unix_ms);
  info.set_stored_in(row.stored_in == store::CheckpointStorage::kBlobDir
                         ? v1::CHECKPOINT_STORAGE_BLOB_DIR
                         : v1::CHECKPOINT_STORAGE_SQLITE);
  return info;
}

v1::StoreHealth StoreHealthToProto(const store::StoreHealth& health) {
  v1::StoreHealth out;
  out.set_disk_free_bytes(health.disk_free_bytes);
  out.set_disk_total_bytes(health.disk_total_bytes);
  out.set_db_bytes(health.db_bytes);
  out.set_wal_bytes(health.wal_bytes);
  out.set_commits(health.commits);
  out.set_last_commit_ms(health.last_commit_ms);
  out.set_p99_commit_ms(health.p99_commit_ms);
  out.set_max_commit_ms(health.max_commit_ms);
  out.set_write_errors(health.write_errors);
  out.set_last_error(health.last_error);
  out.set_failing_since_unix_ms(health.failing_since_unix_ms);
  out.set_failing_batches(health.failing_batches);
  out.set_failure_kind(health.failure_kind);
  return out;
}

scheduler::WorkerResources ResourcesFromProto(const v1::Resources& r) {
  scheduler::WorkerResources resources;
  resources.device_kind = r.device_kind();
  resources.gpus = r.gpus();
  resources.memory_bytes = r.memory_bytes();
  resources.slots = r.slots() > 0 ? r.slots() : 1;
  return resources;
}

v1::Resources ResourcesToProto(const scheduler::WorkerResources& resources) {
  v1::Resources r;
  r.set_device_kind(resources.device_kind);
  r.set_gpus(resources.gpus);
  r.set_memory_bytes(resources.memory_bytes);
  r.set_slots(resources.slots);
  return r;
}

scheduler::JobInit JobInitFromRow(const store::JobRow& row) {
  scheduler::JobInit init;
  init.id = row.id;
  init.seq = row.seq;
  init.priority = row.priority;
  init.requirements = {
      .device = row.device, .gpus = row.gpus, .memory_bytes = row.memory_bytes, .ranks = 1};
  // The rank count is not a column: it comes from the stored spec (as PrepareJob computed it).
  v1::JobSpec spec;
  if (spec.ParseFromString(row.spec)) {
    init.requirements.ranks = spec::DataParallelRanks(spec);
  }
  init.max_attempts = row.max_attempts;
  init.attempt = row.attempt;
  init.infra_failures = row.infra_failures;
  init.job_failures = row.job_failures;
  init.checkpoint_step = row.checkpoint_step;
  init.cancel_requested = row.cancel_requested;
  return init;
}

scheduler::WorkerResources ResourcesFromRow(const store::WorkerRow& row) {
  return {.device_kind = row.device_kind,
          .gpus = row.gpus,
          .memory_bytes = row.memory_bytes,
          .slots = row.slots};
}

store::GrantRecord GrantFromTransition(const scheduler::Transition& t) {
  return store::GrantRecord{
      .job_id = t.job_id, .attempt = t.attempt, .worker_id = t.worker_id, .resume_step = t.step};
}

store::AttemptEndRecord AttemptEndFromTransition(const scheduler::Transition& t) {
  store::AttemptEndRecord end;
  end.job_id = t.job_id;
  end.attempt = t.attempt;
  end.state = StateFromPhase(t.state);
  end.outcome = StateFromPhase(t.outcome);
  end.failure = FailureToStore(t.failure);
  end.error = t.reason;
  end.infra_failures = t.infra_failures;
  end.job_failures = t.job_failures;
  end.checkpoint_step = t.step;
  return end;
}

std::string JobStateName(store::JobState state) { return v1::JobState_Name(StateToProto(state)); }

}  // namespace sparsescale::coordinator
