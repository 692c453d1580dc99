#include "law/run_io.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "common/status.h"

namespace sparsescale::law {
namespace {

// The paper's D normalisations (Frantar et al. 2024).
constexpr double kT5StepScale = 1e5;
constexpr double kVitImageScale = 1e9;
constexpr double kT5TokensPerStep = 128 * 512;

struct CsvTable {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  std::vector<int> line_numbers;  // 1-based file line of each row
};

std::string Unquote(absl::string_view field) {
  field = absl::StripAsciiWhitespace(field);
  if (field.size() >= 2 && field.front() == '"' && field.back() == '"') {
    field = field.substr(1, field.size() - 2);
  }
  return std::string(field);
}

CsvTable SplitCsv(const std::string& text) {
  CsvTable table;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    if (absl::StripAsciiWhitespace(line).empty()) {
      continue;
    }
    std::vector<std::string> fields;
    for (absl::string_view field : absl::StrSplit(line, ',')) {
      fields.push_back(Unquote(field));
    }
    if (table.header.empty()) {
      table.header = std::move(fields);
    } else {
      table.rows.push_back(std::move(fields));
      table.line_numbers.push_back(line_number);
    }
  }
  return table;
}

// Index of each required column in the header, or an error naming the first missing one.
absl::StatusOr<std::map<std::string, size_t>> FindColumns(const std::vector<std::string>& header,
                                                          const std::vector<std::string>& required,
                                                          const std::string& format) {
  std::map<std::string, size_t> index;
  for (const std::string& name : required) {
    auto it = std::find(header.begin(), header.end(), name);
    if (it == header.end()) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s header: missing column '%s'", format, name));
    }
    index[name] = static_cast<size_t>(it - header.begin());
  }
  return index;
}

absl::StatusOr<double> ParseNumber(const std::string& text, const std::string& where,
                                   const std::string& field) {
  double value = 0;
  if (!absl::SimpleAtod(text, &value)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: field '%s' is not a number: '%s'", where, field, text));
  }
  return value;
}

// Reads one named numeric field of a CSV row.
class RowReader {
 public:
  RowReader(const std::vector<std::string>& row, const std::map<std::string, size_t>& columns,
            std::string where)
      : row_(row), columns_(columns), where_(std::move(where)) {}

  absl::StatusOr<std::string> Text(const std::string& field) const {
    const size_t column = columns_.at(field);
    if (column >= row_.size()) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: field '%s' is missing (row has %d fields)", where_, field, row_.size()));
    }
    return row_[column];
  }
  absl::StatusOr<double> Number(const std::string& field) const {
    ASSIGN_OR_RETURN(std::string text, Text(field));
    return ParseNumber(text, where_, field);
  }
  const std::string& where() const { return where_; }

 private:
  const std::vector<std::string>& row_;
  const std::map<std::string, size_t>& columns_;
  std::string where_;
};

absl::StatusOr<RunRecord> ParseT5Row(const RowReader& row) {
  RunRecord run;
  run.label = row.where();
  ASSIGN_OR_RETURN(run.sparsity, row.Number("sparsity"));
  ASSIGN_OR_RETURN(const double scale, row.Number("scale"));
  ASSIGN_OR_RETURN(run.loss, row.Number("val-loss"));
  ASSIGN_OR_RETURN(run.data, row.Number("steps"));
  if (!(scale > 0) || !std::isfinite(scale)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: field 'scale' must be finite and positive, got %g", run.label, scale));
  }
  run.nonzeros = kT5ParamCount * scale * (1.0 - run.sparsity);
  run.structure = run.sparsity == 0 ? "dense" : "unstructured";
  return run;
}

absl::StatusOr<RunSet> ParseT5Csv(const CsvTable& table) {
  ASSIGN_OR_RETURN(auto columns,
                   FindColumns(table.header, {"sparsity", "scale", "val-loss", "steps"}, "T5 CSV"));
  RunSet set;
  set.format = "t5-csv";
  set.data_unit = "steps";
  set.scales = Normalisation{1e6, kT5StepScale};
  set.tokens_per_data_unit = kT5TokensPerStep;
  for (size_t i = 0; i < table.rows.size(); ++i) {
    RowReader row(table.rows[i], columns, absl::StrFormat("line %d", table.line_numbers[i]));
    ASSIGN_OR_RETURN(RunRecord run, ParseT5Row(row));
    set.runs.push_back(std::move(run));
  }
  return set;
}

