// The dashboard's law page: a sweep's latest fit (fitting when none is stored) or a refit,
// with each run's measured and predicted loss and the S_opt contour over the sweep's sizes and
// token budgets.
#include <memory>
#include <set>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "coordinator/core/not_found.h"
#include "coordinator/http/dashboard_handlers.h"
#include "law/optimal_sparsity.h"
#include "law/scaling_law.h"

namespace sparsescale::coordinator::http {

namespace {

struct FitAnswer {
  v1::FitLawResponse fit;
  std::vector<store::FitInputRow> inputs;
};

law::PaperCoeffs PaperOf(const v1::LawCoefficients& c) {
  return law::PaperCoeffs{.a_s = c.a_s(),
                          .b_s = c.b_s(),
                          .c_s = c.c_s(),
                          .b_n = c.b_n(),
                          .a_d = c.a_d(),
                          .b_d = c.b_d(),
                          .c = c.c()};
}

Json CoefficientsJson(const v1::LawCoefficients& c) {
  return Json{{"a_S", c.a_s()}, {"b_S", c.b_s()}, {"c_S", c.c_s()}, {"b_N", c.b_n()},
              {"a_D", c.a_d()}, {"b_D", c.b_d()}, {"c", c.c()}};
}

Json IntervalsJson(const v1::FitLawResponse& fit) {
  if (!fit.has_lower() || !fit.has_upper()) {
    return nullptr;
  }
  const Json lo = CoefficientsJson(fit.lower());
  const Json hi = CoefficientsJson(fit.upper());
  Json out = Json::object();
  for (const auto& [name, value] : lo.items()) {
    out[name] = Json::array({value, hi[name]});
  }
  return out;
}

// S_opt(N, C) where C is what a dense run of N non-zeros on D tokens costs: the sparsity that
// would use that run's compute best.
Json ContoursJson(const law::PaperCoeffs& law, const std::vector<store::FitInputRow>& inputs) {
  std::set<double> sizes, tokens;
  for (const store::FitInputRow& row : inputs) {
    sizes.insert(row.nonzeros);
    tokens.insert(row.tokens);
  }
  law::CostOptions cost;
  cost.tokens_per_data_unit = 1.0;  // sweeps measure D in tokens
  Json s_opt = Json::array();
  for (double n : sizes) {
    Json row = Json::array();
    for (double d : tokens) {
      auto best = law::FindOptimalSparsity(law, n, law::TrainingCompute(0, n, d, cost), cost);
      row.push_back(best.ok() ? Json(best->sparsity) : Json(nullptr));
    }
    s_opt.push_back(std::move(row));
  }
  return Json{{"sizes", Json(sizes)}, {"tokens", Json(tokens)}, {"s_opt", std::move(s_opt)}};
}

Json FitJson(const FitAnswer& answer) {
  const v1::FitLawResponse& fit = answer.fit;
  const law::PaperCoeffs law = PaperOf(fit.coefficients());
  std::set<std::string> held_out_jobs;
  for (const v1::HeldOutPoint& p : fit.held_out().points()) {
    held_out_jobs.insert(p.job_id());
  }
  Json points = Json::array();
  for (const store::FitInputRow& row : answer.inputs) {
    const double predicted = law::PredictLoss(law, row.sparsity, row.nonzeros, row.tokens);
    points.push_back(Json{{"job_id", row.job_id},
                          {"n_params", row.nonzeros},
                          {"sparsity", row.sparsity},
                          {"tokens", row.tokens},
                          {"measured", row.loss},
                          {"predicted", predicted},
                          {"residual", row.loss - predicted},
                          {"held_out", held_out_jobs.count(row.job_id) > 0}});
  }
  const bool checked = fit.has_held_out() && fit.held_out().skipped().empty();
  return Json{
      {"fit_id", fit.fit_id()},
      {"coefficients", CoefficientsJson(fit.coefficients())},
      {"objective", fit.objective()},
      {"runs", fit.runs()},
      {"points", std::move(points)},
      {"held_out", checked ? Json{{"mean_abs_rel_error", fit.held_out().mean_abs_relative_error()},
                                  {"max_abs_rel_error", fit.held_out().max_abs_relative_error()}}
                           : Json(nullptr)},
      {"intervals", IntervalsJson(fit)},
      {"contours", ContoursJson(law, answer.inputs)}};
}

// Reads the stored fit `fit_id` (or the sweep's latest when empty) into *answer; *found says
// whether there was one.
absl::Status ReadFit(store::Store& store, const std::string& sweep_id, std::string fit_id,
                     FitAnswer* answer, bool* found) {
  *found = false;
  if (fit_id.empty()) {
    ASSIGN_OR_RETURN(std::optional<store::SweepRow> sweep, store.FindSweep(sweep_id));
    if (!sweep.has_value()) {
      return NotFoundSweep("id", sweep_id);
    }
    ASSIGN_OR_RETURN(std::optional<std::string> latest, store.LatestFitId(sweep_id));
    if (!latest.has_value()) {
      return absl::OkStatus();
    }
    fit_id = *latest;
  }
  ASSIGN_OR_RETURN(std::optional<store::FitRow> row, store.FindFit(fit_id));
  if (!row.has_value()) {
    return absl::OkStatus();
  }
  if (!answer->fit.ParseFromString(row->result)) {
    return absl::DataLossError(absl::StrCat("stored fit ", fit_id, " does not parse"));
  }
  answer->inputs = std::move(row->inputs);
  *found = true;
  return absl::OkStatus();
}

HttpResponse FitError(const std::string& sweep_id, const absl::Status& status) {
  if (absl::IsInvalidArgument(status) || absl::IsFailedPrecondition(status)) {
    return ErrorResponse(404,
                         absl::StrCat("sweep ", sweep_id,
                                      " cannot be fitted yet (too few "
                                      "finished jobs?): ",
                                      status.message()),
                         "id");
  }
  return StatusResponse(status, "id");
}

// Fits the sweep now, then answers with the stored result.
void Refit(const HandlerContext& ctx, const std::string& sweep_id, Reply reply) {
  v1::FitLawRequest request;
  request.set_request_id(NewRandomId("dashboard-fit-"));
  request.set_sweep_id(sweep_id);
  auto fitted = std::make_shared<v1::FitLawResponse>();
  ctx.core->FitLaw(request, fitted.get(), [ctx, sweep_id, fitted, reply](absl::Status s) {
    if (!s.ok()) {
      reply(FitError(sweep_id, s));
      return;
    }
    auto answer = std::make_shared<FitAnswer>();
    auto found = std::make_shared<bool>(false);
    ctx.core->Read(
        [sweep_id, fitted, answer, found](store::Store& store) {
          return ReadFit(store, sweep_id, fitted->fit_id(), answer.get(), found.get());
        },
        [answer, found, reply](absl::Status s) {
          if (s.ok() && !*found) {
            s = absl::InternalError("the new fit is not stored");
          }
          reply(s.ok() ? JsonResponse(FitJson(*answer)) : StatusResponse(s));
        });
  });
}

}  // namespace

void GetFit(const HandlerContext& ctx, const HttpRequest& request, Reply reply, bool refit) {
  const std::string sweep_id = request.params.at("id");
  if (refit) {
    Refit(ctx, sweep_id, std::move(reply));
    return;
  }
  auto answer = std::make_shared<FitAnswer>();
  auto found = std::make_shared<bool>(false);
  ctx.core->Read(
      [sweep_id, answer, found](store::Store& store) {
        return ReadFit(store, sweep_id, "", answer.get(), found.get());
      },
      [ctx, sweep_id, answer, found, reply](absl::Status s) {
        if (!s.ok()) {
          reply(StatusResponse(s, "id"));
        } else if (*found) {
          reply(JsonResponse(FitJson(*answer)));
        } else {
          Refit(ctx, sweep_id, reply);
        }
      });
}

}  // namespace sparsescale::coordinator::http
