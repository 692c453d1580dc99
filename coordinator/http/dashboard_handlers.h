// The dashboard's handlers (internal to coordinator/http): flat functions, one per route, each
// reading through the core and answering once. Dashboard (dashboard.h) binds them to routes.
// Thread-safety: as the core; every handler may run on any HTTP thread at once.
#pragma once

#include "coordinator/core/core.h"
#include "coordinator/http/dashboard.h"
#include "coordinator/http/dashboard_json.h"
#include "coordinator/http/http_message.h"

namespace sparsescale::coordinator::http {

struct HandlerContext {
  CoordinatorCore* core = nullptr;
  const DashboardOptions* options = nullptr;
};

// dashboard_lists.cc
void GetCluster(const HandlerContext& ctx, const HttpRequest& request, Reply reply);
void ListSweeps(const HandlerContext& ctx, const HttpRequest& request, Reply reply);
void GetSweep(const HandlerContext& ctx, const HttpRequest& request, Reply reply);
void ListJobs(const HandlerContext& ctx, const HttpRequest& request, Reply reply);

// dashboard_job.cc
void GetJob(const HandlerContext& ctx, const HttpRequest& request, Reply reply);
void GetCurve(const HandlerContext& ctx, const HttpRequest& request, Reply reply);
void GetCheckpoint(const HandlerContext& ctx, const HttpRequest& request, Reply reply);
void GetLog(const HandlerContext& ctx, const HttpRequest& request, Reply reply);

// dashboard_fit.cc: `refit` false answers the latest stored fit (fitting when there is none).
void GetFit(const HandlerContext& ctx, const HttpRequest& request, Reply reply, bool refit);

// dashboard_live.cc
void Events(const HandlerContext& ctx, const HttpRequest& request, Reply reply);
void Metrics(const HandlerContext& ctx, const HttpRequest& request, Reply reply);
void Asset(const HttpRequest& request, Reply reply);

// The store health of `ctx` as the cluster answer's `store` object (unset fields omitted).
nlohmann::json StoreHealthJson(const store::StoreHealth& health);

}  // namespace sparsescale::coordinator::http
