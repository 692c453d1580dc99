// Reading run records from files. Three formats are recognised from their content:
//
// - the released T5 file (`t5-c4.csv`: columns sparsity, scale, val-loss, steps);
// - the released ViT file (`vit-jft.json`: pandas column orientation with keys scale, sparsity,
//   total_examples, val-loss);
// - sparsescale's own export, a CSV with a header naming at least
//   job_id, sweep_id, structure, n, m, sparsity, nonzeros, tokens, final_eval_loss
//   in any order (extra columns are ignored). `structure` is "dense", "unstructured" or "nm"
//   (n:m pattern given by the n and m columns); D is tokens.
//
// For the released files N follows the paper convention N = PARAM_COUNT * scale * (1 - S), with
// PARAM_COUNT = 169,869,312 (T5) or 84,934,656 (ViT), and the paper's normalisation
// N' = N / 1e6, D' = steps / 1e5 (T5) or images / 1e9 (ViT). For the own export N is the
// exporter's `nonzeros` and d_scale defaults to the power of ten nearest the geometric mean of D.
// Stateless functions; thread-safe.
#pragma once

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "law/run_record.h"

namespace sparsescale::law {

inline constexpr double kT5ParamCount = 169'869'312;  // 24 layers x 12 x 768^2
inline constexpr double kVitParamCount = 84'934'656;  // 12 layers x 12 x 768^2

// The column names of sparsescale's own CSV export, in the order the exporter writes them.
inline constexpr const char* kExportColumns[] = {"job_id",   "sweep_id", "structure",
                                                 "n",        "m",        "sparsity",
                                                 "nonzeros", "tokens",   "final_eval_loss"};

// Parses `text` in whichever of the three formats it is. Returns InvalidArgument naming the
// row and field of the first bad value or the missing column; runs are validated.
absl::StatusOr<RunSet> ParseRuns(const std::string& text);

// Reads and parses a file; NotFound when it cannot be opened. `d_scale`, when given, overrides
// the format's default D normalisation.
absl::StatusOr<RunSet> LoadRuns(const std::string& path,
                                std::optional<double> d_scale = std::nullopt);

// N' = N / 1e6 and D' = D / (the power of ten nearest the geometric mean of D): the
// normalisation used for runs that have no paper convention (sparsescale's own sweeps).
Normalisation DefaultNormalisation(const std::vector<RunRecord>& runs);

// Writes runs in sparsescale's own CSV export format (header first).
std::string FormatExportCsv(const std::vector<RunRecord>& runs);

}  // namespace sparsescale::law
