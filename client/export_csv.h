// CSV export of a sweep: every loss point of every job, and one summary row per finished job
// in the column layout `sparsescale law fit FILE` reads (law/run_io.h):
//   job_id,sweep_id,structure,n,m,sparsity,nonzeros,tokens,final_eval_loss
// `structure` is "dense" (S = 0), "unstructured" or "nm"; `nonzeros` follows the paper's
// convention 12 * width^2 * layers * (1 - S); `tokens` is the number trained (steps * batch *
// context). Pure functions; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "sparsescale/v1/coordinator.pb.h"

namespace sparsescale::client {

inline constexpr char kSummaryCsvHeader[] =
    "job_id,sweep_id,structure,n,m,sparsity,nonzeros,tokens,final_eval_loss\n";

// "job_id,sweep_id," and the loss point's columns (spec/loss_point_codec.h), with a newline.
std::string PointsCsvHeader();

// Appends one row per point (header not included).
void AppendPointsCsv(const sparsescale::v1::Job& job,
                     const std::vector<sparsescale::v1::LossPoint>& points, std::string* out);

struct SummaryRow {
  std::string job_id;
  std::string sweep_id;
  std::string structure;  // "dense", "unstructured" or "nm"
  int n = 0;
  int m = 0;
  double sparsity = 0;
  double nonzeros = 0;
  double tokens = 0;
  double final_eval_loss = 0;
};

// The summary of a SUCCEEDED job with a final eval loss; nullopt for any other job.
std::optional<SummaryRow> JobSummaryRow(const sparsescale::v1::Job& job);

// Header plus one row per job that has a summary.
std::string SummaryCsv(const std::vector<sparsescale::v1::Job>& jobs);

}  // namespace sparsescale::client
