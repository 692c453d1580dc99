#include "client/study_config.h"

#include <google/protobuf/util/json_util.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"

namespace sparsescale::client {

namespace v1 = sparsescale::v1;
using nlohmann::json;

absl::StatusOr<v1::CreateSweepRequest> ParseSweepJson(const std::string& text) {
  v1::CreateSweepRequest request;
  google::protobuf::util::JsonParseOptions options;  // unknown fields are errors
  auto status = google::protobuf::util::JsonStringToMessage(text, &request, options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("sweep file: ", status.message().ToString()));
  }
  if (request.name().empty()) {
    return absl::InvalidArgumentError("sweep file: name: must not be empty");
  }
  if (request.axes().nonzeros().empty()) {
    return absl::InvalidArgumentError("sweep file: axes.nonzeros: must list at least one size");
  }
  return request;
}

namespace {

absl::Status ParsePrepare(const json& p, StudyConfig* config) {
  for (const auto& [key, value] : p.items()) {
    if (key == "inputs" && value.is_array()) {
      for (const json& input : value) {
        if (!input.is_string()) {
          return absl::InvalidArgumentError("study file: prepare.inputs: must be file names");
        }
        config->prepare_inputs.push_back(input.get<std::string>());
      }
    } else if (key == "out_dir" && value.is_string()) {
      config->prepare_out_dir = value.get<std::string>();
    } else if (key == "eval_fraction" && value.is_number()) {
      config->eval_fraction = value.get<double>();
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("study file: prepare.", key, ": unknown field or wrong type"));
    }
  }
  if (!config->prepare_inputs.empty() && config->prepare_out_dir.empty()) {
    return absl::InvalidArgumentError("study file: prepare.out_dir: required with inputs");
  }
  if (config->eval_fraction <= 0 || config->eval_fraction >= 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "study file: prepare.eval_fraction: must be in (0, 1), got ", config->eval_fraction));
  }
  return absl::OkStatus();
}

absl::Status ParseFit(const json& f, StudyConfig* config) {
  for (const auto& [key, value] : f.items()) {
    if (key == "starts" && value.is_number_integer() && value.get<int>() > 0) {
      config->fit_starts = value.get<int>();
    } else if (key == "residual" && value.is_string() && (value == "log" || value == "abs")) {
      config->fit_residual = value.get<std::string>();
    } else if (key == "bootstrap" && value.is_number_integer() && value.get<int>() >= 0) {
      config->fit_bootstrap = value.get<int>();
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("study file: fit.", key, ": unknown field or bad value"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<StudyConfig> ParseStudyJson(const std::string& text) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError("study file: not a JSON object");
  }
  StudyConfig config;
  if (j.contains("prepare")) {
    if (!j["prepare"].is_object()) {
      return absl::InvalidArgumentError("study file: prepare: must be an object");
    }
    if (absl::Status s = ParsePrepare(j["prepare"], &config); !s.ok()) {
      return s;
    }
    j.erase("prepare");
  }
  if (j.contains("fit")) {
    if (!j["fit"].is_object()) {
      return absl::InvalidArgumentError("study file: fit: must be an object");
    }
    if (absl::Status s = ParseFit(j["fit"], &config); !s.ok()) {
      return s;
    }
    j.erase("fit");
  }
  absl::StatusOr<v1::CreateSweepRequest> sweep = ParseSweepJson(j.dump());
  if (!sweep.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("study file: ", sweep.status().message().substr(12)));
  }
  config.sweep = *std::move(sweep);
  return config;
}

void AbsolutizePaths(v1::JobSpec* spec) {
  auto absolute = [](std::string* path) {
    if (!path->empty() && (*path)[0] != '/') {
      *path = (std::filesystem::current_path() / *path).lexically_normal().string();
    }
  };
  // With a dataset, shards are names inside it (resolved on the worker, in its cache).
  if (spec->data().dataset().empty()) {
    for (std::string& p : *spec->mutable_data()->mutable_train_shards()) {
      absolute(&p);
    }
    for (std::string& p : *spec->mutable_data()->mutable_eval_shards()) {
      absolute(&p);
    }
  }
  absolute(spec->mutable_pruning()->mutable_init_checkpoint());
}

int CountSweepCells(const v1::SweepAxes& axes) {
  int structures = 0;
  int unstructured = axes.structures().empty() ? 1 : 0;
  for (const v1::StructureAxis& s : axes.structures()) {
    if (s.structure() == v1::SPARSITY_STRUCTURE_NM) {
      ++structures;
    } else {
      unstructured = 1;
    }
  }
  int sparsities = unstructured * std::max(1, axes.sparsities_size()) + structures;
  return axes.nonzeros_size() * sparsities * std::max(1, axes.tokens_size()) *
         std::max(1, axes.seeds_size());
}

}  // namespace sparsescale::client
