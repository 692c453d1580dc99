// Dashboard: the routes of the coordinator's HTTP API (docs/DASHBOARD.md) over a
// CoordinatorCore: JSON reads for the browser pages, the loss-curve columns, checkpoint and log
// downloads, the law fit, the change-event stream, /metrics, /healthz and the compiled-in
// single-page app.
//
// Every read goes through the core's read methods (the read pool and its own SQLite
// connections) or its atomics; no handler waits on the state thread's SQLite work or on the
// writer. JSON answers carry ETag "<boot id>-<state version>" and an If-None-Match naming the
// current one is answered 304 without reading anything. The boot id is random per Dashboard:
// the state version restarts at 0 with the process, so a tag cached by a browser before a
// restart must not match a different state that reached the same count after it.
//
// Thread-safety: the router is built in the constructor and read-only afterwards; handlers run
// on the HTTP server's threads.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "coordinator/core/core.h"
#include "coordinator/http/router.h"

namespace sparsescale::coordinator::http {

struct DashboardOptions {
  // Curve budget when the request gives none, and the most it may ask for.
  int default_curve_points = 2000;
  int max_curve_points = 20000;
};

class Dashboard {
 public:
  // `core` must outlive the dashboard.
  Dashboard(CoordinatorCore* core, DashboardOptions options = {});
  const Router& router() const { return router_; }

 private:
  void AddApiRoutes();
  void AddLiveRoutes();

  CoordinatorCore* const core_;
  const DashboardOptions options_;
  const std::string boot_id_;  // 16 hex digits, random per process
  Router router_;
};

}  // namespace sparsescale::coordinator::http
