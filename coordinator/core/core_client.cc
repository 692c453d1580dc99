// CoordinatorCore: the client API (sweeps, jobs, cancellation, curves, checkpoints, status).
#include <cstdio>
#include <unordered_set>

#include "absl/strings/str_cat.h"
#include "common/sha256.h"
#include "common/status.h"
#include "coordinator/core/proto_convert.h"
#include "coordinator/core/core.h"
#include "coordinator/store/downsample.h"

namespace sparsescale::coordinator {
namespace {

template <typename Request>
std::string FingerprintOf(const std::string& method, Request request) {
  request.clear_request_id();
  return absl::StrCat(method, ":", Sha256Hex(DeterministicBytes(request)));
}

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

absl::Status NotFoundJob(const std::string& field, const std::string& id) {
  return absl::NotFoundError(absl::StrCat(field, ": job ", id, " does not exist"));
}

}  // namespace

void CoordinatorCore::AddJobs(const std::vector<PreparedJob>& jobs,
                              const std::vector<bool>& created, int priority, int max_attempts,
                              const std::vector<int64_t>& seqs) {
  for (size_t i = 0; i < jobs.size(); ++i) {
    if (!created[i]) {
      continue;
    }
    scheduler::JobInit init;
    init.id = jobs[i].id;
    init.seq = seqs[i];
    init.priority = priority;
    init.requirements = jobs[i].requirements;
    init.max_attempts = max_attempts;
    scheduler_->AddQueuedJob(init);
  }
  ServeWaiters();
}

void CoordinatorCore::CreateSweep(const v1::CreateSweepRequest& request,
                                  std::vector<PreparedJob> cells, v1::CreateSweepResponse* response,
                                  Done done) {
  // Identical cells (e.g. widths that round alike) are one job.
  std::unordered_set<std::string> seen;
  std::erase_if(cells, [&](const PreparedJob& c) { return !seen.insert(c.id).second; });
  Post([this, &request, cells = std::move(cells), response, done] {
    const std::string fingerprint = FingerprintOf("CreateSweep", request);
    RunOnce(request.request_id(), fingerprint, response, done, [=, this, &request](Finish finish) {
      const int64_t now = NowUnixMs();
      const int max_attempts =
          request.max_attempts() > 0 ? request.max_attempts() : options_.default_max_attempts;
      store::SweepRow sweep{SweepId(request.base(), request.axes()),
                            request.name(),
                            DeterministicBytes(request.base()),
                            DeterministicBytes(request.axes()),
                            request.priority(),
                            max_attempts,
                            now};
      auto created = std::make_shared<std::vector<bool>>(cells.size());
      auto seqs = std::make_shared<std::vector<int64_t>>(cells.size());
      auto bytes = std::make_shared<std::string>();
      Write(
          [=, id = request.request_id()](store::Store& store) -> absl::Status {
            RETURN_IF_ERROR(store.InsertSweepIfAbsent(sweep).status());
            int fresh = 0;
            for (size_t i = 0; i < cells.size(); ++i) {
              store::JobRow row = RowFor(cells[i], sweep.id, sweep.priority, max_attempts, now);
              ASSIGN_OR_RETURN(bool is_new, store.InsertJobIfAbsent(&row));
              (*created)[i] = is_new;
              (*seqs)[i] = row.seq;
              fresh += is_new ? 1 : 0;
              RETURN_IF_ERROR(store.AddSweepJob(sweep.id, row.seq));
            }
            ASSIGN_OR_RETURN(std::optional<store::SweepRow> stored, store.FindSweep(sweep.id));
            RETURN_IF_ERROR(FillSweep(store, *stored, response->mutable_sweep()));
            response->set_jobs_created(fresh);
            response->set_jobs_existing(static_cast<int32_t>(cells.size()) - fresh);
            *bytes = response->SerializeAsString();
            return store.InsertRequest(id, fingerprint, *bytes, now);
          },
          [=, this](absl::Status status) {
            if (status.ok()) {
              AddJobs(cells, *created, sweep.priority, max_attempts, *seqs);
            }
            finish(status.ok() ? absl::StatusOr<std::string>(*bytes) : status);
          });
    });
  });
}

void CoordinatorCore::SubmitJob(const v1::SubmitJobRequest& request, PreparedJob job,
                                v1::SubmitJobResponse* response, Done done) {
  Post([this, &request, job = std::move(job), response, done] {
    const std::string fingerprint = FingerprintOf("SubmitJob", request);
    RunOnce(request.request_id(), fingerprint, response, done, [=, this, &request](Finish finish) {
      const int64_t now = NowUnixMs();
      const int max_attempts =
          request.max_attempts() > 0 ? request.max_attempts() : options_.default_max_attempts;
      auto created = std::make_shared<std::vector<bool>>(1);
      auto seqs = std::make_shared<std::vector<int64_t>>(1);
      auto bytes = std::make_shared<std::string>();
      Write(
          [=, id = request.request_id(),
           priority = request.priority()](store::Store& store) -> absl::Status {
            store::JobRow row = RowFor(job, "", priority, max_attempts, now);
            ASSIGN_OR_RETURN(bool is_new, store.InsertJobIfAbsent(&row));
            (*created)[0] = is_new;
            (*seqs)[0] = row.seq;
            ASSIGN_OR_RETURN(std::optional<store::JobRow> stored, store.FindJob(job.id));
            ASSIGN_OR_RETURN(*response->mutable_job(), JobToProto(*stored));
            response->set_created(is_new);
            *bytes = response->SerializeAsString();
            return store.InsertRequest(id, fingerprint, *bytes, now);
          },
          [=, this, priority = request.priority()](absl::Status status) {
            if (status.ok()) {
              AddJobs({job}, *created, priority, max_attempts, *seqs);
            }
            finish(status.ok() ? absl::StatusOr<std::string>(*bytes) : status);
          });
    });
  });
}

void CoordinatorCore::CancelJob(const v1::CancelJobRequest& request, v1::Job* response, Done done) {
  Post([this, &request, response, done] {
    const std::string fingerprint = FingerprintOf("CancelJob", request);
    RunOnce(request.request_id(), fingerprint, response, done, [=, this, &request](Finish finish) {
      auto decided = scheduler_->Cancel(request.id());
      std::vector<scheduler::Transition> transitions;
      if (decided.ok() && decided->has_value()) {
        transitions.push_back(**decided);
      }
      const int64_t now = NowUnixMs();
      auto bytes = std::make_shared<std::string>();
      Write(
          [=, this, id = request.request_id(),
           job_id = request.id()](store::Store& store) -> absl::Status {
            for (const scheduler::Transition& t : transitions) {
              RETURN_IF_ERROR(ApplyTransition(store, t, now));
            }
            ASSIGN_OR_RETURN(std::optional<store::JobRow> row, store.FindJob(job_id));
            if (!row.has_value()) {
              return NotFoundJob("id", job_id);
            }
            ASSIGN_OR_RETURN(*response, JobToProto(*row));
            *bytes = response->SerializeAsString();
            return store.InsertRequest(id, fingerprint, *bytes, now);
          },
          [=, this](absl::Status status) {
            AfterTransitions(transitions);
            finish(status.ok() ? absl::StatusOr<std::string>(*bytes) : status);
          });
    });
  });
}

void CoordinatorCore::GetSweep(const std::string& id, v1::Sweep* response, Done done) {
  Read(
      [id, response](store::Store& store) -> absl::Status {
        ASSIGN_OR_RETURN(std::optional<store::SweepRow> row, store.FindSweep(id));
        if (!row.has_value()) {
          return absl::NotFoundError(absl::StrCat("id: sweep ", id, " does not exist"));
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

void CoordinatorCore::GetJob(const std::string& id, v1::Job* response, Done done) {
  Read(
      [id, response](store::Store& store) -> absl::Status {
        ASSIGN_OR_RETURN(std::optional<store::JobRow> row, store.FindJob(id));
        if (!row.has_value()) {
          return NotFoundJob("id", id);
        }
        ASSIGN_OR_RETURN(*response, JobToProto(*row));
        return absl::OkStatus();
      },
      [this, response, done](absl::Status status) {
        if (!status.ok() || response->state() != v1::JOB_STATE_QUEUED) {
          done(status);
          return;
        }
        Post([this, response, done] {  // the scheduler lives on the Asio thread
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
        Post([this, response, done] {  // the scheduler lives on the Asio thread
          for (v1::Job& job : *response->mutable_jobs()) {
            if (job.state() == v1::JOB_STATE_QUEUED) {
              job.set_unplaceable(scheduler_->Unplaceable(job.id()));
            }
          }
          done(absl::OkStatus());
        });
      });
}

void CoordinatorCore::GetLossCurve(const v1::GetLossCurveRequest& request,
                                   v1::GetLossCurveResponse* response, Done done) {
  Read(
      [&request, response](store::Store& store) -> absl::Status {
        auto points = store.ReadCurve(request.job_id());
        if (absl::IsNotFound(points.status())) {
          return NotFoundJob("job_id", request.job_id());
        }
        RETURN_IF_ERROR(points.status());
        const std::vector<size_t> kept = store::DownsampleIndices(*points, request.max_points());
        response->mutable_points()->Reserve(static_cast<int>(kept.size()));
        for (size_t i : kept) {
          *response->add_points() = PointToProto((*points)[i]);
        }
        response->set_total_points(static_cast<int64_t>(points->size()));
        return absl::OkStatus();
      },
      std::move(done));
}

void CoordinatorCore::ListCheckpoints(const std::string& job_id,
                                      v1::ListCheckpointsResponse* response, Done done) {
  Read(
      [job_id, response](store::Store& store) -> absl::Status {
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
      w->set_last_heartbeat_unix_ms(NowUnixMs() - (clock_.NowMs() - view.last_heartbeat_ms));
    }
    Read(
        [response](store::Store& store) -> absl::Status {
          ASSIGN_OR_RETURN(store::StateCounts counts, store.CountJobsByState(""));
          for (const auto& [state, count] : counts) {
            (*response->mutable_jobs_by_state())[JobStateName(state)] = static_cast<int32_t>(count);
          }
          ASSIGN_OR_RETURN(const int64_t points, store.LossPointsStored());
          response->set_loss_points_stored(points);
          return absl::OkStatus();
        },
        done);
  });
}

}  // namespace sparsescale::coordinator
