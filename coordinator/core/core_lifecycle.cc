// CoordinatorCore: the job lifecycle after submission - retry a final job, change a queued
// job's priority, cancel a whole sweep, delete final jobs and sweeps. Each is one RunOnce: the
// state thread checks what the scheduler holds (queued and running jobs), the store write
// checks the stored state of the rest (final jobs), and the scheduler learns the result in
// `then`.
//
// A retry is decided against the last committed row (read on the state thread); the write
// checks the stored state again, and the scheduler queues the job only once that write has
// committed, so a failed write (or a delete or retry the FIFO writer ordered first) leaves
// nothing queued that the store lacks. Until then a second retry is refused by the store.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status.h"
#include "coordinator/core/core.h"
#include "coordinator/core/fingerprint.h"
#include "coordinator/core/not_found.h"
#include "coordinator/core/proto_convert.h"

namespace sparsescale::coordinator {
namespace {

const char* PhaseWord(scheduler::JobPhase phase) {
  return phase == scheduler::JobPhase::kQueued ? "queued" : "running";
}

// Fills `response` with the stored job `id`.
absl::Status FillJob(store::Store& store, const std::string& id, v1::Job* response) {
  ASSIGN_OR_RETURN(std::optional<store::JobRow> row, store.FindJob(id));
  if (!row.has_value()) {
    return NotFoundJob("id", id);
  }
  ASSIGN_OR_RETURN(*response, JobToProto(*row));
  return absl::OkStatus();
}

}  // namespace

absl::Status CoordinatorCore::RefuseActive(const std::string& job_id,
                                           const std::string& allowed) const {
  std::optional<scheduler::JobPhase> phase = scheduler_->PhaseOf(job_id);
  if (!phase.has_value()) {
    return absl::OkStatus();
  }
  return absl::FailedPreconditionError(
      absl::StrCat("id: job ", job_id, " is ", PhaseWord(*phase), "; ", allowed));
}

absl::StatusOr<std::vector<std::string>> CoordinatorCore::SweepJobsNow(
    const std::string& sweep_id) {
  // The last committed state: a sweep exists for a client once CreateSweep answered.
  ASSIGN_OR_RETURN(std::optional<store::SweepRow> sweep, ledger_reader_->FindSweep(sweep_id));
  if (!sweep.has_value()) {
    return NotFoundSweep("id", sweep_id);
  }
  return ledger_reader_->SweepJobIds(sweep_id);
}

void CoordinatorCore::RetryJob(v1::RetryJobRequest request, v1::Job* response, Done done) {
  Once once{.request_id = request.request_id(),
            .fingerprint = FingerprintOf("RetryJob", request),
            .response = response};
  Decide decide = [this, job_id = request.id(), response]() -> absl::StatusOr<Plan> {
    RETURN_IF_ERROR(RefuseActive(job_id, "only a failed or cancelled job can be retried"));
    ASSIGN_OR_RETURN(std::optional<store::JobRow> row, ledger_reader_->FindJob(job_id));
    if (!row.has_value()) {
      return NotFoundJob("id", job_id);
    }
    RETURN_IF_ERROR(store::Store::Retryable(*row));
    // What RequeueFinalJob makes of the row: a fresh failure budget, the attempt counter kept.
    // The scheduler queues it only once that is committed (a failed write, or a concurrent
    // delete or retry that the writer ordered first, leaves nothing queued that the store lacks).
    scheduler::JobInit init = JobInitFromRow(*row);
    init.infra_failures = init.job_failures = 0;
    init.cancel_requested = false;
    const int64_t now = NowUnixMs();
    return Plan{
        .write = [job_id, response, now](store::Store& store) -> absl::Status {
          ASSIGN_OR_RETURN(store::JobRow queued, store.RequeueFinalJob(job_id, now));
          ASSIGN_OR_RETURN(*response, JobToProto(queued));
          return absl::OkStatus();
        },
        .then =
            [this, job_id, init](const absl::Status& status) {
              if (status.ok()) {
                scheduler_->AddQueuedJob(init);
              } else {
                LogError("retry of job %s was not stored: %s", job_id, status.ToString());
              }
              NotifyWatchers(job_id);
              ServeWaiters();
            },
    };
  };
  RunOnce(std::move(once), std::move(decide), std::move(done));
}

void CoordinatorCore::SetJobPriority(v1::SetJobPriorityRequest request, v1::Job* response,
                                     Done done) {
  Once once{.request_id = request.request_id(),
            .fingerprint = FingerprintOf("SetJobPriority", request),
            .response = response};
  Decide decide = [this, job_id = request.id(), priority = request.priority(),
                   response]() -> absl::StatusOr<Plan> {
    if (scheduler_->PhaseOf(job_id).has_value()) {
      // Queued: it moves now; running: refused naming the state.
      RETURN_IF_ERROR(scheduler_->SetPriority(job_id, priority));
    }
    const int64_t now = NowUnixMs();
    return Plan{
        .write = [job_id, priority, response, now](store::Store& store) -> absl::Status {
          RETURN_IF_ERROR(store.SetQueuedJobPriority(job_id, priority, now));
          return FillJob(store, job_id, response);
        },
        .then = [this, job_id](const absl::Status&) { NotifyWatchers(job_id); },
    };
  };
  RunOnce(std::move(once), std::move(decide), std::move(done));
}

void CoordinatorCore::DeleteJob(v1::DeleteJobRequest request, v1::DeleteJobResponse* response,
                                Done done) {
  Once once{.request_id = request.request_id(),
            .fingerprint = FingerprintOf("DeleteJob", request),
            .response = response};
  Decide decide = [this, job_id = request.id(), response]() -> absl::StatusOr<Plan> {
    RETURN_IF_ERROR(RefuseActive(job_id, "cancel it before deleting it"));
    return Plan{
        .write = [job_id, response](store::Store& store) -> absl::Status {
          RETURN_IF_ERROR(store.DeleteFinalJob(job_id));
          response->set_id(job_id);
          return absl::OkStatus();
        },
    };
  };
  RunOnce(std::move(once), std::move(decide), std::move(done));
}

void CoordinatorCore::CancelSweep(v1::CancelSweepRequest request, v1::CancelSweepResponse* response,
                                  Done done) {
  Once once{.request_id = request.request_id(),
            .fingerprint = FingerprintOf("CancelSweep", request),
            .response = response};
  Decide decide = [this, sweep_id = request.id(), response]() -> absl::StatusOr<Plan> {
    ASSIGN_OR_RETURN(std::vector<std::string> job_ids, SweepJobsNow(sweep_id));
    auto transitions = std::make_shared<std::vector<scheduler::Transition>>();
    for (const std::string& id : job_ids) {
      absl::StatusOr<std::optional<scheduler::Transition>> t = scheduler_->Cancel(id);
      if (t.ok() && t->has_value()) {  // NotFound: final already
        transitions->push_back(**t);
      }
    }
    const int64_t now = NowUnixMs();
    return Plan{
        .write = [sweep_id, response, transitions, now](store::Store& store) -> absl::Status {
          RETURN_IF_ERROR(ApplyTransitions(store, *transitions, now));
          for (const scheduler::Transition& t : *transitions) {
            const bool stopping = t.kind == scheduler::Transition::Kind::kCancelRequested;
            response->set_jobs_stopping(response->jobs_stopping() + (stopping ? 1 : 0));
            response->set_jobs_cancelled(response->jobs_cancelled() + (stopping ? 0 : 1));
          }
          return FillSweepOf(store, sweep_id, response->mutable_sweep());
        },
        .then = [this, transitions](const absl::Status&) { AfterTransitions(*transitions); },
    };
  };
  RunOnce(std::move(once), std::move(decide), std::move(done));
}

void CoordinatorCore::DeleteSweep(v1::DeleteSweepRequest request, v1::DeleteSweepResponse* response,
                                  Done done) {
  Once once{.request_id = request.request_id(),
            .fingerprint = FingerprintOf("DeleteSweep", request),
            .response = response};
  Decide decide = [this, sweep_id = request.id(), response]() -> absl::StatusOr<Plan> {
    ASSIGN_OR_RETURN(std::vector<std::string> job_ids, SweepJobsNow(sweep_id));
    for (const std::string& id : job_ids) {
      RETURN_IF_ERROR(RefuseActive(id, "a sweep can be deleted once all its jobs are final"));
    }
    return Plan{
        .write = [sweep_id, response](store::Store& store) -> absl::Status {
          ASSIGN_OR_RETURN(std::vector<std::string> deleted, store.DeleteFinalSweep(sweep_id));
          response->set_id(sweep_id);
          for (std::string& id : deleted) {
            response->add_deleted_job_ids(std::move(id));
          }
          return absl::OkStatus();
        },
    };
  };
  RunOnce(std::move(once), std::move(decide), std::move(done));
}

}  // namespace sparsescale::coordinator
