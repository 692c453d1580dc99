// CoordinatorCore: the client API (sweeps, jobs, cancellation, curves, checkpoints, status).
#include <algorithm>
#include <unordered_set>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "coordinator/core/core.h"
#include "coordinator/core/fingerprint.h"
#include "coordinator/core/not_found.h"
#include "coordinator/core/proto_convert.h"
#include "coordinator/store/downsample.h"

namespace sparsescale::coordinator {
namespace {

store::JobRow RowFor(const PreparedJob& job, const std::string& sweep_id, int priority,
                     int max_attempts, int64_t now) {
  store::JobRow row;
  row.id = job.id;
  row.sweep_id = sweep_id;
  row.spec = DeterministicBytes(job.spec);
  row.priority = priority;
  row.max_attempts = max_attempts;
  row.total_steps = job.total_steps;
  row.device = job.requirements.device;
  row.gpus = job.requirements.gpus;
  row.memory_bytes = job.requirements.memory_bytes;
  row.created_unix_ms = row.updated_unix_ms = now;
  return row;
}

absl::Status FillSweep(store::Store& store, const store::SweepRow& row, v1::Sweep* sweep) {
  sweep->set_id(row.id);
  sweep->set_name(row.name);
  if (!sweep->mutable_base()->ParseFromString(row.base) ||
      !sweep->mutable_axes()->ParseFromString(row.axes)) {
    return absl::DataLossError("stored sweep " + row.id + " does not parse");
  }
  sweep->set_priority(row.priority);
  sweep->set_created_unix_ms(row.created_unix_ms);
  if (row.checkpoint_keep_last > 0) {
    sweep->mutable_checkpoint_retention()->set_keep_last(row.checkpoint_keep_last);
  }
  ASSIGN_OR_RETURN(std::vector<std::string> ids, store.SweepJobIds(row.id));
  for (std::string& id : ids) {
    sweep->add_job_ids(std::move(id));
  }
  ASSIGN_OR_RETURN(store::StateCounts counts, store.CountJobsByState(row.id));
  for (const auto& [state, count] : counts) {
    (*sweep->mutable_jobs_by_state())[JobStateName(state)] = static_cast<int32_t>(count);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CoordinatorCore::FillSweepOf(store::Store& store, const std::string& id,
                                          v1::Sweep* sweep) {
  ASSIGN_OR_RETURN(std::optional<store::SweepRow> row, store.FindSweep(id));
  if (!row.has_value()) {
    return NotFoundSweep("id", id);
  }
  return FillSweep(store, *row, sweep);
}

std::shared_ptr<CoordinatorCore::NewJobs> CoordinatorCore::NewBatch(
    std::shared_ptr<const std::vector<PreparedJob>> jobs, int priority,
    int requested_max_attempts) {
  auto batch = std::make_shared<NewJobs>();
  batch->created.resize(jobs->size());
  batch->seqs.resize(jobs->size());
  batch->jobs = std::move(jobs);
  batch->priority = priority;
  batch->max_attempts =
      requested_max_attempts > 0 ? requested_max_attempts : options_.default_max_attempts;
  batch->now_unix_ms = NowUnixMs();
  return batch;
}

absl::Status CoordinatorCore::InsertJobs(store::Store& store, NewJobs& batch) {
  const std::vector<PreparedJob>& jobs = *batch.jobs;
  for (size_t i = 0; i < jobs.size(); ++i) {
    store::JobRow row =
        RowFor(jobs[i], batch.sweep_id, batch.priority, batch.max_attempts, batch.now_unix_ms);
    ASSIGN_OR_RETURN(const bool is_new, store.InsertJobIfAbsent(&row));
    batch.created[i] = is_new;
    batch.seqs[i] = row.seq;
    if (!batch.sweep_id.empty()) {
      RETURN_IF_ERROR(store.AddSweepJob(batch.sweep_id, row.seq));
    }
  }
  return absl::OkStatus();
}

void CoordinatorCore::AddJobs(const NewJobs& batch) {
  const std::vector<PreparedJob>& jobs = *batch.jobs;
  for (size_t i = 0; i < jobs.size(); ++i) {
    if (batch.created[i]) {
      scheduler_->AddQueuedJob({.id = jobs[i].id,
                                .seq = batch.seqs[i],
                                .priority = batch.priority,
                                .requirements = jobs[i].requirements,
                                .max_attempts = batch.max_attempts});
    }
  }
  ServeWaiters();
}

std::function<void(const absl::Status&)> CoordinatorCore::AddJobsIfCommitted(
    std::shared_ptr<NewJobs> batch) {
  return [this, batch = std::move(batch)](const absl::Status& status) {
    if (status.ok()) {
      AddJobs(*batch);
    }
  };
}

void CoordinatorCore::CreateSweep(v1::CreateSweepRequest request, std::vector<PreparedJob> cells,
                                  v1::CreateSweepResponse* response, Done done) {
  // Identical cells (e.g. widths that round alike) are one job.
  std::unordered_set<std::string> seen;
  std::erase_if(cells, [&](const PreparedJob& c) { return !seen.insert(c.id).second; });
  auto jobs = std::make_shared<const std::vector<PreparedJob>>(std::move(cells));
  Once once{.request_id = request.request_id(),
            .fingerprint = FingerprintOf("CreateSweep", request),
            .response = response};
  Decide decide = [this, request = std::move(request), jobs, response]() -> absl::StatusOr<Plan> {
    std::shared_ptr<NewJobs> batch = NewBatch(jobs, request.priority(), request.max_attempts());
    const store::SweepRow sweep{.id = SweepId(request.base(), request.axes()),
                                .name = request.name(),
                                .base = DeterministicBytes(request.base()),
                                .axes = DeterministicBytes(request.axes()),
                                .priority = request.priority(),
                                .max_attempts = batch->max_attempts,
                                .created_unix_ms = batch->now_unix_ms,
                                .checkpoint_keep_last = request.checkpoint_retention().keep_last()};
    batch->sweep_id = sweep.id;
    return Plan{
        .write = [sweep, batch, response](store::Store& store) -> absl::Status {
          RETURN_IF_ERROR(store.InsertSweepIfAbsent(sweep).status());
          RETURN_IF_ERROR(InsertJobs(store, *batch));
          ASSIGN_OR_RETURN(std::optional<store::SweepRow> stored, store.FindSweep(sweep.id));
          RETURN_IF_ERROR(FillSweep(store, *stored, response->mutable_sweep()));
          const auto fresh =
              static_cast<int32_t>(std::count(batch->created.begin(), batch->created.end(), true));
          response->set_jobs_created(fresh);
          response->set_jobs_existing(static_cast<int32_t>(batch->jobs->size()) - fresh);
          return absl::OkStatus();
        },
        .then = AddJobsIfCommitted(batch),
    };
  };
  RunOnce(std::move(once), std::move(decide), std::move(done));
}

void CoordinatorCore::SubmitJob(v1::SubmitJobRequest request, PreparedJob job,
                                v1::SubmitJobResponse* response, Done done) {
  auto jobs = std::make_shared<const std::vector<PreparedJob>>(1, std::move(job));
  Once once{.request_id = request.request_id(),
            .fingerprint = FingerprintOf("SubmitJob", request),
            .response = response};
  Decide decide = [this, request = std::move(request), jobs, response]() -> absl::StatusOr<Plan> {
    std::shared_ptr<NewJobs> batch = NewBatch(jobs, request.priority(), request.max_attempts());
    return Plan{
        .write = [batch, response](store::Store& store) -> absl::Status {
          RETURN_IF_ERROR(InsertJobs(store, *batch));
          const std::string& id = batch->jobs->front().id;
          ASSIGN_OR_RETURN(std::optional<store::JobRow> stored, store.FindJob(id));
          ASSIGN_OR_RETURN(*response->mutable_job(), JobToProto(*stored));
          response->set_created(batch->created.front());
          return absl::OkStatus();
        },
        .then = AddJobsIfCommitted(batch),
    };
  };
  RunOnce(std::move(once), std::move(decide), std::move(done));
}

void CoordinatorCore::CancelJob(v1::CancelJobRequest request, v1::Job* response, Done done) {
  Once once{.request_id = request.request_id(),
            .fingerprint = FingerprintOf("CancelJob", request),
            .response = response};
  Decide decide = [this, job_id = request.id(), response]() -> absl::StatusOr<Plan> {
    auto transitions = std::make_shared<std::vector<scheduler::Transition>>();
    absl::StatusOr<std::optional<scheduler::Transition>> decided = scheduler_->Cancel(job_id);
    if (decided.ok() && decided->has_value()) {
      transitions->push_back(**decided);
    }
    const int64_t now = NowUnixMs();
    return Plan{
        .write = [job_id, response, transitions, now](store::Store& store) -> absl::Status {
          RETURN_IF_ERROR(ApplyTransitions(store, *transitions, now));
          ASSIGN_OR_RETURN(std::optional<store::JobRow> row, store.FindJob(job_id));
          if (!row.has_value()) {
            return NotFoundJob("id", job_id);
          }
          ASSIGN_OR_RETURN(*response, JobToProto(*row));
          return absl::OkStatus();
        },
        .then = [this, transitions](const absl::Status&) { AfterTransitions(*transitions); },
    };
  };
  RunOnce(std::move(once), std::move(decide), std::move(done));
}

void CoordinatorCore::GetSweep(std::string id, v1::Sweep* response, Done done) {
  Read(
      [id = std::move(id), response](store::Store& store) -> absl::Status {
        ASSIGN_OR_RETURN(std::optional<store::SweepRow> row, store.FindSweep(id));
        if (!row.has_value()) {
          return NotFoundSweep("id", id);
        }
        return FillSweep(store, *row, response);
      },
      std::move(done));
}

void CoordinatorCore::ListSweeps(Page page, v1::ListSweepsResponse* response, Done done) {
  Read(
      [page, response](store::Store& store) -> absl::Status {
        ASSIGN_OR_RETURN(auto sweeps, store.ListSweeps(page.after, page.size));
        for (const auto& [rowid, row] : sweeps) {
          RETURN_IF_ERROR(FillSweep(store, row, response->add_sweeps()));
        }
        if (static_cast<int>(sweeps.size()) == page.size) {
          response->set_next_page_token(absl::StrCat(sweeps.back().first));
        }
        return absl::OkStatus();
      },
      std::move(done));
}

void CoordinatorCore::GetJob(std::string id, v1::Job* response, Done done) {
  Read(
      [id = std::move(id), response](store::Store& store) -> absl::Status {
        ASSIGN_OR_RETURN(std::optional<store::JobRow> row, store.FindJob(id));
        if (!row.has_value()) {
          return NotFoundJob("id", id);
        }
        ASSIGN_OR_RETURN(*response, JobToProto(*row));
        return FillLogTail(store, response);
      },
      [this, response, done](absl::Status status) {
        if (status.ok() && response->state() == v1::JOB_STATE_RUNNING) {
          response->set_blocked(store::BlockedReason(store_health()));
        }
        if (!status.ok() || response->state() != v1::JOB_STATE_QUEUED) {
          done(status);
          return;
        }
        Post([this, response, done] {  // the scheduler lives on the state thread
          response->set_unplaceable(scheduler_->Unplaceable(response->id()));
          done(absl::OkStatus());
        });
      });
}

void CoordinatorCore::ListJobs(store::JobFilter filter, Page page, v1::ListJobsResponse* response,
                               Done done) {
  Read(
      [filter = std::move(filter), page, response](store::Store& store) -> absl::Status {
        ASSIGN_OR_RETURN(std::vector<store::JobRow> rows,
                         store.ListJobs(filter, page.after, page.size));
        for (const store::JobRow& row : rows) {
          ASSIGN_OR_RETURN(*response->add_jobs(), JobToProto(row));
        }
        if (static_cast<int>(rows.size()) == page.size) {
          response->set_next_page_token(absl::StrCat(rows.back().seq));
        }
        return absl::OkStatus();
      },
      [this, response, done](absl::Status status) {
        if (!status.ok()) {
          done(status);
          return;
        }
        const std::string blocked = store::BlockedReason(store_health());
        Post([this, response, done, blocked] {  // the scheduler lives on the state thread
          for (v1::Job& job : *response->mutable_jobs()) {
            if (job.state() == v1::JOB_STATE_QUEUED) {
              job.set_unplaceable(scheduler_->Unplaceable(job.id()));
            } else if (job.state() == v1::JOB_STATE_RUNNING) {
              job.set_blocked(blocked);
            }
          }
          done(absl::OkStatus());
        });
      });
}

void CoordinatorCore::GetLossCurve(v1::GetLossCurveRequest request,
                                   v1::GetLossCurveResponse* response, Done done) {
  Read(
      [request = std::move(request), response](store::Store& store) -> absl::Status {
        auto points = store.ReadCurve(request.job_id());
        if (absl::IsNotFound(points.status())) {
          return NotFoundJob("job_id", request.job_id());
        }
        RETURN_IF_ERROR(points.status());
        const std::vector<size_t> kept = store::DownsampleIndices(*points, request.max_points());
        response->mutable_points()->Reserve(static_cast<int>(kept.size()));
        for (size_t i : kept) {
          *response->add_points() = (*points)[i];
        }
        response->set_total_points(static_cast<int64_t>(points->size()));
        return absl::OkStatus();
      },
      std::move(done));
}

void CoordinatorCore::ListCheckpoints(std::string job_id, v1::ListCheckpointsResponse* response,
                                      Done done) {
  Read(
      [job_id = std::move(job_id), response](store::Store& store) -> absl::Status {
        auto rows = store.ListCheckpoints(job_id);
        if (absl::IsNotFound(rows.status())) {
          return NotFoundJob("job_id", job_id);
        }
        RETURN_IF_ERROR(rows.status());
        for (const store::CheckpointRow& row : *rows) {
          *response->add_checkpoints() = CheckpointToProto(row);
        }
        return absl::OkStatus();
      },
      std::move(done));
}

void CoordinatorCore::GetClusterStatus(v1::GetClusterStatusResponse* response, Done done) {
  *response->mutable_store() = StoreHealthToProto(store_health());
  Post([this, response, done] {
    for (const scheduler::WorkerView& view : scheduler_->Workers()) {
      v1::WorkerInfo* w = response->add_workers();
      w->set_id(view.id);
      *w->mutable_resources() = ResourcesToProto(view.resources);
      w->set_alive(view.alive);
      w->set_draining(view.draining);
      for (const std::string& id : view.running_job_ids) {
        w->add_running_job_ids(id);
      }
      // The scheduler's clock is monotonic; report the heartbeat's age against wall time.
      w->set_last_heartbeat_unix_ms(NowUnixMs() - (clock_->NowMs() - view.last_heartbeat_ms));
    }
    Read(
        [response](store::Store& store) -> absl::Status {
          ASSIGN_OR_RETURN(store::StateCounts counts, store.CountJobsByState(""));
          for (const auto& [state, count] : counts) {
            (*response->mutable_jobs_by_state())[JobStateName(state)] = static_cast<int32_t>(count);
          }
          ASSIGN_OR_RETURN(const int64_t points, store.LossPointsStored());
          response->set_loss_points_stored(points);
          // The scheduler knows workers by id; their names and versions are stored.
          ASSIGN_OR_RETURN(const std::vector<store::WorkerRow> rows, store.LoadWorkers());
          for (v1::WorkerInfo& w : *response->mutable_workers()) {
            for (const store::WorkerRow& row : rows) {
              if (row.id == w.id()) {
                w.set_name(row.name);
                w.set_version(row.version);
              }
            }
          }
          return absl::OkStatus();
        },
        done);
  });
}

}  // namespace sparsescale::coordinator
