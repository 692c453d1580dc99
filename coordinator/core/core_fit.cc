// CoordinatorCore: fitting the sparse scaling law to stored runs, and optimal sparsity.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/sha256.h"
#include "common/status.h"
#include "coordinator/core/core.h"
#include "coordinator/core/fingerprint.h"
#include "coordinator/core/not_found.h"
#include "coordinator/core/proto_convert.h"
#include "law/fit_analysis.h"
#include "law/fit_report.h"
#include "spec/job_spec.h"
#include "law/fitter.h"
#include "law/optimal_sparsity.h"
#include "law/proto/law_proto.h"
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
  run.data = static_cast<double>(spec::TrainedTokens(spec));
  run.loss = *loss;
  return run;
}

absl::StatusOr<FitInputs> GatherFitInputs(store::Store& store, const v1::FitLawRequest& request) {
  std::vector<std::string> ids(request.job_ids().begin(), request.job_ids().end());
  const bool explicit_ids = request.sweep_id().empty();
  if (!explicit_ids) {
    ASSIGN_OR_RETURN(std::optional<store::SweepRow> sweep, store.FindSweep(request.sweep_id()));
    if (!sweep.has_value()) {
      return NotFoundSweep("sweep_id", request.sweep_id());
    }
    ASSIGN_OR_RETURN(ids, store.SweepJobIds(request.sweep_id()));
  }
  FitInputs inputs;
  for (size_t i = 0; i < ids.size(); ++i) {
    const std::string field = explicit_ids ? absl::StrCat("job_ids[", i, "]") : "sweep_id";
    ASSIGN_OR_RETURN(std::optional<store::JobRow> job, store.FindJob(ids[i]));
    if (!job.has_value()) {
      return NotFoundJob(field, ids[i]);
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

law::FitRequest FitRequestOf(const v1::FitLawRequest& request) {
  law::FitRequest fit;
  fit.fit.residual =
      request.residual() == "abs" ? law::ResidualKind::kAbs : law::ResidualKind::kLog;
  fit.fit.delta = request.delta() > 0 ? request.delta() : 1e-3;
  fit.fit.starts = request.starts() > 0 ? request.starts() : 200;
  fit.fit.seed = request.seed();
  fit.fit.threads = 1;  // the coordinator's fit pool is one thread; keep it that way
  fit.fit.physical = !request.unconstrained();
  fit.bootstrap_resamples = request.bootstrap();
  fit.leave_largest_out = !request.skip_held_out();
  fit.select_minimum = !request.lowest_objective();
  return fit;
}

v1::HeldOutCheck HeldOutCheckOf(const law::FitReport& report) {
  v1::HeldOutCheck check;
  if (!report.extrapolation.has_value()) {
    check.set_skipped(report.extrapolation_error.empty() ? "not requested"
                                                         : report.extrapolation_error);
    return check;
  }
  const law::ExtrapolationResult& e = *report.extrapolation;
  check.set_held_out_nonzeros(e.held_out_nonzeros);
  check.set_fitted_runs(e.fitted_runs);
  if (e.fit.paper.has_value()) {
    *check.mutable_coefficients() = law::LawCoefficientsOf(*e.fit.paper);
  }
  check.set_mean_abs_relative_error(e.mean_abs_relative_error);
  check.set_max_abs_relative_error(e.max_abs_relative_error);
  check.set_lowest_objective_mean_abs_relative_error(e.lowest_objective_mean_abs_relative_error);
  check.set_lowest_objective_max_abs_relative_error(e.lowest_objective_max_abs_relative_error);
  check.set_minima(static_cast<int32_t>(e.fit.minima.size()));
  for (const law::PointResidual& p : e.held_out) {
    v1::HeldOutPoint* point = check.add_points();
    point->set_job_id(p.label.rfind("job ", 0) == 0 ? p.label.substr(4) : p.label);
    point->set_sparsity(p.sparsity);
    point->set_nonzeros(p.nonzeros);
    point->set_tokens(p.data);
    point->set_measured(p.measured);
    point->set_predicted(p.predicted);
    point->set_relative_error(p.relative_error);
  }
  return check;
}

void SetIntervals(const law::BootstrapResult& intervals, v1::FitLawResponse* response) {
  std::array<double, 7> low, high;
  for (int i = 0; i < 7; ++i) {
    low[i] = intervals.paper[i].low;
    high[i] = intervals.paper[i].high;
  }
  *response->mutable_lower() = law::LawCoefficientsOf(low);
  *response->mutable_upper() = law::LawCoefficientsOf(high);
  for (const law::PaperCoeffs& sample : intervals.samples) {
    *response->add_bootstrap_samples() = law::LawCoefficientsOf(sample);
  }
}

// Fits `inputs` (the final fit, its leave-largest-out check and optional bootstrap, through
// law::FitRunRecords as `law fit` does) and fills `response` (all but fit_id).
absl::Status RunFit(const v1::FitLawRequest& request, const FitInputs& inputs,
                    v1::FitLawResponse* response) {
  const law::Normalisation scales = law::DefaultNormalisation(inputs.runs);
  ASSIGN_OR_RETURN(law::FitReport report,
                   law::FitRunRecords(inputs.runs, scales, "tokens", 1.0, FitRequestOf(request)));
  const law::FitResult& fit = report.fit;
  if (!fit.paper.has_value()) {
    return absl::FailedPreconditionError(
        "the fitted optimum has no paper form (its data exponent term is not positive); "
        "try more runs or more starts");
  }
  *response->mutable_coefficients() = law::LawCoefficientsOf(*fit.paper);
  response->set_objective(fit.objective);
  response->set_starts(fit.starts);
  response->set_starts_within_1pct(fit.starts_within_1pct);
  response->set_rmse(fit.rmse);
  response->set_mean_relative_error(fit.mean_relative_error);
  response->set_runs(report.runs_fitted);
  response->set_minima(static_cast<int32_t>(fit.minima.size()));
  response->set_chosen_minimum(fit.chosen_minimum);
  *response->mutable_held_out() = HeldOutCheckOf(report);
  if (report.bootstrap.has_value()) {
    SetIntervals(*report.bootstrap, response);
  }
  for (const law::StructureFit& structure : report.structures) {
    *response->add_structures() = law::StructureRefitOf(structure);
  }
  return absl::OkStatus();
}

}  // namespace

void CoordinatorCore::FitLaw(v1::FitLawRequest request, v1::FitLawResponse* response, Done done) {
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
        const law::PaperCoeffs coeffs = law::PaperCoeffsOf(c);
        law::CostOptions cost;
        cost.model = request.cost() == "dense" ? law::CostModel::kDense : law::CostModel::kSparse;
        cost.tokens_per_data_unit = 1.0;  // sweeps measure D in tokens
        ASSIGN_OR_RETURN(
            law::OptimalSparsity best,
            law::FindOptimalSparsity(coeffs, request.nonzeros(), request.compute(), cost));
        response->set_sparsity(best.sparsity);
        response->set_loss(best.loss);
        response->set_tokens(best.data);
        return absl::OkStatus();
      },
      std::move(done));
}

}  // namespace sparsescale::coordinator
