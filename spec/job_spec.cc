#include "spec/job_spec.h"

#include <fnmatch.h>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/sha256.h"
#include "common/status.h"

namespace sparsescale::spec {
namespace {

using sparsescale::v1::JobSpec;

absl::Status Invalid(const std::string& field, const std::string& problem) {
  return absl::InvalidArgumentError(field + ": " + problem);
}

// "must be > 0, got -3" style checks; NaN fails every comparison and is rejected too.
absl::Status Positive(const std::string& field, double value) {
  if (!(value > 0) || !std::isfinite(value)) {
    return Invalid(field, absl::StrCat("must be > 0, got ", value));
  }
  return absl::OkStatus();
}

absl::Status InRange(const std::string& field, double value, double lo, double hi, bool hi_open) {
  const bool ok = value >= lo && (hi_open ? value < hi : value <= hi);
  if (!ok) {
    return Invalid(
        field, absl::StrFormat("must be in [%g, %g%s, got %g", lo, hi, hi_open ? ")" : "]", value));
  }
  return absl::OkStatus();
}

absl::Status ValidateModel(const sparsescale::v1::ModelSpec& m) {
  RETURN_IF_ERROR(Positive("model.layers", m.layers()));
  RETURN_IF_ERROR(Positive("model.width", m.width()));
  RETURN_IF_ERROR(Positive("model.heads", m.heads()));
  RETURN_IF_ERROR(Positive("model.context", m.context()));
  if (m.width() % m.heads() != 0) {
    return Invalid("model.width", absl::StrFormat("must be divisible by model.heads (%d), got %d",
                                                  m.heads(), m.width()));
  }
  if (m.vocab() < 2 || m.vocab() > 65536) {
    return Invalid("model.vocab", absl::StrCat("must be in [2, 65536], got ", m.vocab()));
  }
  return absl::OkStatus();
}

absl::Status ValidateData(const JobSpec& spec) {
  const auto& d = spec.data();
  if (!d.dataset().empty()) {
    // Shards are names inside the dataset (globs allowed); none means every file.
    if (!IsSha256Hex(d.dataset())) {
      RETURN_IF_ERROR(ValidateDatasetName(d.dataset(), "data.dataset"));
    }
    for (int i = 0; i < d.train_shards_size() + d.eval_shards_size(); ++i) {
      const bool train = i < d.train_shards_size();
      const std::string& p = train ? d.train_shards(i) : d.eval_shards(i - d.train_shards_size());
      const std::string field = absl::StrCat(
          train ? "data.train_shards[" : "data.eval_shards[",
          train ? i : i - d.train_shards_size(), "]");
      if (p.empty() || p[0] == '/' || p == ".." || p.rfind("../", 0) == 0 ||
          p.find("/../") != std::string::npos) {
        return Invalid(field, absl::StrCat("with data.dataset, shards are file names inside the "
                                           "dataset (relative, no \"..\"), got \"", p, "\""));
      }
    }
  } else if (d.train_shards().empty()) {
    return Invalid("data.train_shards",
                   "at least one shard (or glob pattern) is required (or name a data.dataset)");
  }
  for (const std::string& p : d.train_shards()) {
    if (p.empty()) {
      return Invalid("data.train_shards", "empty path");
    }
  }
  for (const std::string& p : d.eval_shards()) {
    if (p.empty()) {
      return Invalid("data.eval_shards", "empty path");
    }
  }
  RETURN_IF_ERROR(Positive("data.batch_size", d.batch_size()));
  RETURN_IF_ERROR(Positive("data.tokens", static_cast<double>(d.tokens())));
  const int64_t step_tokens = int64_t{d.batch_size()} * spec.model().context();
  if (d.tokens() < step_tokens) {
    return Invalid(
        "data.tokens",
        absl::StrFormat("budget %d is smaller than one step (batch_size %d x "
                        "context %d = %d tokens)",
                        d.tokens(), d.batch_size(), spec.model().context(), step_tokens));
  }
  if (d.eval_shards().empty()) {
    RETURN_IF_ERROR(InRange("data.eval_fraction", d.eval_fraction(), 0, 1, true));
    if (d.eval_fraction() <= 0) {
      return Invalid("data.eval_fraction", "must be > 0 when data.eval_shards is empty");
    }
  } else if (d.eval_fraction() != 0) {
    return Invalid("data.eval_fraction", "must be unset or 0 when data.eval_shards is given");
  }
  RETURN_IF_ERROR(Positive("data.eval_interval_steps", d.eval_interval_steps()));
  return Positive("data.eval_batches", d.eval_batches());
}

absl::Status ValidateOptim(const sparsescale::v1::OptimSpec& o) {
  RETURN_IF_ERROR(Positive("optim.lr", o.lr()));
  RETURN_IF_ERROR(InRange("optim.warmup_fraction", o.warmup_fraction(), 0, 1, false));
  RETURN_IF_ERROR(InRange("optim.min_lr_fraction", o.min_lr_fraction(), 0, 1, false));
  RETURN_IF_ERROR(InRange("optim.weight_decay", o.weight_decay(), 0, 1e6, false));
  RETURN_IF_ERROR(InRange("optim.beta1", o.beta1(), 0, 1, true));
  RETURN_IF_ERROR(InRange("optim.beta2", o.beta2(), 0, 1, true));
  RETURN_IF_ERROR(Positive("optim.eps", o.eps()));
  RETURN_IF_ERROR(InRange("optim.grad_clip", o.grad_clip(), 0, 1e30, false));
  if (o.has_lr_reference_width()) {
    RETURN_IF_ERROR(Positive("optim.lr_reference_width", o.lr_reference_width()));
  }
  if (o.has_lr_width_power()) {
    if (!o.has_lr_reference_width()) {
      return Invalid("optim.lr_width_power", "needs optim.lr_reference_width");
    }
    RETURN_IF_ERROR(InRange("optim.lr_width_power", o.lr_width_power(), 0, 4, false));
  }
  return absl::OkStatus();
}

absl::Status ValidatePruning(const JobSpec& spec) {
  const auto& p = spec.pruning();
  RETURN_IF_ERROR(InRange("pruning.sparsity", p.sparsity(), 0, 1, true));
  if (p.structure() == sparsescale::v1::SPARSITY_STRUCTURE_NM) {
    if (p.m() <= 0) {
      return Invalid("pruning.m", absl::StrCat("must be > 0 for n:m pruning, got ", p.m()));
    }
    if (p.n() <= 0 || p.n() >= p.m()) {
      return Invalid("pruning.n",
                     absl::StrFormat("must satisfy 0 < n < m (m = %d), got %d", p.m(), p.n()));
    }
    const double implied = 1.0 - static_cast<double>(p.n()) / p.m();
    if (std::abs(p.sparsity() - implied) > 1e-9) {
      return Invalid("pruning.sparsity",
                     absl::StrFormat("must be 1 - n/m = %g for %d:%d pruning, got %g", implied,
                                     p.n(), p.m(), p.sparsity()));
    }
    if (spec.model().width() % p.m() != 0) {
      return Invalid("model.width",
                     absl::StrFormat("must be divisible by pruning.m (%d) so every weight row "
                                     "splits into n:m groups, got %d",
                                     p.m(), spec.model().width()));
    }
  } else if (p.n() != 0 || p.m() != 0) {
    return Invalid("pruning.n", "n and m are only used with structure SPARSITY_STRUCTURE_NM");
  }
  RETURN_IF_ERROR(InRange("pruning.start_fraction", p.start_fraction(), 0, 1, false));
  RETURN_IF_ERROR(InRange("pruning.end_fraction", p.end_fraction(), p.start_fraction(), 1, false));
  RETURN_IF_ERROR(Positive("pruning.power", p.power()));
  return Positive("pruning.update_interval_steps", p.update_interval_steps());
}

absl::Status ValidateRun(const JobSpec& spec) {
  if (spec.device() != "auto" && spec.device() != "cpu" && spec.device() != "cuda") {
    return Invalid("device", "must be one of auto, cpu, cuda; got \"" + spec.device() + "\"");
  }
  RETURN_IF_ERROR(InRange("gpus", spec.gpus(), 0, 1024, false));
  if (spec.device() == "cpu" && spec.gpus() > 1) {
    return Invalid("gpus",
                   "must be 0 or 1 for device \"cpu\" (CPU data parallelism uses "
                   "processes), got " +
                       std::to_string(spec.gpus()));
  }
  if (spec.has_processes()) {
    RETURN_IF_ERROR(InRange("processes", spec.processes(), 1, 1024, false));
    if (spec.device() != "cpu" && spec.processes() != 1) {
      return Invalid("processes", "only for device \"cpu\" (CUDA and auto jobs use gpus), got " +
                                      std::to_string(spec.processes()) + " with device \"" +
                                      spec.device() + "\"");
    }
  }
  const int ranks = DataParallelRanks(spec);
  if (spec.data().batch_size() % ranks != 0) {
    return Invalid(
        "data.batch_size",
        absl::StrFormat("must be divisible by the %d data-parallel ranks (%s), got %d", ranks,
                        spec.device() == "cpu" ? "processes" : "gpus", spec.data().batch_size()));
  }
  RETURN_IF_ERROR(Positive("log_interval_steps", spec.log_interval_steps()));
  RETURN_IF_ERROR(InRange("threads", spec.threads(), 1, 1024, false));
  RETURN_IF_ERROR(
      InRange("checkpoint.interval_steps", spec.checkpoint().interval_steps(), 0, 1e9, false));
  return InRange("checkpoint.keep_last", spec.checkpoint().keep_last(), 0, 1e9, false);
}

absl::StatusOr<std::string> ReadFileToString(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(path + ": cannot open: " + std::strerror(errno));
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) {
    return absl::DataLossError(path + ": read error");
  }
  return ss.str();
}

}  // namespace

