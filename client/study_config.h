// Input files of the sweep and study commands. A sweep file is a CreateSweepRequest in JSON
// ({name, base: JobSpec, axes: SweepAxes, priority, max_attempts}); a study file is a sweep file
// plus how to prepare the corpus and fit the law:
//
//   {"name": "study", "base": {...}, "axes": {...},
//    "prepare": {"inputs": ["data/corpus/web.txt"], "out_dir": "data/shards/web",
//                "eval_fraction": 0.05},
//    "fit": {"starts": 200, "residual": "log", "bootstrap": 0}}
//
// Unknown fields are errors that name the field. Pure functions; thread-safe.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "sparsescale/v1/coordinator.pb.h"

namespace sparsescale::client {

// Parses a sweep file's text. InvalidArgument naming the field on any problem.
absl::StatusOr<sparsescale::v1::CreateSweepRequest> ParseSweepJson(const std::string& text);

struct StudyConfig {
  sparsescale::v1::CreateSweepRequest sweep;
  // Corpus preparation: text files turned into byte-level shards in out_dir; when inputs is
  // empty the base spec's own shards are used as they are.
  std::vector<std::string> prepare_inputs;
  std::string prepare_out_dir;
  double eval_fraction = 0.05;
  // Law fit.
  int fit_starts = 200;
  std::string fit_residual = "log";
  int fit_bootstrap = 0;
};

absl::StatusOr<StudyConfig> ParseStudyJson(const std::string& text);

// Makes the spec's relative shard patterns (unless it names a data.dataset, whose shards are
// names inside the dataset) and init checkpoint absolute against the current directory, so
// that workers started elsewhere find them.
void AbsolutizePaths(sparsescale::v1::JobSpec* spec);

// The number of jobs a sweep expands to (nonzeros x sparsities x tokens x seeds, with n:m
// structures counting once per pattern), for progress displays before the coordinator answers.
int CountSweepCells(const sparsescale::v1::SweepAxes& axes);

}  // namespace sparsescale::client
