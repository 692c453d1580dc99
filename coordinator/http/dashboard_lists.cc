// The dashboard's cluster, sweep and job listings.
#include <algorithm>
#include <cmath>
#include <memory>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status.h"
#include "coordinator/core/proto_convert.h"
#include "coordinator/http/dashboard_handlers.h"

namespace sparsescale::coordinator::http {

namespace {

// Jobs read for one sweep page: its grid is shown whole.
constexpr int kMaxSweepCells = 100'000;

Json WorkerJson(const v1::WorkerInfo& w, int64_t now_ms) {
  const int running = w.running_job_ids_size();
  return Json{{"id", w.id()},
              {"name", w.name()},
              {"device_kind", w.resources().device_kind()},
              {"gpus", w.resources().gpus()},
              {"slots", w.resources().slots()},
              {"busy_slots", std::min(w.resources().slots(), running)},
              {"running_jobs", Json(std::vector<std::string>(w.running_job_ids().begin(),
                                                             w.running_job_ids().end()))},
              {"heartbeat_age_ms", std::max<int64_t>(0, now_ms - w.last_heartbeat_unix_ms())},
              {"version", w.version()},
              {"alive", w.alive()},
              {"draining", w.draining()}};
}

Json ClusterJson(const HandlerContext& ctx, const v1::GetClusterStatusResponse& status) {
  const int64_t now_ms = ctx.core->wall_now_ms();
  Json workers = Json::array();
  int64_t slots = 0, slots_busy = 0, gpus = 0, gpus_busy = 0;
  for (const v1::WorkerInfo& w : status.workers()) {
    workers.push_back(WorkerJson(w, now_ms));
    if (!w.alive()) {
      continue;
    }
    const int running = w.running_job_ids_size();
    slots += w.resources().slots();
    slots_busy += std::min(w.resources().slots(), running);
    gpus += w.resources().gpus();
    gpus_busy += std::min(w.resources().gpus(), running);
  }
  return Json{{"version", ctx.core->state_version()},
              {"now_ms", now_ms},
              {"workers", workers},
              {"slots_total", slots},
              {"slots_busy", slots_busy},
              {"gpus_total", gpus},
              {"gpus_busy", gpus_busy},
              {"jobs_by_state", StateCounts(status.jobs_by_state())},
              {"points_per_second", ctx.core->points_per_second()},
              {"loss_points_stored", status.loss_points_stored()},
              {"store", StoreHealthJson(ctx.core->store_health())}};
}

// Seconds left at the pace so far, null when it cannot be told (nothing done yet).
Json EtaSeconds(const v1::Sweep& sweep, double progress, int64_t now_ms) {
  if (progress >= 1) {
    return 0;
  }
  if (progress <= 0) {
    return nullptr;
  }
  const double elapsed_s = static_cast<double>(now_ms - sweep.created_unix_ms()) / 1000.0;
  return std::max(0.0, elapsed_s * (1 - progress) / progress);
}

double Progress(const store::SweepProgressRow& row) {
  return row.steps_total > 0 ? std::min(1.0, static_cast<double>(row.steps_done) /
                                                 static_cast<double>(row.steps_total))
                             : 0.0;
}

}  // namespace

Json StoreHealthJson(const store::StoreHealth& health) {
  Json out{{"ok", health.writable()},
           {"db_bytes", health.db_bytes},
           {"wal_bytes", health.wal_bytes},
           {"last_error", health.last_error},
           {"error_count", health.write_errors},
           {"commits", health.commits},
           {"p99_commit_ms", health.p99_commit_ms}};
  if (health.disk_free_bytes >= 0) {
    out["disk_free_bytes"] = health.disk_free_bytes;
  }
  if (!health.writable()) {
    out["last_error_since_ms"] = health.failing_since_unix_ms;
    out["failure_kind"] = health.failure_kind;
  }
  return out;
}

void GetCluster(const HandlerContext& ctx, const HttpRequest&, Reply reply) {
  auto status = std::make_shared<v1::GetClusterStatusResponse>();
  ctx.core->GetClusterStatus(status.get(), [ctx, status, reply](absl::Status s) {
    reply(s.ok() ? JsonResponse(ClusterJson(ctx, *status)) : StatusResponse(s));
  });
}

void ListSweeps(const HandlerContext& ctx, const HttpRequest& request, Reply reply) {
  absl::StatusOr<Page> page = PageParams(request);
  if (!page.ok()) {
    reply(BadParam(page.status()));
    return;
  }
  auto listed = std::make_shared<v1::ListSweepsResponse>();
  auto out = std::make_shared<Json>(Json::array());
  ctx.core->Read(
      [ctx, page = *page, listed, out](store::Store& store) -> absl::Status {
        ASSIGN_OR_RETURN(auto sweeps, store.ListSweeps(page.after, page.size));
        for (const auto& [rowid, row] : sweeps) {
          v1::Sweep sweep;
          sweep.set_id(row.id);
          sweep.set_name(row.name);
          sweep.set_created_unix_ms(row.created_unix_ms);
          ASSIGN_OR_RETURN(const std::vector<std::string> ids, store.SweepJobIds(row.id));
          for (const std::string& job_id : ids) {
            sweep.add_job_ids(job_id);
          }
          ASSIGN_OR_RETURN(const store::StateCounts counts, store.CountJobsByState(row.id));
          for (const auto& [state, count] : counts) {
            (*sweep.mutable_jobs_by_state())[JobStateName(state)] = static_cast<int32_t>(count);
          }
          ASSIGN_OR_RETURN(const store::SweepProgressRow steps, store.SweepProgress(row.id));
          const double progress = Progress(steps);
          out->push_back(
              SweepSummary(sweep, progress, EtaSeconds(sweep, progress, ctx.core->wall_now_ms())));
        }
        if (static_cast<int>(sweeps.size()) == page.size) {
          listed->set_next_page_token(absl::StrCat(sweeps.back().first));
        }
        return absl::OkStatus();
      },
      [listed, out, reply](absl::Status s) {
        reply(s.ok() ? JsonResponse(
                           Json{{"sweeps", *out}, {"next_page_token", listed->next_page_token()}})
                     : StatusResponse(s));
      });
}

void ListJobs(const HandlerContext& ctx, const HttpRequest& request, Reply reply) {
  absl::StatusOr<Page> page = PageParams(request);
  if (!page.ok()) {
    reply(BadParam(page.status()));
    return;
  }
  store::JobFilter filter;
  if (auto it = request.query.find("sweep_id"); it != request.query.end()) {
    filter.sweep_id = it->second;
  }
  if (auto it = request.query.find("state"); it != request.query.end() && !it->second.empty()) {
    for (absl::string_view name : absl::StrSplit(it->second, ',')) {
      v1::JobState state;
      if (!v1::JobState_Parse(absl::StrCat("JOB_STATE_", name), &state) ||
          state == v1::JOB_STATE_UNSPECIFIED) {
        reply(ErrorResponse(400,
                            absl::StrCat("state: \"", name,
                                         "\" is not one of QUEUED, RUNNING, SUCCEEDED, FAILED, "
                                         "CANCELLED"),
                            "state"));
        return;
      }
      filter.states.push_back(static_cast<store::JobState>(state));
    }
  }
  auto listed = std::make_shared<v1::ListJobsResponse>();
  ctx.core->ListJobs(std::move(filter), *page, listed.get(), [listed, reply](absl::Status s) {
    if (!s.ok()) {
      reply(StatusResponse(s));
      return;
    }
    Json jobs = Json::array();
    for (const v1::Job& job : listed->jobs()) {
      jobs.push_back(JobSummary(job));
    }
    reply(JsonResponse(Json{{"jobs", jobs}, {"next_page_token", listed->next_page_token()}}));
  });
}

namespace {

// The sweep's grid: its axes (from the sweep, or from the cells where an axis was left to the
// base spec) and one cell per job.
void AddGrid(const std::vector<v1::Job>& jobs, const v1::SweepAxes& axes, Json* out) {
  std::vector<int64_t> sizes(axes.nonzeros().begin(), axes.nonzeros().end());
  std::set<double> sparsities(axes.sparsities().begin(), axes.sparsities().end());
  std::set<int64_t> tokens(axes.tokens().begin(), axes.tokens().end());
  std::set<int64_t> derived_sizes;
  std::vector<std::string> structures;
  Json cells = Json::array();
  for (const v1::Job& job : jobs) {
    int64_t n_params = ParamsOf(job.spec());
    if (!sizes.empty()) {  // the axis value the cell was built for (widths are rounded)
      n_params = *std::min_element(sizes.begin(), sizes.end(), [&](int64_t a, int64_t b) {
        return std::fabs(std::log(static_cast<double>(a) / n_params)) <
               std::fabs(std::log(static_cast<double>(b) / n_params));
      });
    }
    derived_sizes.insert(n_params);
    const std::string structure = StructureName(job.spec().pruning());
    if (std::find(structures.begin(), structures.end(), structure) == structures.end()) {
      structures.push_back(structure);
    }
    sparsities.insert(job.spec().pruning().sparsity());
    tokens.insert(job.spec().data().tokens());
    Json summary = JobSummary(job);
    cells.push_back(Json{{"job_id", job.id()},
                         {"n_params", n_params},
                         {"sparsity", job.spec().pruning().sparsity()},
                         {"tokens", job.spec().data().tokens()},
                         {"structure", structure},
                         {"state", summary["state"]},
                         {"step", job.step()},
                         {"total_steps", job.total_steps()},
                         {"final_train_loss", summary["final_train_loss"]},
                         {"final_eval_loss", summary["final_eval_loss"]}});
  }
  (*out)["axes"] = Json{{"sizes", Json(derived_sizes)},
                        {"sparsities", Json(sparsities)},
                        {"tokens", Json(tokens)},
                        {"structures", Json(structures)}};
  (*out)["cells"] = std::move(cells);
}

}  // namespace

void GetSweep(const HandlerContext& ctx, const HttpRequest& request, Reply reply) {
  const std::string id = request.params.at("id");
  auto sweep = std::make_shared<v1::Sweep>();
  auto jobs = std::make_shared<std::vector<v1::Job>>();
  auto steps = std::make_shared<store::SweepProgressRow>();
  ctx.core->Read(
      [id, sweep, jobs, steps](store::Store& store) -> absl::Status {
        ASSIGN_OR_RETURN(std::optional<store::SweepRow> row, store.FindSweep(id));
        if (!row.has_value()) {
          return absl::NotFoundError(absl::StrCat("id: sweep ", id, " does not exist"));
        }
        sweep->set_id(row->id);
        sweep->set_name(row->name);
        sweep->set_created_unix_ms(row->created_unix_ms);
        if (!sweep->mutable_axes()->ParseFromString(row->axes)) {
          return absl::DataLossError(absl::StrCat("stored axes of sweep ", id, " do not parse"));
        }
        ASSIGN_OR_RETURN(
            std::vector<store::JobRow> rows,
            store.ListJobs(store::JobFilter{.sweep_id = id, .states = {}}, 0, kMaxSweepCells));
        for (const store::JobRow& job_row : rows) {
          ASSIGN_OR_RETURN(v1::Job job, JobToProto(job_row));
          sweep->add_job_ids(job.id());
          (*sweep->mutable_jobs_by_state())[v1::JobState_Name(job.state())] += 1;
          jobs->push_back(std::move(job));
        }
        ASSIGN_OR_RETURN(*steps, store.SweepProgress(id));
        return absl::OkStatus();
      },
      [ctx, sweep, jobs, steps, reply](absl::Status s) {
        if (!s.ok()) {
          reply(StatusResponse(s, "id"));
          return;
        }
        const double progress = Progress(*steps);
        Json out =
            SweepSummary(*sweep, progress, EtaSeconds(*sweep, progress, ctx.core->wall_now_ms()));
        AddGrid(*jobs, sweep->axes(), &out);
        reply(JsonResponse(out));
      });
}

}  // namespace sparsescale::coordinator::http