absl::Status ParseStructure(const RowReader& row, RunRecord& run) {
  ASSIGN_OR_RETURN(std::string structure, row.Text("structure"));
  ASSIGN_OR_RETURN(std::string n_text, row.Text("n"));
  ASSIGN_OR_RETURN(std::string m_text, row.Text("m"));
  structure = absl::AsciiStrToLower(structure);
  if (structure == "dense" || structure == "unstructured") {
    run.structure = structure;
    return absl::OkStatus();
  }
  if (structure != "nm" && structure != "n:m") {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: field 'structure' must be dense, unstructured or nm, got '%s'",
                        row.where(), structure));
  }
  if (!absl::SimpleAtoi(n_text, &run.n) || !absl::SimpleAtoi(m_text, &run.m) || run.m <= 0 ||
      run.n <= 0 || run.n >= run.m) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: fields 'n' and 'm' must be integers with 0 < n < m for structure nm, got '%s' "
        "and '%s'",
        row.where(), n_text, m_text));
  }
  run.structure = absl::StrFormat("%d:%d", run.n, run.m);
  return absl::OkStatus();
}

absl::StatusOr<RunRecord> ParseExportRow(const RowReader& row) {
  RunRecord run;
  ASSIGN_OR_RETURN(run.job_id, row.Text("job_id"));
  run.label = absl::StrFormat("%s (job %s)", row.where(), run.job_id);
  ASSIGN_OR_RETURN(run.sweep_id, row.Text("sweep_id"));
  RETURN_IF_ERROR(ParseStructure(row, run));
  ASSIGN_OR_RETURN(run.sparsity, row.Number("sparsity"));
  ASSIGN_OR_RETURN(run.nonzeros, row.Number("nonzeros"));
  ASSIGN_OR_RETURN(run.data, row.Number("tokens"));
  ASSIGN_OR_RETURN(run.loss, row.Number("final_eval_loss"));
  return run;
}

absl::StatusOr<RunSet> ParseExportCsv(const CsvTable& table) {
  const std::vector<std::string> required(std::begin(kExportColumns), std::end(kExportColumns));
  ASSIGN_OR_RETURN(auto columns, FindColumns(table.header, required, "sparsescale CSV"));
  RunSet set;
  set.format = "sparsescale-csv";
  set.data_unit = "tokens";
  for (size_t i = 0; i < table.rows.size(); ++i) {
    RowReader row(table.rows[i], columns, absl::StrFormat("line %d", table.line_numbers[i]));
    ASSIGN_OR_RETURN(RunRecord run, ParseExportRow(row));
    set.runs.push_back(std::move(run));
  }
  RETURN_IF_ERROR(ValidateRuns(set.runs, 0));
  set.scales = DefaultNormalisation(set.runs);
  return set;
}

absl::StatusOr<double> JsonNumber(const nlohmann::json& column, const std::string& key,
                                  const std::string& field) {
  auto it = column.find(key);
  if (it == column.end()) {
    return absl::InvalidArgumentError(absl::StrFormat("row %s: field '%s' is missing", key, field));
  }
  if (!it->is_number()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("row %s: field '%s' is not a number: %s", key, field, it->dump()));
  }
  return it->get<double>();
}

