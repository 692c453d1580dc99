#include "worker/agent/job_events.h"

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace sparsescale::agent {
namespace {

using nlohmann::json;
using sparsescale::v1::LossPoint;

// JSON has no NaN or infinity; nlohmann writes them as null, which reads back as NaN.
json Number(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

absl::StatusOr<const json*> Field(const json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end()) {
    return absl::InvalidArgumentError(absl::StrCat("job event: missing field \"", name, "\""));
  }
  return &*it;
}

absl::StatusOr<int64_t> GetInt(const json& j, const char* name) {
  ASSIGN_OR_RETURN(const json* v, Field(j, name));
  if (!v->is_number_integer()) {
    return absl::InvalidArgumentError(
        absl::StrCat("job event: field \"", name, "\" must be an integer"));
  }
  return v->get<int64_t>();
}

absl::StatusOr<double> GetDouble(const json& j, const char* name) {
  ASSIGN_OR_RETURN(const json* v, Field(j, name));
  if (v->is_null()) {
    return std::numeric_limits<double>::quiet_NaN();
  }
  if (!v->is_number()) {
    return absl::InvalidArgumentError(
        absl::StrCat("job event: field \"", name, "\" must be a number"));
  }
  return v->get<double>();
}

absl::StatusOr<std::string> GetString(const json& j, const char* name) {
  ASSIGN_OR_RETURN(const json* v, Field(j, name));
  if (!v->is_string()) {
    return absl::InvalidArgumentError(
        absl::StrCat("job event: field \"", name, "\" must be a string"));
  }
  return v->get<std::string>();
}

absl::StatusOr<std::optional<double>> GetOptionalDouble(const json& j, const char* name) {
  if (!j.contains(name)) {
    return std::optional<double>();
  }
  ASSIGN_OR_RETURN(double v, GetDouble(j, name));
  return std::optional<double>(v);
}

absl::StatusOr<LossPoint> ParsePoint(const json& j) {
  LossPoint p;
  ASSIGN_OR_RETURN(int64_t step, GetInt(j, "step"));
  ASSIGN_OR_RETURN(int64_t tokens, GetInt(j, "tokens"));
  ASSIGN_OR_RETURN(double train_loss, GetDouble(j, "train_loss"));
  ASSIGN_OR_RETURN(std::optional<double> eval_loss, GetOptionalDouble(j, "eval_loss"));
  ASSIGN_OR_RETURN(double sparsity, GetDouble(j, "sparsity"));
  ASSIGN_OR_RETURN(double lr, GetDouble(j, "lr"));
  ASSIGN_OR_RETURN(int64_t nz_paper, GetInt(j, "nonzeros_paper"));
  ASSIGN_OR_RETURN(int64_t nz_exact, GetInt(j, "nonzeros_exact"));
  ASSIGN_OR_RETURN(double flops_dense, GetDouble(j, "flops_dense"));
  ASSIGN_OR_RETURN(double flops_sparse, GetDouble(j, "flops_sparse"));
  ASSIGN_OR_RETURN(double wall_s, GetDouble(j, "wall_s"));
  p.set_step(step);
  p.set_tokens(tokens);
  p.set_train_loss(train_loss);
  if (eval_loss.has_value()) {
    p.set_eval_loss(*eval_loss);
  }
  p.set_sparsity(sparsity);
  p.set_lr(lr);
  p.set_nonzeros_paper(nz_paper);
  p.set_nonzeros_exact(nz_exact);
  p.set_flops_dense(flops_dense);
  p.set_flops_sparse(flops_sparse);
  p.set_wall_s(wall_s);
  return p;
}

absl::StatusOr<JobProgress> ParseProgress(const json& j) {
  JobProgress p;
  ASSIGN_OR_RETURN(p.step, GetInt(j, "step"));
  ASSIGN_OR_RETURN(p.total_steps, GetInt(j, "total_steps"));
  ASSIGN_OR_RETURN(p.tokens, GetInt(j, "tokens"));
  ASSIGN_OR_RETURN(p.train_loss, GetDouble(j, "train_loss"));
  ASSIGN_OR_RETURN(p.tokens_per_s, GetDouble(j, "tokens_per_s"));
  ASSIGN_OR_RETURN(p.eta_s, GetDouble(j, "eta_s"));
  return p;
}

absl::StatusOr<JobSummary> ParseSummary(const json& j) {
  JobSummary s;
  ASSIGN_OR_RETURN(s.steps, GetInt(j, "steps"));
  ASSIGN_OR_RETURN(s.final_train_loss, GetDouble(j, "final_train_loss"));
  ASSIGN_OR_RETURN(s.final_eval_loss, GetOptionalDouble(j, "final_eval_loss"));
  ASSIGN_OR_RETURN(s.final_sparsity, GetDouble(j, "final_sparsity"));
  ASSIGN_OR_RETURN(s.nonzeros_paper, GetInt(j, "nonzeros_paper"));
  ASSIGN_OR_RETURN(s.nonzeros_exact, GetInt(j, "nonzeros_exact"));
  ASSIGN_OR_RETURN(s.wall_s, GetDouble(j, "wall_s"));
  return s;
}

absl::StatusOr<absl::Status> ParseError(const json& j) {
  ASSIGN_OR_RETURN(int64_t code, GetInt(j, "code"));
  ASSIGN_OR_RETURN(std::string message, GetString(j, "message"));
  if (code <= 0 || code > static_cast<int64_t>(absl::StatusCode::kUnauthenticated)) {
    code = static_cast<int64_t>(absl::StatusCode::kUnknown);
  }
  return absl::Status(static_cast<absl::StatusCode>(code), message);
}

absl::StatusOr<ChildEvent> ParseEventObject(const json& j) {
  ASSIGN_OR_RETURN(std::string kind, GetString(j, "event"));
  ChildEvent e;
  if (kind == "point") {
    e.kind = ChildEvent::Kind::kPoint;
    ASSIGN_OR_RETURN(e.point, ParsePoint(j));
  } else if (kind == "checkpoint") {
    e.kind = ChildEvent::Kind::kCheckpoint;
    ASSIGN_OR_RETURN(e.step, GetInt(j, "step"));
    ASSIGN_OR_RETURN(e.path, GetString(j, "path"));
  } else if (kind == "progress") {
    e.kind = ChildEvent::Kind::kProgress;
    ASSIGN_OR_RETURN(e.progress, ParseProgress(j));
  } else if (kind == "done") {
    e.kind = ChildEvent::Kind::kDone;
    ASSIGN_OR_RETURN(e.summary, ParseSummary(j));
  } else if (kind == "stopped") {
    e.kind = ChildEvent::Kind::kStopped;
    ASSIGN_OR_RETURN(e.step, GetInt(j, "step"));
  } else if (kind == "error") {
    e.kind = ChildEvent::Kind::kError;
    ASSIGN_OR_RETURN(e.error, ParseError(j));
  } else {
    return absl::InvalidArgumentError(absl::StrCat("job event: unknown event \"", kind, "\""));
  }
  return e;
}

}  // namespace

std::string EncodePoint(const LossPoint& p) {
  json j = {{"event", "point"},
            {"step", p.step()},
            {"tokens", p.tokens()},
            {"train_loss", Number(p.train_loss())},
            {"sparsity", Number(p.sparsity())},
            {"lr", Number(p.lr())},
            {"nonzeros_paper", p.nonzeros_paper()},
            {"nonzeros_exact", p.nonzeros_exact()},
            {"flops_dense", Number(p.flops_dense())},
            {"flops_sparse", Number(p.flops_sparse())},
            {"wall_s", Number(p.wall_s())}};
  if (p.has_eval_loss()) {
    j["eval_loss"] = Number(p.eval_loss());
  }
  return Dump(j);
}

std::string EncodeCheckpoint(int64_t step, const std::string& path) {
  return Dump({{"event", "checkpoint"}, {"step", step}, {"path", path}});
}

std::string EncodeProgress(const JobProgress& p) {
  return Dump({{"event", "progress"},
               {"step", p.step},
               {"total_steps", p.total_steps},
               {"tokens", p.tokens},
               {"train_loss", Number(p.train_loss)},
               {"tokens_per_s", Number(p.tokens_per_s)},
               {"eta_s", Number(p.eta_s)}});
}

std::string EncodeDone(const JobSummary& s) {
  json j = {{"event", "done"},
            {"steps", s.steps},
            {"final_train_loss", Number(s.final_train_loss)},
            {"final_sparsity", Number(s.final_sparsity)},
            {"nonzeros_paper", s.nonzeros_paper},
            {"nonzeros_exact", s.nonzeros_exact},
            {"wall_s", Number(s.wall_s)}};
  if (s.final_eval_loss.has_value()) {
    j["final_eval_loss"] = Number(*s.final_eval_loss);
  }
  return Dump(j);
}

std::string EncodeStopped(int64_t step) { return Dump({{"event", "stopped"}, {"step", step}}); }

std::string EncodeError(const absl::Status& error) {
  return Dump({{"event", "error"},
               {"code", static_cast<int>(error.code())},
               {"message", std::string(error.message())}});
}

absl::StatusOr<ChildEvent> ParseChildEvent(const std::string& line) {
  json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("job event: not a JSON object: \"", line.substr(0, 120), "\""));
  }
  return ParseEventObject(j);
}

}  // namespace sparsescale::agent
