#include "coordinator/core/job_rules.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include <cmath>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/sha256.h"
#include "common/status.h"
#include "spec/job_spec.h"

namespace sparsescale::coordinator {
namespace {

using sparsescale::v1::JobSpec;
using sparsescale::v1::StructureAxis;
using sparsescale::v1::SweepAxes;

absl::Status Invalid(const std::string& field, const std::string& problem) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", problem));
}

absl::Status PrefixStatus(const absl::Status& status, const std::string& prefix) {
  if (status.ok() || prefix.empty()) {
    return status;
  }
  return absl::Status(status.code(), absl::StrCat(prefix, std::string(status.message())));
}

absl::Status ValidateAxes(const SweepAxes& axes) {
  for (int i = 0; i < axes.nonzeros_size(); ++i) {
    if (axes.nonzeros(i) <= 0) {
      return Invalid(absl::StrCat("axes.nonzeros[", i, "]"),
                     absl::StrCat("must be > 0, got ", axes.nonzeros(i)));
    }
  }
  for (int i = 0; i < axes.sparsities_size(); ++i) {
    const double s = axes.sparsities(i);
    if (!(s >= 0 && s < 1)) {
      return Invalid(absl::StrCat("axes.sparsities[", i, "]"),
                     absl::StrFormat("must be in [0, 1), got %g", s));
    }
  }
  for (int i = 0; i < axes.tokens_size(); ++i) {
    if (axes.tokens(i) <= 0) {
      return Invalid(absl::StrCat("axes.tokens[", i, "]"),
                     absl::StrCat("must be > 0, got ", axes.tokens(i)));
    }
  }
  for (int i = 0; i < axes.structures_size(); ++i) {
    const StructureAxis& s = axes.structures(i);
    if (s.structure() == sparsescale::v1::SPARSITY_STRUCTURE_NM) {
      if (s.m() <= 0 || s.n() <= 0 || s.n() >= s.m()) {
        return Invalid(absl::StrCat("axes.structures[", i, "]"),
                       absl::StrFormat("n:m needs 0 < n < m, got %d:%d", s.n(), s.m()));
      }
    } else if (s.n() != 0 || s.m() != 0) {
      return Invalid(absl::StrCat("axes.structures[", i, "]"),
                     "n and m are only used with SPARSITY_STRUCTURE_NM");
    }
  }
  return absl::OkStatus();
}

std::string StructureLabel(const StructureAxis& s) {
  if (s.structure() == sparsescale::v1::SPARSITY_STRUCTURE_NM) {
    return absl::StrCat(s.n(), ":", s.m());
  }
  return "unstructured";
}

// Applies one cell's axis values to a copy of the base.
absl::StatusOr<SweepCell> MakeCell(const JobSpec& base, int64_t nonzeros, double sparsity,
                                   int64_t tokens, const StructureAxis& structure, uint64_t seed) {
  SweepCell cell;
  cell.spec = base;
  JobSpec& spec = cell.spec;
  const bool nm = structure.structure() == sparsescale::v1::SPARSITY_STRUCTURE_NM;
  const double s = nm ? 1.0 - static_cast<double>(structure.n()) / structure.m() : sparsity;
  spec.mutable_pruning()->set_structure(nm ? sparsescale::v1::SPARSITY_STRUCTURE_NM
                                           : sparsescale::v1::SPARSITY_STRUCTURE_UNSTRUCTURED);
  spec.mutable_pruning()->set_n(nm ? structure.n() : 0);
  spec.mutable_pruning()->set_m(nm ? structure.m() : 0);
  spec.mutable_pruning()->set_sparsity(s);
  if (nonzeros > 0) {
    const int32_t heads = std::max(1, spec.model().heads());
    const int32_t multiple = nm ? std::lcm(heads, structure.m()) : heads;
    spec.mutable_model()->set_width(
        WidthForNonzeros(nonzeros, s, std::max(1, spec.model().layers()), multiple));
  }
  spec.mutable_data()->set_tokens(tokens);
  spec.set_seed(seed);
  cell.label = absl::StrFormat("N=%d,S=%g,D=%d,%s,seed=%d", nonzeros, s, tokens,
                               StructureLabel(structure), seed);
  if (!base.name().empty()) {
    spec.set_name(absl::StrCat(base.name(), "/", cell.label));
  } else {
    spec.set_name(cell.label);
  }
  return cell;
}

}  // namespace

std::string DeterministicBytes(const google::protobuf::Message& message) {
  std::string bytes;
  google::protobuf::io::StringOutputStream stream(&bytes);
  google::protobuf::io::CodedOutputStream coded(&stream);
  coded.SetSerializationDeterministic(true);
  message.SerializeToCodedStream(&coded);
  coded.Trim();
  return bytes;
}