absl::StatusOr<JobSpec> ParseJobSpecJson(const std::string& json) {
  JobSpec spec;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  auto status = google::protobuf::util::JsonStringToMessage(json, &spec, options);
  if (!status.ok()) {
    return absl::InvalidArgumentError("job config: " + status.message().ToString());
  }
  return spec;
}

absl::StatusOr<JobSpec> ReadJobSpecFile(const std::string& path) {
  ASSIGN_OR_RETURN(std::string json, ReadFileToString(path));
  auto spec = ParseJobSpecJson(json);
  if (!spec.ok()) {
    return absl::InvalidArgumentError(path + ": " + std::string(spec.status().message()));
  }
  return spec;
}

std::string JobSpecToJson(const JobSpec& spec) {
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  std::string json;
  auto status = google::protobuf::util::MessageToJsonString(spec, &json, options);
  SS_CHECK(status.ok());
  return json;
}

int64_t TotalSteps(const JobSpec& spec) {
  const int64_t step_tokens = int64_t{spec.data().batch_size()} * spec.model().context();
  return step_tokens > 0 ? spec.data().tokens() / step_tokens : 0;
}

int64_t TrainedTokens(const JobSpec& spec) {
  return TotalSteps(spec) * spec.data().batch_size() * spec.model().context();
}

