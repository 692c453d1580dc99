// CoordinatorCore: fitting the sparse scaling law to stored runs, and optimal sparsity.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/sha256.h"
#include "common/status.h"
#include "coordinator/core/core.h"
#include "coordinator/core/fingerprint.h"
#include "coordinator/core/proto_convert.h"
#include "law/fit_analysis.h"
#include "law/fitter.h"
#include "law/optimal_sparsity.h"
#include "law/run_io.h"

namespace sparsescale::coordinator {
namespace {

struct FitInputs {
  std::vector<law::RunRecord> runs;
  std::vector<store::FitInputRow> rows;
};

// One stored job as a run record; nullopt (with `why`) when it cannot be used.
absl::StatusOr<std::optional<law::RunRecord>> RunOf(store::Store& store, const store::JobRow& job,
                                                    std::string* why) {
  if (job.state != store::JobState::kSucceeded) {
    *why = absl::StrCat("is ", JobStateName(job.state), ", not JOB_STATE_SUCCEEDED");
    return std::nullopt;
  }
  const std::optional<double> loss =
      job.final_eval_loss.has_value() ? job.final_eval_loss : job.last_eval_loss;
  ASSIGN_OR_RETURN(std::optional<v1::LossPoint> last, store.ReadLastPoint(job.id));
  if (!loss.has_value() || !last.has_value()) {
    *why = "has no final eval loss or no loss points";
    return std::nullopt;
  }
  v1::JobSpec spec;
  if (!spec.ParseFromString(job.spec)) {
    return absl::DataLossError("stored spec of job " + job.id + " does not parse");
  }
  law::RunRecord run;
  run.label = "job " + job.id;
  run.job_id = job.id;
  run.sweep_id = job.sweep_id;
  run.sparsity = spec.pruning().sparsity();
  if (spec.pruning().structure() == v1::SPARSITY_STRUCTURE_NM) {
    run.structure = "n:m";
    run.n = spec.pruning().n();
    run.m = spec.pruning().m();
  } else {
    run.structure = run.sparsity == 0 ? "dense" : "unstructured";
  }
  run.nonzeros = static_cast<double>(last->nonzeros_paper());
  run.data = static_cast<double>(spec.data().tokens());
  run.loss = *loss;
  return run;
}

absl::StatusOr<FitInputs> GatherFitInputs(store::Store& store, const v1::FitLawRequest& request) {
  std::vector<std::string> ids(request.job_ids().begin(), request.job_ids().end());
  const bool explicit_ids = request.sweep_id().empty();
  if (!explicit_ids) {
    ASSIGN_OR_RETURN(std::optional<store::SweepRow> sweep, store.FindSweep(request.sweep_id()));
    if (!sweep.has_value()) {
      return absl::NotFoundError("sweep_id: sweep " + request.sweep_id() + " does not exist");
    }
    ASSIGN_OR_RETURN(ids, store.SweepJobIds(request.sweep_id()));
  }
  FitInputs inputs;
  for (size_t i = 0; i < ids.size(); ++i) {
    const std::string field = explicit_ids ? absl::StrCat("job_ids[", i, "]") : "sweep_id";
    ASSIGN_OR_RETURN(std::optional<store::JobRow> job, store.FindJob(ids[i]));
    if (!job.has_value()) {
      return absl::NotFoundError(absl::StrCat(field, ": job ", ids[i], " does not exist"));
    }
    std::string why;
    ASSIGN_OR_RETURN(std::optional<law::RunRecord> run, RunOf(store, *job, &why));
    if (!run.has_value()) {
      if (explicit_ids) {
        return absl::FailedPreconditionError(absl::StrCat(field, ": job ", ids[i], " ", why));
      }
      continue;  // a sweep fit uses the jobs that finished
    }
    inputs.rows.push_back({.job_id = job->id,
                           .config_hash = job->id,
                           .sparsity = run->sparsity,
                           .nonzeros = run->nonzeros,
                           .tokens = run->data,
                           .loss = run->loss});
    inputs.runs.push_back(std::move(*run));
  }
  return inputs;
}

v1::LawCoefficients CoefficientsOf(const std::array<double, 7>& p) {
  v1::LawCoefficients c;
  c.set_a_s(p[0]);
  c.set_b_s(p[1]);
  c.set_c_s(p[2]);
  c.set_b_n(p[3]);
  c.set_a_d(p[4]);
  c.set_b_d(p[5]);
  c.set_c(p[6]);
  return c;
}

law::PaperCoeffs PaperCoeffsOf(const v1::LawCoefficients& c) {
  return {.a_s = c.a_s(),
          .b_s = c.b_s(),
          .c_s = c.c_s(),
          .b_n = c.b_n(),
          .a_d = c.a_d(),
          .b_d = c.b_d(),
          .c = c.c()};
}

law::FitOptions FitOptionsOf(const v1::FitLawRequest& request) {
  law::FitOptions options;
  options.residual =
      request.residual() == "abs" ? law::ResidualKind::kAbs : law::ResidualKind::kLog;
  options.delta = request.delta() > 0 ? request.delta() : 1e-3;
  options.starts = request.starts() > 0 ? request.starts() : 200;
  options.seed = request.seed();
  options.threads = 1;  // the coordinator's fit pool is one thread; keep it that way
  return options;
}

// Fits `inputs` and fills `response` (all but fit_id).
absl::Status RunFit(const v1::FitLawRequest& request, const FitInputs& inputs,
                    v1::FitLawResponse* response) {
  const law::Normalisation scales = law::DefaultNormalisation(inputs.runs);
  const law::FitOptions options = FitOptionsOf(request);
  ASSIGN_OR_RETURN(law::FitResult fit, law::FitLaw(inputs.runs, scales, options));
  if (!fit.paper.has_value()) {
    return absl::FailedPreconditionError(
        "the fitted optimum has no paper form (its data exponent term is not positive); "
        "try more runs or more starts");
  }
  *response->mutable_coefficients() = CoefficientsOf(law::PaperArray(*fit.paper));
  response->set_objective(fit.objective);
  response->set_starts(fit.starts);
  response->set_starts_within_1pct(fit.starts_within_1pct);
  response->set_rmse(fit.rmse);
  response->set_mean_relative_error(fit.mean_relative_error);
  response->set_runs(static_cast<int32_t>(inputs.runs.size()));
  if (request.bootstrap() > 0) {
    law::BootstrapOptions boot;
    boot.resamples = request.bootstrap();
    boot.seed = request.seed();
    boot.threads = 1;
    ASSIGN_OR_RETURN(law::BootstrapResult intervals,
                     law::BootstrapIntervals(inputs.runs, scales, options, fit, boot));
    std::array<double, 7> low, high;
    for (int i = 0; i < 7; ++i) {
      low[i] = intervals.paper[i].low;
      high[i] = intervals.paper[i].high;
    }
    *response->mutable_lower() = CoefficientsOf(low);
    *response->mutable_upper() = CoefficientsOf(high);
  }
  return absl::OkStatus();
}

}  // namespace

void CoordinatorCore::FitLaw(v1::FitLawRequest request, v1::FitLawResponse* response,
                             Done done) {
  Once once{.request_id = request.request_id(),
            .fingerprint = FingerprintOf("FitLaw", request),
            .response = response};
  Decide decide = [this, request = std::move(request), response]() -> absl::StatusOr<Plan> {
    auto fit = std::make_shared<store::FitRow>();
    return Plan{
        .compute = [this, request, response,
                    fit]() { return ComputeFit(request, response, fit.get()); },
        .write = [fit](store::Store& store) { return store.InsertFit(*fit); },
    };
  };
  RunOnce(std::move(once), std::move(decide), std::move(done));
}

absl::Status CoordinatorCore::ComputeFit(const v1::FitLawRequest& request,
                                         v1::FitLawResponse* response, store::FitRow* fit) {
  absl::StatusOr<FitInputs> inputs = absl::UnknownError("no reader");
  {
    auto reader = readers_->Acquire();
    inputs = reader.ok() ? GatherFitInputs(**reader, request) : reader.status();
  }
  RETURN_IF_ERROR(inputs.status());
  RETURN_IF_ERROR(RunFit(request, *inputs, response));
  v1::FitLawRequest options = request;
  options.clear_request_id();
  const std::string options_bytes = DeterministicBytes(options);
  // The same options over the same runs is the same fit.
  std::string identity = options_bytes;
  for (const store::FitInputRow& row : inputs->rows) {
    absl::StrAppend(&identity, "\n", row.job_id);
  }
  response->set_fit_id("fit-" + Sha256Hex(identity).substr(0, 32));
  *fit = store::FitRow{.id = response->fit_id(),
                       .sweep_id = request.sweep_id(),
                       .options = options_bytes,
                       .result = response->SerializeAsString(),
                       .created_unix_ms = NowUnixMs(),
                       .inputs = std::move(inputs->rows)};
  return absl::OkStatus();
}

void CoordinatorCore::OptimalSparsity(v1::OptimalSparsityRequest request,
                                      v1::OptimalSparsityResponse* response, Done done) {
  Read(
      [request = std::move(request), response](store::Store& store) -> absl::Status {
        v1::LawCoefficients c = request.coefficients();
        if (!request.fit_id().empty()) {
          ASSIGN_OR_RETURN(std::optional<store::FitRow> fit, store.FindFit(request.fit_id()));
          v1::FitLawResponse stored;
          if (!fit.has_value()) {
            return absl::NotFoundError("fit_id: fit " + request.fit_id() + " does not exist");
          }
          if (!stored.ParseFromString(fit->result)) {
            return absl::DataLossError("stored fit " + request.fit_id() + " does not parse");
          }
          c = stored.coefficients();
        }
        const law::PaperCoeffs law = PaperCoeffsOf(c);
        law::CostOptions cost;
        cost.model = request.cost() == "dense" ? law::CostModel::kDense : law::CostModel::kSparse;
        cost.tokens_per_data_unit = 1.0;  // sweeps measure D in tokens
        ASSIGN_OR_RETURN(
            law::OptimalSparsity best,
            law::FindOptimalSparsity(law, request.nonzeros(), request.compute(), cost));
        response->set_sparsity(best.sparsity);
        response->set_loss(best.loss);
        response->set_tokens(best.data);
        return absl::OkStatus();
      },
      std::move(done));
}

}  // namespace sparsescale::coordinator