absl::StatusOr<PreparedJob> PrepareJob(const JobSpec& spec, const std::string& field_prefix) {
  PreparedJob job;
  job.spec = spec;
  spec::NormalizeJobSpec(&job.spec);
  RETURN_IF_ERROR(PrefixStatus(spec::ValidateJobSpec(job.spec), field_prefix));
  job.id = spec::CanonicalJobSpecHash(job.spec);
  job.total_steps = spec::TotalSteps(job.spec);
  job.requirements.device = job.spec.device();
  job.requirements.gpus = job.spec.gpus();
  job.requirements.memory_bytes = EstimateMemoryBytes(job.spec);
  job.requirements.ranks = spec::DataParallelRanks(job.spec);
  return job;
}

int64_t EstimateMemoryBytes(const JobSpec& spec) {
  const double d = spec.model().width();
  const double layers = spec.model().layers();
  const double context = spec.model().context();
  const double vocab = spec.model().has_vocab() ? spec.model().vocab() : 256;
  const double heads = spec.model().heads();
  const double batch = spec.data().batch_size();
  const double params = 12 * d * d * layers + vocab * d + context * d;
  // Per layer and token: about 16 d floats of activations plus the attention matrix.
  const double activations = batch * context * (layers * (16 * d + heads * context) + 2 * vocab);
  const double replicas = spec.device() == "cpu" ? spec::DataParallelRanks(spec) : 1;
  return static_cast<int64_t>(17 * params * replicas + 4 * activations);
}

int32_t WidthForNonzeros(int64_t nonzeros, double sparsity, int32_t layers, int32_t multiple) {
  const double exact =
      std::sqrt(static_cast<double>(nonzeros) / (12.0 * layers * std::max(1e-12, 1.0 - sparsity)));
  const double rounded = std::floor(exact / multiple + 0.5) * multiple;
  return static_cast<int32_t>(std::max<double>(multiple, rounded));
}

absl::StatusOr<std::vector<SweepCell>> ExpandSweep(const JobSpec& base, const SweepAxes& axes) {
  RETURN_IF_ERROR(ValidateAxes(axes));
  JobSpec normal = base;
  spec::NormalizeJobSpec(&normal);
  std::vector<int64_t> nonzeros(axes.nonzeros().begin(), axes.nonzeros().end());
  if (nonzeros.empty()) {
    nonzeros.push_back(0);  // keep the base width
  }
  std::vector<double> sparsities(axes.sparsities().begin(), axes.sparsities().end());
  if (sparsities.empty()) {
    sparsities.push_back(normal.pruning().sparsity());
  }
  std::vector<int64_t> tokens(axes.tokens().begin(), axes.tokens().end());
  if (tokens.empty()) {
    tokens.push_back(normal.data().tokens());
  }
  std::vector<StructureAxis> structures(axes.structures().begin(), axes.structures().end());
  if (structures.empty()) {
    StructureAxis s;
    s.set_structure(normal.pruning().structure());
    s.set_n(normal.pruning().n());
    s.set_m(normal.pruning().m());
    structures.push_back(s);
  }
  std::vector<uint64_t> seeds(axes.seeds().begin(), axes.seeds().end());
  if (seeds.empty()) {
    seeds.push_back(normal.seed());
  }
  const int64_t total = static_cast<int64_t>(nonzeros.size() * sparsities.size() * tokens.size() *
                                             structures.size() * seeds.size());
  if (total > kMaxSweepCells) {
    return Invalid(
        "axes", absl::StrCat("the sweep expands to ", total, " cells, more than ", kMaxSweepCells));
  }
  std::vector<SweepCell> cells;
  for (int64_t n : nonzeros) {
    for (double s : sparsities) {
      for (int64_t d : tokens) {
        for (const StructureAxis& st : structures) {
          const bool nm = st.structure() == sparsescale::v1::SPARSITY_STRUCTURE_NM;
          if (nm && s != sparsities.front()) {
            continue;  // n:m fixes S; one cell per (N, D, pattern, seed)
          }
          for (uint64_t seed : seeds) {
            ASSIGN_OR_RETURN(SweepCell cell, MakeCell(normal, n, s, d, st, seed));
            cells.push_back(std::move(cell));
          }
        }
      }
    }
  }
  return cells;
}

std::string SweepId(const JobSpec& base, const SweepAxes& axes) {
  JobSpec normal = base;
  spec::NormalizeJobSpec(&normal);
  normal.clear_name();
  return Sha256Hex(DeterministicBytes(normal) + "\n" + DeterministicBytes(axes));
}

}  // namespace sparsescale::coordinator