int DataParallelRanks(const JobSpec& spec) {
  if (spec.device() == "cpu") {
    return spec.has_processes() ? std::max(1, spec.processes()) : 1;
  }
  return std::max(1, spec.gpus());
}

void NormalizeJobSpec(JobSpec* spec) {
  auto* model = spec->mutable_model();
  if (!model->has_vocab()) {
    model->set_vocab(256);
  }
  auto* data = spec->mutable_data();
  if (!data->has_eval_fraction()) {
    data->set_eval_fraction(data->eval_shards().empty() ? 0.05 : 0.0);
  }
  const int64_t steps = std::max<int64_t>(1, TotalSteps(*spec));
  if (!data->has_eval_interval_steps()) {
    data->set_eval_interval_steps(static_cast<int32_t>(std::max<int64_t>(1, steps / 10)));
  }
  if (!data->has_eval_batches()) {
    data->set_eval_batches(8);
  }
  auto* optim = spec->mutable_optim();
  if (!optim->has_lr()) {
    optim->set_lr(1e-3);
  }
  if (!optim->has_warmup_fraction()) {
    optim->set_warmup_fraction(0.05);
  }
  if (optim->schedule() == sparsescale::v1::LR_SCHEDULE_UNSPECIFIED) {
    optim->set_schedule(sparsescale::v1::LR_SCHEDULE_COSINE);
  }
  if (!optim->has_min_lr_fraction()) {
    optim->set_min_lr_fraction(0.1);
  }
  if (!optim->has_weight_decay()) {
    optim->set_weight_decay(0.1);
  }
  if (!optim->has_beta1()) {
    optim->set_beta1(0.9);
  }
  if (!optim->has_beta2()) {
    optim->set_beta2(0.95);
  }
  if (!optim->has_eps()) {
    optim->set_eps(1e-8);
  }
  if (!optim->has_grad_clip()) {
    optim->set_grad_clip(1.0);
  }
  if (optim->has_lr_reference_width() && !optim->has_lr_width_power()) {
    optim->set_lr_width_power(1.0);
  }
  auto* pruning = spec->mutable_pruning();
  if (pruning->structure() == sparsescale::v1::SPARSITY_STRUCTURE_UNSPECIFIED) {
    pruning->set_structure(sparsescale::v1::SPARSITY_STRUCTURE_UNSTRUCTURED);
  }
  if (pruning->structure() == sparsescale::v1::SPARSITY_STRUCTURE_NM && pruning->sparsity() == 0 &&
      pruning->m() > 0 && pruning->n() > 0 && pruning->n() < pruning->m()) {
    pruning->set_sparsity(1.0 - static_cast<double>(pruning->n()) / pruning->m());
  }
  if (!pruning->has_start_fraction()) {
    pruning->set_start_fraction(0.25);
  }
  if (!pruning->has_end_fraction()) {
    pruning->set_end_fraction(0.75);
  }
  if (!pruning->has_power()) {
    pruning->set_power(3.0);
  }
  if (!pruning->has_update_interval_steps()) {
    pruning->set_update_interval_steps(100);
  }
  if (pruning->embedding() == sparsescale::v1::EMBEDDING_PRUNING_UNSPECIFIED) {
    pruning->set_embedding(sparsescale::v1::EMBEDDING_PRUNING_SQRT);
  }
  auto* ckpt = spec->mutable_checkpoint();
  if (!ckpt->has_interval_steps()) {
    ckpt->set_interval_steps(static_cast<int32_t>(std::max<int64_t>(1, steps / 4)));
  }
  if (!ckpt->has_keep_last()) {
    ckpt->set_keep_last(2);
  }
  if (spec->device().empty()) {
    spec->set_device("auto");
  }
  if (!spec->has_gpus()) {
    spec->set_gpus(spec->device() == "cpu" ? 0 : 1);
  }
  if (!spec->has_log_interval_steps()) {
    spec->set_log_interval_steps(1);
  }
  if (!spec->has_threads()) {
    spec->set_threads(1);
  }
}

