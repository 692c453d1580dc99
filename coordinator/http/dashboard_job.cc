// The dashboard's job page: the job with its attempts, events, checkpoints and log tail; its
// loss curve as columns; checkpoint and log downloads.
#include <memory>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "coordinator/core/not_found.h"
#include "coordinator/core/proto_convert.h"
#include "coordinator/http/dashboard_handlers.h"
#include "coordinator/store/checkpoint_reader.h"
#include "spec/proto_json.h"

namespace sparsescale::coordinator::http {

namespace {

constexpr int kMaxEvents = 200;
// Points back from the newest that the recent throughput is measured over.
constexpr int64_t kThroughputSteps = 200;

// What the job page shows besides the job itself (read in one go on the read pool).
struct JobDetail {
  std::vector<store::AttemptRow> attempts;
  std::vector<store::EventRow> events;
  std::vector<store::CheckpointRow> checkpoints;
  std::string log_tail;
  std::optional<double> tokens_per_second;
};

absl::Status ReadDetail(store::Store& store, const v1::Job& job, JobDetail* detail) {
  ASSIGN_OR_RETURN(detail->attempts, store.ListAttempts(job.id()));
  ASSIGN_OR_RETURN(detail->events, store.ListEvents(job.id(), kMaxEvents));
  ASSIGN_OR_RETURN(detail->checkpoints, store.ListCheckpoints(job.id()));
  if (job.attempt() > 0) {
    ASSIGN_OR_RETURN(detail->log_tail, store.ReadLogTail(job.id(), job.attempt(), kLogTailBytes));
  }
  if (job.state() == v1::JOB_STATE_RUNNING) {
    ASSIGN_OR_RETURN(
        std::vector<store::LossPoint> recent,
        store.ReadCurve(job.id(), std::max<int64_t>(-1, job.step() - kThroughputSteps)));
    if (recent.size() >= 2) {
      const double seconds = recent.back().wall_s() - recent.front().wall_s();
      const double tokens = static_cast<double>(recent.back().tokens() - recent.front().tokens());
      if (seconds > 0) {
        detail->tokens_per_second = tokens / seconds;
      }
    }
  }
  return absl::OkStatus();
}

Json AttemptJson(const store::AttemptRow& a) {
  return Json{
      {"attempt", a.attempt},
      {"worker", a.worker_id},
      {"started_ms", a.started_unix_ms},
      {"ended_ms", a.ended_unix_ms.has_value() ? Json(*a.ended_unix_ms) : Json(nullptr)},
      {"outcome", a.ended_unix_ms.has_value() ? StateName(static_cast<v1::JobState>(a.outcome))
                                              : std::string()},
      {"failure_class", a.failure == store::FailureClass::kInfra ? "INFRA"
                        : a.failure == store::FailureClass::kJob ? "JOB"
                                                                 : ""},
      {"reason", a.error}};
}

Json JobDetailJson(const v1::Job& job, const JobDetail& detail) {
  Json out = JobSummary(job);
  out["spec"] = Json::parse(spec::ToJsonLine(job.spec(), /*print_defaults=*/false), nullptr, false);
  Json attempts = Json::array();
  for (const store::AttemptRow& a : detail.attempts) {
    attempts.push_back(AttemptJson(a));
  }
  Json events = Json::array();
  for (const store::EventRow& e : detail.events) {
    events.push_back(Json{{"time_ms", e.unix_ms}, {"kind", e.kind}, {"detail", e.detail}});
  }
  Json checkpoints = Json::array();
  for (const store::CheckpointRow& c : detail.checkpoints) {
    checkpoints.push_back(
        Json{{"step", c.step},
             {"bytes", c.size_bytes},
             {"sha256", c.sha256},
             {"final", job.total_steps() > 0 && c.step >= job.total_steps()},
             {"url", absl::StrCat("/api/v1/jobs/", job.id(), "/checkpoints/", c.step)}});
  }
  out["attempts"] = std::move(attempts);
  out["events"] = std::move(events);
  out["checkpoints"] = std::move(checkpoints);
  out["log_tail"] = detail.log_tail;
  out["tokens_per_second"] =
      detail.tokens_per_second.has_value() ? Json(*detail.tokens_per_second) : Json(nullptr);
  out["error"] = job.error();
  out["unplaceable"] = job.unplaceable();
  return out;
}

Json CurveJson(const std::string& job_id, const std::string& x,
               const v1::GetLossCurveResponse& curve) {
  Json step = Json::array(), tokens = Json::array(), train = Json::array(), eval = Json::array(),
       sparsity = Json::array(), lr = Json::array();
  for (const v1::LossPoint& p : curve.points()) {
    step.push_back(p.step());
    tokens.push_back(p.tokens());
    train.push_back(p.train_loss());
    eval.push_back(p.has_eval_loss() ? Json(p.eval_loss()) : Json(nullptr));
    sparsity.push_back(p.sparsity());
    lr.push_back(p.lr());
  }
  return Json{{"job_id", job_id},
              {"x", x},
              {"total_points", curve.total_points()},
              {"step", std::move(step)},
              {"tokens", std::move(tokens)},
              {"train_loss", std::move(train)},
              {"eval_loss", std::move(eval)},
              {"sparsity", std::move(sparsity)},
              {"lr", std::move(lr)}};
}

}  // namespace

void GetJob(const HandlerContext& ctx, const HttpRequest& request, Reply reply) {
  auto job = std::make_shared<v1::Job>();
  ctx.core->GetJob(request.params.at("id"), job.get(), [ctx, job, reply](absl::Status s) {
    if (!s.ok()) {
      reply(StatusResponse(s, "id"));
      return;
    }
    auto detail = std::make_shared<JobDetail>();
    ctx.core->Read(
        [job, detail](store::Store& store) { return ReadDetail(store, *job, detail.get()); },
        [job, detail, reply](absl::Status s) {
          reply(s.ok() ? JsonResponse(JobDetailJson(*job, *detail)) : StatusResponse(s));
        });
  });
}

void GetCurve(const HandlerContext& ctx, const HttpRequest& request, Reply reply) {
  absl::StatusOr<int64_t> max_points = IntParam(
      request, "max_points", 2, ctx.options->max_curve_points, ctx.options->default_curve_points);
  if (!max_points.ok()) {
    reply(BadParam(max_points.status()));
    return;
  }
  std::string x = "step";
  if (auto it = request.query.find("x"); it != request.query.end()) {
    x = it->second;
  }
  if (x != "step" && x != "tokens") {
    reply(ErrorResponse(400, absl::StrCat("x: must be \"step\" or \"tokens\", got \"", x, "\""),
                        "x"));
    return;
  }
  v1::GetLossCurveRequest curve_request;
  curve_request.set_job_id(request.params.at("id"));
  curve_request.set_max_points(static_cast<int32_t>(*max_points));
  auto curve = std::make_shared<v1::GetLossCurveResponse>();
  ctx.core->GetLossCurve(
      curve_request, curve.get(), [id = curve_request.job_id(), x, curve, reply](absl::Status s) {
        reply(s.ok() ? JsonResponse(CurveJson(id, x, *curve)) : StatusResponse(s, "id"));
      });
}

void GetCheckpoint(const HandlerContext& ctx, const HttpRequest& request, Reply reply) {
  const std::string job_id = request.params.at("id");
  int64_t step = 0;
  if (!absl::SimpleAtoi(request.params.at("step"), &step) || step < 1) {
    reply(ErrorResponse(
        400,
        absl::StrCat("step: must be a positive integer, got \"", request.params.at("step"), "\""),
        "step"));
    return;
  }
  // Set by the first read (which verifies a blob-dir file), then read a piece per Next.
  auto reader = std::make_shared<std::optional<store::CheckpointReader>>();
  ctx.core->Read(
      [job_id, step, reader](store::Store& store) -> absl::Status {
        auto meta = store.FindCheckpoint(job_id, step);
        if (absl::IsNotFound(meta.status())) {
          return NotFoundJob("id", job_id);
        }
        RETURN_IF_ERROR(meta.status());
        if (!meta->has_value()) {
          return absl::NotFoundError(
              absl::StrCat("step: job ", job_id, " has no checkpoint at step ", step));
        }
        // A blob-dir file is verified (size, sha256) before any byte is served; DataLoss names
        // the file.
        ASSIGN_OR_RETURN(store::CheckpointReader opened,
                         store::CheckpointReader::Open(store, **meta, 0));
        reader->emplace(std::move(opened));
        return absl::OkStatus();
      },
      [core = ctx.core, job_id, step, reader, reply](absl::Status s) {
        if (!s.ok()) {
          reply(StatusResponse(s, absl::StartsWith(s.message(), "step") ? "step" : "id"));
          return;
        }
        HttpResponse response;
        response.content_type = "application/octet-stream";
        response.headers.emplace_back(
            "Content-Disposition",
            absl::StrCat("attachment; filename=\"job-", job_id, "-step-", step, ".safetensors\""));
        // The whole payload's sha256, for clients that check what they received.
        const store::CheckpointRow& meta = (*reader)->meta();
        response.headers.emplace_back("X-Checkpoint-Sha256", meta.sha256);
        response.source = BodySource{
            .size_bytes = meta.size_bytes,
            // The server asks in order from 0, as the reader reads: the offset is its position.
            .read =
                [core, reader](int64_t /*offset*/, BodySource::Piece done) {
                  auto piece = std::make_shared<std::string>();
                  core->Read(
                      [reader, piece](store::Store& store) -> absl::Status {
                        ASSIGN_OR_RETURN(*piece, (*reader)->Next(store));
                        return absl::OkStatus();
                      },
                      [piece, done](absl::Status read) {
                        done(read.ok() ? absl::StatusOr<std::string>(std::move(*piece)) : read);
                      });
                },
        };
        reply(std::move(response));
      });
}

void GetLog(const HandlerContext& ctx, const HttpRequest& request, Reply reply) {
  auto job = std::make_shared<v1::Job>();
  ctx.core->GetJob(request.params.at("id"), job.get(), [ctx, job, reply](absl::Status s) {
    if (!s.ok()) {
      reply(StatusResponse(s, "id"));
      return;
    }
    auto text = std::make_shared<std::string>();
    ctx.core->Read(
        [job, text](store::Store& store) -> absl::Status {
          if (job->attempt() > 0) {
            ASSIGN_OR_RETURN(*text, store.ReadLogTail(job->id(), job->attempt(), kMaxLogKeepBytes));
          }
          return absl::OkStatus();
        },
        [text, reply](absl::Status s) {
          if (!s.ok()) {
            reply(StatusResponse(s));
            return;
          }
          HttpResponse response;
          response.content_type = "text/plain; charset=utf-8";
          response.body = std::move(*text);
          reply(std::move(response));
        });
  });
}

}  // namespace sparsescale::coordinator::http