absl::StatusOr<RunSet> ParseVitJson(const std::string& text) {
  const nlohmann::json doc = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return absl::InvalidArgumentError("ViT JSON: not a JSON object");
  }
  for (const char* key : {"scale", "sparsity", "total_examples", "val-loss"}) {
    if (!doc.contains(key) || !doc[key].is_object()) {
      return absl::InvalidArgumentError(
          absl::StrFormat("ViT JSON: missing column '%s' (an object of row index to value)", key));
    }
  }
  // Row keys are decimal indices; keep the file's numeric order.
  std::vector<std::pair<long, std::string>> keys;
  for (const auto& [key, value] : doc["scale"].items()) {
    long index = 0;
    keys.emplace_back(absl::SimpleAtoi(key, &index) ? index : -1, key);
  }
  std::sort(keys.begin(), keys.end());
  RunSet set;
  set.format = "vit-json";
  set.data_unit = "images";
  set.scales = Normalisation{1e6, kVitImageScale};
  for (const auto& [index, key] : keys) {
    RunRecord run;
    run.label = absl::StrFormat("row %s", key);
    ASSIGN_OR_RETURN(const double scale, JsonNumber(doc["scale"], key, "scale"));
    ASSIGN_OR_RETURN(run.sparsity, JsonNumber(doc["sparsity"], key, "sparsity"));
    ASSIGN_OR_RETURN(run.data, JsonNumber(doc["total_examples"], key, "total_examples"));
    ASSIGN_OR_RETURN(run.loss, JsonNumber(doc["val-loss"], key, "val-loss"));
    if (!(scale > 0) || !std::isfinite(scale)) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: field 'scale' must be finite and positive, got %g", run.label, scale));
    }
    run.nonzeros = kVitParamCount * scale * (1.0 - run.sparsity);
    run.structure = run.sparsity == 0 ? "dense" : "unstructured";
    set.runs.push_back(std::move(run));
  }
  return set;
}

}  // namespace

absl::StatusOr<RunSet> ParseRuns(const std::string& text) {
  const size_t first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) {
    return absl::InvalidArgumentError("run file is empty");
  }
  absl::StatusOr<RunSet> set;
  if (text[first] == '{') {
    set = ParseVitJson(text);
  } else {
    CsvTable table = SplitCsv(text);
    const auto& header = table.header;
    if (std::find(header.begin(), header.end(), "final_eval_loss") != header.end()) {
      set = ParseExportCsv(table);
    } else if (std::find(header.begin(), header.end(), "val-loss") != header.end()) {
      set = ParseT5Csv(table);
    } else {
      return absl::InvalidArgumentError(
          "unrecognised run file: expected a CSV header with final_eval_loss (sparsescale "
          "export) or val-loss (released T5), or the released ViT JSON");
    }
  }
  if (!set.ok()) {
    return set.status();
  }
  RETURN_IF_ERROR(ValidateRuns(set->runs, 0));
  return set;
}

absl::StatusOr<RunSet> LoadRuns(const std::string& path, std::optional<double> d_scale) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrFormat("cannot open run file '%s'", path));
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  absl::StatusOr<RunSet> set = ParseRuns(buffer.str());
  if (!set.ok()) {
    return absl::Status(set.status().code(),
                        absl::StrFormat("%s: %s", path, set.status().message()));
  }
  if (d_scale.has_value()) {
    if (!(*d_scale > 0) || !std::isfinite(*d_scale)) {
      return absl::InvalidArgumentError(
          absl::StrFormat("D normalisation must be finite and positive, got %g", *d_scale));
    }
    set->scales.d_scale = *d_scale;
  }
  return set;
}

Normalisation DefaultNormalisation(const std::vector<RunRecord>& runs) {
  // The power of ten nearest the geometric mean of D keeps D' of order one.
  double log_sum = 0;
  for (const RunRecord& run : runs) {
    log_sum += std::log10(run.data);
  }
  const double d_scale = runs.empty() ? 1.0 : std::pow(10.0, std::round(log_sum / runs.size()));
  return Normalisation{1e6, d_scale};
}

std::string FormatExportCsv(const std::vector<RunRecord>& runs) {
  std::string out = "job_id,sweep_id,structure,n,m,sparsity,nonzeros,tokens,final_eval_loss\n";
  for (const RunRecord& run : runs) {
    const bool nm = IsNmStructured(run);
    out += absl::StrFormat("%s,%s,%s,%d,%d,%.17g,%.17g,%.17g,%.17g\n", run.job_id, run.sweep_id,
                           nm ? "nm" : run.structure, run.n, run.m, run.sparsity, run.nonzeros,
                           run.data, run.loss);
  }
  return out;
}

}  // namespace sparsescale::law
