#include "coordinator/api/convert.h"

#include "absl/strings/str_cat.h"
#include "spec/job_spec.h"

namespace sparsescale::coordinator {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) {
    return grpc::Status::OK;
  }
  // absl and gRPC use the same canonical code numbers.
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

store::PointRow PointFromProto(const sparsescale::v1::LossPoint& p) {
  store::PointRow row;
  row.step = p.step();
  row.tokens = p.tokens();
  row.train_loss = p.train_loss();
  if (p.has_eval_loss()) {
    row.eval_loss = p.eval_loss();
  }
  row.sparsity = p.sparsity();
  row.lr = p.lr();
  row.nonzeros_paper = p.nonzeros_paper();
  row.nonzeros_exact = p.nonzeros_exact();
  row.flops_dense = p.flops_dense();
  row.flops_sparse = p.flops_sparse();
  row.wall_s = p.wall_s();
  return row;
}

sparsescale::v1::LossPoint PointToProto(const store::PointRow& row) {
  sparsescale::v1::LossPoint p;
  p.set_step(row.step);
  p.set_tokens(row.tokens);
  p.set_train_loss(row.train_loss);
  if (row.eval_loss.has_value()) {
    p.set_eval_loss(*row.eval_loss);
  }
  p.set_sparsity(row.sparsity);
  p.set_lr(row.lr);
  p.set_nonzeros_paper(row.nonzeros_paper);
  p.set_nonzeros_exact(row.nonzeros_exact);
  p.set_flops_dense(row.flops_dense);
  p.set_flops_sparse(row.flops_sparse);
  p.set_wall_s(row.wall_s);
  return p;
}

absl::StatusOr<sparsescale::v1::Job> JobToProto(const store::JobRow& row) {
  sparsescale::v1::Job job;
  if (!job.mutable_spec()->ParseFromString(row.spec)) {
    return absl::DataLossError(absl::StrCat("stored spec of job ", row.id, " does not parse"));
  }
  job.set_id(row.id);
  job.set_sweep_id(row.sweep_id);
  job.set_state(static_cast<sparsescale::v1::JobState>(row.state));
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
  job.set_last_failure(static_cast<sparsescale::v1::FailureClass>(row.last_failure));
  job.set_created_unix_ms(row.created_unix_ms);
  job.set_updated_unix_ms(row.updated_unix_ms);
  job.set_checkpoint_step(row.checkpoint_step);
  return job;
}

sparsescale::v1::CheckpointInfo CheckpointToProto(const store::CheckpointRow& row) {
  sparsescale::v1::CheckpointInfo info;
  info.set_job_id(row.job_id);
  info.set_step(row.step);
  info.set_attempt(row.attempt);
  info.set_size_bytes(row.size_bytes);
  info.set_sha256(row.sha256);
  info.set_created_unix_ms(row.created_unix_ms);
  return info;
}

scheduler::WorkerResources ResourcesFromProto(const sparsescale::v1::Resources& r) {
  scheduler::WorkerResources resources;
  resources.device_kind = r.device_kind();
  resources.gpus = r.gpus();
  resources.memory_bytes = r.memory_bytes();
  resources.slots = r.slots() > 0 ? r.slots() : 1;
  return resources;
}

sparsescale::v1::Resources ResourcesToProto(const scheduler::WorkerResources& resources) {
  sparsescale::v1::Resources r;
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
  init.requirements = {row.device, row.gpus, row.memory_bytes, 1};
  // The rank count is not a column: it comes from the stored spec (as PrepareJob computed it).
  sparsescale::v1::JobSpec spec;
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

store::GrantRecord GrantFromTransition(const scheduler::Transition& t) {
  return store::GrantRecord{t.job_id, t.attempt, t.worker_id, t.step};
}

store::AttemptEndRecord AttemptEndFromTransition(const scheduler::Transition& t) {
  store::AttemptEndRecord end;
  end.job_id = t.job_id;
  end.attempt = t.attempt;
  end.state = static_cast<store::JobState>(t.state);
  end.outcome = static_cast<store::JobState>(t.outcome);
  end.failure = static_cast<store::FailureClass>(t.failure);
  end.error = t.reason;
  end.infra_failures = t.infra_failures;
  end.job_failures = t.job_failures;
  end.checkpoint_step = t.step;
  return end;
}

std::string JobStateName(store::JobState state) {
  return sparsescale::v1::JobState_Name(static_cast<sparsescale::v1::JobState>(state));
}

}  // namespace sparsescale::coordinator
