#include "coordinator/http/dashboard.h"

#include <filesystem>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "coordinator/http/dashboard_handlers.h"

namespace sparsescale::coordinator::http {

namespace {

// A JSON read: answers 304 when If-None-Match names this process's current state version
// (nothing is read), otherwise runs `handler` and tags its answer with the version read before
// it ran (a change during the read only makes the next poll fetch again).
Handler Versioned(CoordinatorCore* core, const std::string& boot_id, Handler handler) {
  return [core, boot_id, handler = std::move(handler)](const HttpRequest& request, Reply reply) {
    const std::string etag = absl::StrCat("\"", boot_id, "-", core->state_version(), "\"");
    if (request.if_none_match == etag) {
      HttpResponse response;
      response.status = 304;
      response.content_type.clear();
      response.headers.emplace_back("ETag", etag);
      reply(std::move(response));
      return;
    }
    handler(request, [etag, reply = std::move(reply)](HttpResponse response) {
      response.headers.emplace_back("ETag", etag);
      response.headers.emplace_back("Cache-Control", "no-cache");
      reply(std::move(response));
    });
  };
}

std::string RandomBootId() {
  std::random_device device;
  const uint64_t id = (static_cast<uint64_t>(device()) << 32) | device();
  return absl::StrCat(absl::Hex(id, absl::kZeroPad16));
}

}  // namespace

Dashboard::Dashboard(CoordinatorCore* core, DashboardOptions options)
    : core_(core), options_(std::move(options)), boot_id_(RandomBootId()) {
  AddApiRoutes();
  AddLiveRoutes();
}

void Dashboard::AddApiRoutes() {
  const HandlerContext ctx{.core = core_, .options = &options_};
  auto read = [this, ctx](const std::string& pattern,
                          void (*handler)(const HandlerContext&, const HttpRequest&, Reply)) {
    router_.Add("GET", pattern, Role::kViewer,
                Versioned(core_, boot_id_, [ctx, handler](const HttpRequest& request, Reply reply) {
                  handler(ctx, request, std::move(reply));
                }));
  };
  read("/api/v1/cluster", &GetCluster);
  read("/api/v1/sweeps", &ListSweeps);
  read("/api/v1/sweeps/{id}", &GetSweep);
  read("/api/v1/jobs", &ListJobs);
  read("/api/v1/jobs/{id}", &GetJob);
  read("/api/v1/jobs/{id}/curve", &GetCurve);
  read("/api/v1/sweeps/{id}/fit", [](const HandlerContext& c, const HttpRequest& r, Reply reply) {
    GetFit(c, r, std::move(reply), /*refit=*/false);
  });
  router_.Add("POST", "/api/v1/sweeps/{id}/fit", Role::kSubmitter,
              [ctx](const HttpRequest& request, Reply reply) {
                GetFit(ctx, request, std::move(reply), /*refit=*/true);
              });
  // Downloads: the bytes do not change with the state version (a checkpoint is immutable; a
  // log only grows), so they carry no ETag.
  router_.Add("GET", "/api/v1/jobs/{id}/checkpoints/{step}", Role::kViewer,
              [ctx](const HttpRequest& request, Reply reply) {
                GetCheckpoint(ctx, request, std::move(reply));
              });
  router_.Add(
      "GET", "/api/v1/jobs/{id}/log", Role::kViewer,
      [ctx](const HttpRequest& request, Reply reply) { GetLog(ctx, request, std::move(reply)); });
}

void Dashboard::AddLiveRoutes() {
  const HandlerContext ctx{.core = core_, .options = &options_};
  router_.Add(
      "GET", "/api/v1/events", Role::kViewer,
      [ctx](const HttpRequest& request, Reply reply) { Events(ctx, request, std::move(reply)); });
  router_.Add("GET", "/metrics", Role::kViewer, [ctx](const HttpRequest& request, Reply reply) {
    Metrics(ctx, request, std::move(reply));
  });
  router_.Add("GET", "/healthz", Role::kViewer, [](const HttpRequest&, Reply reply) {
    HttpResponse response;
    response.content_type = "text/plain; charset=utf-8";
    response.body = "ok";
    reply(std::move(response));
  });
  router_.Add("GET", "/", Role::kViewer, &Asset);
  router_.Add("GET", "/index.html", Role::kViewer, &Asset);
  router_.Add("GET", "/assets/{file...}", Role::kViewer, &Asset);
}

}  // namespace sparsescale::coordinator::http