absl::Status ValidateJobSpec(const JobSpec& spec) {
  RETURN_IF_ERROR(ValidateModel(spec.model()));
  RETURN_IF_ERROR(ValidateData(spec));
  RETURN_IF_ERROR(ValidateOptim(spec.optim()));
  RETURN_IF_ERROR(ValidatePruning(spec));
  return ValidateRun(spec);
}

std::string CanonicalJobSpecHash(const JobSpec& spec) {
  JobSpec canonical = spec;
  NormalizeJobSpec(&canonical);
  canonical.clear_name();
  canonical.clear_device();
  canonical.clear_gpus();
  canonical.clear_processes();
  canonical.clear_threads();
  canonical.clear_checkpoint();
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    canonical.SerializeToCodedStream(&coded);
  }
  return sparsescale::Sha256Hex(bytes);
}

namespace {

bool DatasetChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

}  // namespace

absl::Status ValidateDatasetName(const std::string& name, const std::string& field) {
  if (name.empty()) {
    return Invalid(field, "required");
  }
  if (name.size() > 128) {
    return Invalid(field, absl::StrCat("longer than 128 characters (", name.size(), ")"));
  }
  if (!std::all_of(name.begin(), name.end(), DatasetChar) || name[0] == '.' || name[0] == '_' ||
      name[0] == '-') {
    return Invalid(field, absl::StrCat("\"", name,
                                       "\" must be letters, digits, '.', '_' or '-', starting "
                                       "with a letter or digit"));
  }
  if (IsSha256Hex(name)) {
    return Invalid(field, "64 hex digits is a dataset hash, not a name");
  }
  return absl::OkStatus();
}

absl::Status ValidateDatasetFileName(const std::string& name, const std::string& field) {
  if (name.empty() || name.size() > 256) {
    return Invalid(field, absl::StrCat("must be 1 to 256 characters, got ", name.size()));
  }
  size_t start = 0;
  while (start <= name.size()) {
    size_t end = name.find('/', start);
    if (end == std::string::npos) {
      end = name.size();
    }
    const std::string part = name.substr(start, end - start);
    if (part.empty() || part == "." || part == ".." ||
        !std::all_of(part.begin(), part.end(), DatasetChar)) {
      return Invalid(field, absl::StrCat("\"", name,
                                         "\": must be '/'-separated parts of letters, digits, "
                                         "'.', '_' or '-' (no empty, \".\" or \"..\" part)"));
    }
    start = end + 1;
  }
  return absl::OkStatus();
}

absl::StatusOr<JobSpec> ResolveDatasetShards(const JobSpec& spec, const std::string& files_dir) {
  namespace fs = std::filesystem;
  JobSpec resolved = spec;
  auto* data = resolved.mutable_data();
  const fs::path root(files_dir);
  for (std::string& p : *data->mutable_eval_shards()) {
    p = (root / p).string();
  }
  if (data->train_shards().empty()) {
    std::vector<std::string> files;
    std::error_code ec;
    for (fs::recursive_directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
      if (!it->is_regular_file()) {
        continue;
      }
      const std::string path = it->path().string();
      bool eval = false;
      for (const std::string& pattern : data->eval_shards()) {
        eval = eval || ::fnmatch(pattern.c_str(), path.c_str(), FNM_PATHNAME) == 0;
      }
      if (!eval) {
        files.push_back(path);
      }
    }
    if (ec || files.empty()) {
      return Invalid("data.dataset", absl::StrCat("no training file under ", files_dir,
                                                  ec ? ": " + ec.message() : std::string()));
    }
    std::sort(files.begin(), files.end());
    for (const std::string& f : files) {
      data->add_train_shards(f);
    }
  } else {
    for (std::string& p : *data->mutable_train_shards()) {
      p = (root / p).string();
    }
  }
  return resolved;
}

}  // namespace sparsescale::spec
