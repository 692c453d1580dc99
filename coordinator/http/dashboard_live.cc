// The dashboard's live parts: the change-event stream, /metrics and the compiled-in app.
#include <cstring>
#include <memory>

#include "absl/strings/str_cat.h"
#include "coordinator/http/assets.h"
#include "coordinator/http/dashboard_handlers.h"

namespace sparsescale::coordinator::http {

namespace {

using metrics::Labels;
using metrics::SampleWriter;
using metrics::Type;

void WriteGauge(SampleWriter& out, const std::string& name, const std::string& help, double value) {
  out.Begin(name, help, Type::kGauge);
  out.Value(name, {}, value);
}

void WriteStoreHealth(SampleWriter& out, const store::StoreHealth& health) {
  WriteGauge(out, "sparsescale_store_ok", "1 while the store's writes succeed, 0 while they fail.",
             health.writable() ? 1 : 0);
  if (health.disk_free_bytes >= 0) {
    WriteGauge(out, "sparsescale_store_disk_free_bytes",
               "Free bytes on the database's file system.",
               static_cast<double>(health.disk_free_bytes));
  }
  WriteGauge(out, "sparsescale_store_db_bytes", "Size of the SQLite database file.",
             static_cast<double>(health.db_bytes));
  WriteGauge(out, "sparsescale_store_wal_bytes", "Size of the SQLite write-ahead log.",
             static_cast<double>(health.wal_bytes));
  WriteGauge(out, "sparsescale_store_failing_since_seconds",
             "Unix time of the first failed write of the current run of failures (0: healthy).",
             static_cast<double>(health.failing_since_unix_ms) / 1000.0);
  out.Begin("sparsescale_store_errors_total", "Store write errors since the start.",
            Type::kCounter);
  out.Value("sparsescale_store_errors_total", {}, static_cast<double>(health.write_errors));
}

std::string ScrapeTimeMetrics(const HandlerContext& ctx,
                              const v1::GetClusterStatusResponse& status) {
  std::string text;
  SampleWriter out(&text);
  const Json counts = StateCounts(status.jobs_by_state());
  out.Begin("sparsescale_jobs", "Jobs by state.", Type::kGauge);
  for (const auto& [state, count] : counts.items()) {
    out.Value("sparsescale_jobs", Labels{{"state", state}}, count.get<double>());
  }
  int alive = 0;
  for (const v1::WorkerInfo& w : status.workers()) {
    alive += w.alive() ? 1 : 0;
  }
  WriteGauge(out, "sparsescale_workers_alive", "Registered workers whose lease is alive.", alive);
  WriteGauge(out, "sparsescale_loss_points_stored", "Loss points in the store.",
             static_cast<double>(status.loss_points_stored()));
  WriteGauge(out, "sparsescale_points_per_second",
             "Loss points committed per second over the last ten seconds.",
             ctx.core->points_per_second());
  WriteGauge(out, "sparsescale_state_version",
             "Committed changes since the coordinator started (the dashboard's ETag).",
             static_cast<double>(ctx.core->state_version()));
  WriteStoreHealth(out, ctx.core->store_health());
  return text;
}

}  // namespace

void Events(const HandlerContext& ctx, const HttpRequest&, Reply reply) {
  // The first poll sends the current version; later ones only a newer one. The period bounds
  // the events to 4 a second however often the state changes.
  auto sent = std::make_shared<int64_t>(-1);
  HttpResponse response;
  response.stream =
      EventStream{.poll = [core = ctx.core, sent]() -> std::optional<std::string> {
                    const int64_t version = core->state_version();
                    if (version == *sent) {
                      return std::nullopt;
                    }
                    *sent = version;
                    return absl::StrCat("event: version\ndata: {\"version\": ", version, "}\n\n");
                  },
                  .period = std::chrono::milliseconds(250),
                  .keep_alive = std::chrono::milliseconds(15'000)};
  reply(std::move(response));
}

void Metrics(const HandlerContext& ctx, const HttpRequest&, Reply reply) {
  auto status = std::make_shared<v1::GetClusterStatusResponse>();
  ctx.core->GetClusterStatus(status.get(), [ctx, status, reply](absl::Status s) {
    if (!s.ok()) {
      reply(StatusResponse(s));
      return;
    }
    HttpResponse response;
    response.content_type = "text/plain; version=0.0.4; charset=utf-8";
    response.body = ctx.core->metrics_registry().Render() + ScrapeTimeMetrics(ctx, *status);
    reply(std::move(response));
  });
}

const EmbeddedAsset* FindAsset(std::string_view name) {
  for (const EmbeddedAsset* asset = EmbeddedAssets(); asset->name != nullptr; ++asset) {
    if (name == asset->name) {
      return asset;
    }
  }
  return nullptr;
}

void Asset(const HttpRequest& request, Reply reply) {
  std::string name = "index.html";
  if (auto it = request.params.find("file"); it != request.params.end()) {
    name = it->second;
  }
  const EmbeddedAsset* asset = FindAsset(name);
  if (asset == nullptr) {
    reply(ErrorResponse(404, absl::StrCat("no such asset: ", name)));
    return;
  }
  HttpResponse response;
  response.headers.emplace_back("Cache-Control", "no-cache");
  response.headers.emplace_back("ETag", asset->etag);
  if (request.if_none_match == asset->etag) {
    response.status = 304;
    response.content_type.clear();
  } else {
    response.content_type = asset->content_type;
    response.body.assign(reinterpret_cast<const char*>(asset->data), asset->size);
  }
  reply(std::move(response));
}

}  // namespace sparsescale::coordinator::http
