// The JobSpec rules shared by the trainer, the worker daemon, the CLI and the coordinator:
// parsing a JSON config, filling documented defaults, validating, and the canonical hash that
// names a sweep cell. Target sparsescale_spec: protobuf and common/ only (no kernels, no
// trainer), so the coordinator links the rules without the trainer. The checks that read the
// files a spec names live with the trainer (worker/trainer/job_inputs.h).
// Pure functions (no file access except ReadJobSpecFile); thread-safe.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sparsescale/v1/job.pb.h"

namespace sparsescale::spec {

// Parses a JSON JobSpec (protobuf JSON mapping; unknown fields are an InvalidArgument naming
// the field). Does not normalise or validate.
absl::StatusOr<sparsescale::v1::JobSpec> ParseJobSpecJson(const std::string& json);

// Reads and parses a JSON config file (NotFound when it cannot be read; the message names it).
absl::StatusOr<sparsescale::v1::JobSpec> ReadJobSpecFile(const std::string& path);

// The spec as JSON (proto field names, every field printed), e.g. for checkpoint metadata.
std::string JobSpecToJson(const sparsescale::v1::JobSpec& spec);

// Fills every unset optional field with its documented default (see job.proto) and resolves
// enum UNSPECIFIED values, so two specs that mean the same job compare and hash equal.
// For n:m pruning with sparsity 0, sparsity becomes 1 - n/m. Idempotent.
void NormalizeJobSpec(sparsescale::v1::JobSpec* spec);

// Checks a NORMALISED spec without touching files. InvalidArgument naming the field (e.g.
// "model.width: must be divisible by model.heads (8), got 100").
absl::Status ValidateJobSpec(const sparsescale::v1::JobSpec& spec);

// Datasets (data.dataset; docs/DEPLOY.md "Datasets"). A dataset name: 1 to 128 of letters,
// digits, '.', '_', '-', starting with a letter or digit, and not 64 hex digits (that is a
// hash). A file name inside a dataset: '/'-separated components of those characters, none
// empty, "." or "..", at most 256 characters. InvalidArgument naming `field` otherwise.
absl::Status ValidateDatasetName(const std::string& name, const std::string& field);
absl::Status ValidateDatasetFileName(const std::string& name, const std::string& field);
// For a spec naming data.dataset whose files are under `files_dir` (a worker's dataset cache):
// the spec with every shard name made a path under files_dir (globs kept), and an empty
// train_shards replaced by every file under files_dir that no eval_shards pattern matches,
// sorted. The dataset field stays: the result is for reading data only, never for hashing.
// InvalidArgument naming data.dataset when files_dir holds no file.
absl::StatusOr<sparsescale::v1::JobSpec> ResolveDatasetShards(
    const sparsescale::v1::JobSpec& spec, const std::string& files_dir);

// Derived quantities of a normalised, valid spec.
int64_t TotalSteps(const sparsescale::v1::JobSpec& spec);  // tokens / (batch * context)
// Tokens the run trains on: TotalSteps * batch * context (data.tokens rounded down to whole
// steps). The D of the scaling law, the same in the coordinator's fits and the CSV exports.
int64_t TrainedTokens(const sparsescale::v1::JobSpec& spec);
// Data-parallel ranks of a job: `processes` (unset: 1) for device "cpu", else max(1, gpus).
// data.batch_size is split evenly over them.
int DataParallelRanks(const sparsescale::v1::JobSpec& spec);

// Hex SHA-256 of the normalised spec serialised deterministically, with the fields that do
// not change what is trained cleared first: name, device, gpus, processes, threads,
// checkpoint. The coordinator uses it as the content address of a sweep cell (stored in existing
// databases, so it must never change); resume requires it to match.
std::string CanonicalJobSpecHash(const sparsescale::v1::JobSpec& spec);

}  // namespace sparsescale::spec
