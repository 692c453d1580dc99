// Dashboard: the routes of the coordinator's HTTP API (docs/DASHBOARD.md) over a
// CoordinatorCore: JSON reads for the browser pages, the loss-curve columns, checkpoint and log
// downloads, the law fit, the change-event stream, /metrics, /healthz and the compiled-in
// single-page app.
//
// Every read goes through the core's read methods (the read pool and its own SQLite
// connections) or its atomics; no handler waits on the state thread's SQLite work or on the
// writer. JSON answers carry ETag "<state version>" and an If-None-Match naming the current
// version is answered 304 without reading anything.
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

// The store's health as /api/v1/cluster and /metrics report it. Unset fields are omitted
// from the answers (never guessed).
struct StoreHealth {
  std::optional<bool> ok;
  std::optional<int64_t> disk_free_bytes;
  std::optional<int64_t> wal_bytes;
  std::optional<int64_t> db_bytes;
  std::optional<std::string> last_error;  // "" when none
  std::optional<int64_t> last_error_since_ms;
  std::optional<int64_t> error_count;
};

// Reports the store's health; called on an HTTP thread for each cluster page and scrape, so it
// must be cheap and must not block on the writer.
using StoreHealthSource = std::function<StoreHealth()>;

// The file-system part of the health that needs no help from the store: the database and WAL
// file sizes and the free space of their file system (what cannot be read stays unset).
StoreHealth FileHealth(const std::string& db_path);

struct DashboardOptions {
  // Empty: FileHealth(the core's database path).
  StoreHealthSource store_health;
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
  Router router_;
};

}  // namespace sparsescale::coordinator::http
