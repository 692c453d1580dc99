// The law part of a study's report, built from a FitLawResponse: the leave-largest-out check
// cell by cell, S_opt with its bootstrap interval, and the SVG figures written next to the CSVs.
// Pure functions except WriteStudyFigures (which writes files); thread-safe.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "law/run_record.h"
#include "law/scaling_law.h"
#include "sparsescale/v1/coordinator.pb.h"

namespace sparsescale::client {

// The bootstrap resamples' coefficients stored with a fit (empty without a bootstrap).
std::vector<law::PaperCoeffs> BootstrapSamplesOf(const sparsescale::v1::FitLawResponse& fit);

// The check as text: a summary line and one row per held-out cell (measured, predicted,
// relative error); or why it was skipped.
std::string FormatHeldOutCheck(const sparsescale::v1::HeldOutCheck& check);

// One line for the end of a study: "held-out check (N = 2.5e+04, 8 cells): mean |error| 1.2%,
// worst 2.9%", or why it was skipped.
std::string HeldOutSummaryLine(const sparsescale::v1::HeldOutCheck& check);

// The per-structure refits as a table: each n:m pattern with its equivalent unstructured
// sparsity and its family's refitted sparsity term; "" when the fit has no n:m runs.
std::string FormatStructureRefits(const sparsescale::v1::FitLawResponse& fit);

// "0.330 [0.210, 0.470]" (S_opt and its 95% bootstrap interval, sparse cost, D in tokens), or
// "0.330" when there are no samples or no sample gives a value.
std::string SparsityWithInterval(const law::PaperCoeffs& law,
                                 const std::vector<law::PaperCoeffs>& samples, double nonzeros,
                                 double compute);

// The succeeded dense and unstructured jobs with a final eval loss, as the main fit sees them.
std::vector<law::RunRecord> RunsOfJobs(const std::vector<sparsescale::v1::Job>& jobs);

// Writes loss_vs_nonzeros.svg (runs, fitted law, held-out cells marked) and
// sparsity_contours.svg (S_opt contours with the bootstrap band) into `dir` and appends their
// paths to `written`. Internal error naming the path when a file cannot be written.
absl::Status WriteStudyFigures(const sparsescale::v1::FitLawResponse& fit,
                               const std::vector<sparsescale::v1::Job>& jobs,
                               const std::string& dir, std::vector<std::string>* written);

}  // namespace sparsescale::client
