#include "client/output.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cctype>
#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace sparsescale::client {

namespace v1 = sparsescale::v1;

namespace {

bool LooksNumeric(const std::string& s) {
  if (s.empty()) {
    return false;
  }
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != 'e' &&
        c != '+' && c != '/' && c != '%') {
      return false;
    }
  }
  return std::isdigit(static_cast<unsigned char>(s.back())) || s.back() == '%';
}

// Human-readable counts: 1234 -> "1.2K", 1500000 -> "1.5M".
std::string ShortCount(double v) {
  if (v >= 1e9) {
    return absl::StrFormat("%.3gG", v / 1e9);
  }
  if (v >= 1e6) {
    return absl::StrFormat("%.3gM", v / 1e6);
  }
  if (v >= 1e3) {
    return absl::StrFormat("%.3gK", v / 1e3);
  }
  return absl::StrFormat("%.0f", v);
}

std::string FormatTime(int64_t unix_ms) {
  if (unix_ms <= 0) {
    return "-";
  }
  time_t t = static_cast<time_t>(unix_ms / 1000);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

std::string StatesSummary(const google::protobuf::Map<std::string, int32_t>& by_state) {
  std::vector<std::string> parts;
  for (v1::JobState s : {v1::JOB_STATE_QUEUED, v1::JOB_STATE_RUNNING, v1::JOB_STATE_SUCCEEDED,
                         v1::JOB_STATE_FAILED, v1::JOB_STATE_CANCELLED}) {
    for (const auto& [name, count] : by_state) {
      if ((name == v1::JobState_Name(s) || name == StateName(s)) && count > 0) {
        parts.push_back(absl::StrCat(absl::AsciiStrToLower(StateName(s)), " ", count));
      }
    }
  }
  return parts.empty() ? "no jobs" : absl::StrJoin(parts, ", ");
}

}  // namespace

Table::Table(std::vector<std::string> header) : header_(std::move(header)) {}

void Table::AddRow(std::vector<std::string> cells) {
  cells.resize(header_.size());
  rows_.push_back(std::move(cells));
}

std::string Table::Render() const {
  std::vector<size_t> width(header_.size());
  std::vector<bool> numeric(header_.size(), !rows_.empty());
  for (size_t c = 0; c < header_.size(); ++c) {
    width[c] = header_[c].size();
    for (const auto& row : rows_) {
      width[c] = std::max(width[c], row[c].size());
      numeric[c] = numeric[c] && (row[c].empty() || row[c] == "-" || LooksNumeric(row[c]));
    }
  }
  auto render_row = [&](const std::vector<std::string>& row) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      std::string pad(width[c] - row[c].size(), ' ');
      bool last = c + 1 == row.size();
      line += numeric[c] ? pad + row[c] : (last ? row[c] : row[c] + pad);
      if (!last) {
        line += "  ";
      }
    }
    return line + "\n";
  };
  std::string out = render_row(header_);
  for (const auto& row : rows_) {
    out += render_row(row);
  }
  return out;
}

std::string StateName(v1::JobState state) {
  std::string name = v1::JobState_Name(state);
  const std::string prefix = "JOB_STATE_";
  return name.rfind(prefix, 0) == 0 ? name.substr(prefix.size()) : name;
}

absl::StatusOr<v1::JobState> ParseState(const std::string& text) {
  std::string upper = absl::AsciiStrToUpper(text);
  for (v1::JobState s : {v1::JOB_STATE_QUEUED, v1::JOB_STATE_RUNNING, v1::JOB_STATE_SUCCEEDED,
                         v1::JOB_STATE_FAILED, v1::JOB_STATE_CANCELLED}) {
    if (upper == StateName(s) || upper == v1::JobState_Name(s)) {
      return s;
    }
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "--state: unknown state \"", text, "\" (queued, running, succeeded, failed, cancelled)"));
}

bool IsFinal(v1::JobState state) {
  return state == v1::JOB_STATE_SUCCEEDED || state == v1::JOB_STATE_FAILED ||
         state == v1::JOB_STATE_CANCELLED;
}

std::string FormatDuration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) {
    return "-";
  }
  int64_t s = static_cast<int64_t>(std::llround(seconds));
  if (s < 60) {
    return absl::StrCat(s, "s");
  }
  if (s < 3600) {
    return absl::StrFormat("%dm%02ds", s / 60, s % 60);
  }
  return absl::StrFormat("%dh%02dm", s / 3600, (s % 3600) / 60);
}

std::string FormatLoss(std::optional<double> loss) {
  return loss.has_value() ? absl::StrFormat("%.4f", *loss) : "-";
}

std::string MessageToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.add_whitespace = true;
  options.always_print_primitive_fields = true;
  std::string out;
  if (!google::protobuf::util::MessageToJsonString(message, &out, options).ok()) {
    return "{}";
  }
  return out;
}

std::string JobShape(const v1::JobSpec& spec) {
  std::string shape = absl::StrCat("d=", spec.model().width(), " L=", spec.model().layers(),
                                   " S=", absl::StrFormat("%g", spec.pruning().sparsity()));
  if (spec.pruning().structure() == v1::SPARSITY_STRUCTURE_NM) {
    absl::StrAppend(&shape, " ", spec.pruning().n(), ":", spec.pruning().m());
  }
  absl::StrAppend(&shape, " D=", ShortCount(static_cast<double>(spec.data().tokens())));
  return shape;
}

std::string JobsTable(const std::vector<v1::Job>& jobs) {
  Table table({"ID", "STATE", "STEP", "ATTEMPT", "TRAIN", "EVAL", "SHAPE", "WORKER"});
  for (const v1::Job& j : jobs) {
    std::optional<double> eval;
    if (j.has_last_eval_loss()) {
      eval = j.last_eval_loss();
    }
    table.AddRow({j.id().substr(0, 12), StateName(j.state()),
                  absl::StrCat(j.step(), "/", j.total_steps()), absl::StrCat(j.attempt()),
                  j.step() > 0 ? FormatLoss(j.last_train_loss()) : "-", FormatLoss(eval),
                  JobShape(j.spec()), j.worker_id().empty() ? "-" : j.worker_id()});
  }
  std::string out = table.Render();
  // Queued jobs that no registered worker could hold, even idle: say why under the table.
  for (const v1::Job& j : jobs) {
    if (!j.unplaceable().empty()) {
      absl::StrAppend(&out, "waiting ", j.id().substr(0, 12), ": ", j.unplaceable(), "\n");
    }
    if (!j.blocked().empty()) {
      absl::StrAppend(&out, "blocked ", j.id().substr(0, 12), ": ", j.blocked(), "\n");
    }
  }
  return out;
}

std::string JobDetail(const v1::Job& j) {
  std::optional<double> eval;
  if (j.has_last_eval_loss()) {
    eval = j.last_eval_loss();
  }
  std::string out;
  absl::StrAppend(&out, "job         ", j.id(), "\n");
  absl::StrAppend(&out, "sweep       ", j.sweep_id().empty() ? "-" : j.sweep_id(), "\n");
  absl::StrAppend(&out, "state       ", StateName(j.state()), "\n");
  absl::StrAppend(&out, "shape       ", JobShape(j.spec()), "\n");
  absl::StrAppend(&out, "step        ", j.step(), " / ", j.total_steps(), "\n");
  absl::StrAppend(&out, "checkpoint  ", j.checkpoint_step(), "\n");
  absl::StrAppend(&out, "attempt     ", j.attempt(), " of ", j.max_attempts(), "\n");
  absl::StrAppend(&out, "worker      ", j.worker_id().empty() ? "-" : j.worker_id(), "\n");
  absl::StrAppend(&out, "train loss  ", j.step() > 0 ? FormatLoss(j.last_train_loss()) : "-", "\n");
  absl::StrAppend(&out, "eval loss   ", FormatLoss(eval), "\n");
  if (!j.error().empty()) {
    absl::StrAppend(&out, "error       ", j.error(), " (", v1::FailureClass_Name(j.last_failure()),
                    ")\n");
  }
  if (!j.unplaceable().empty()) {
    absl::StrAppend(&out, "waiting     ", j.unplaceable(), "\n");
  }
  if (!j.blocked().empty()) {
    absl::StrAppend(&out, "blocked     ", j.blocked(), "\n");
  }
  absl::StrAppend(&out, "created     ", FormatTime(j.created_unix_ms()), "\n");
  absl::StrAppend(&out, "updated     ", FormatTime(j.updated_unix_ms()), "\n");
  if (!j.log_tail().empty()) {
    absl::StrAppend(&out, "log tail    (attempt ", j.attempt(),
                    "; all of it: sparsescale job logs ", j.id(), ")\n");
    for (absl::string_view line : absl::StrSplit(j.log_tail(), '\n', absl::SkipEmpty())) {
      absl::StrAppend(&out, "  | ", line, "\n");
    }
  }
  return out;
}

std::string CheckpointsTable(const v1::ListCheckpointsResponse& checkpoints) {
  Table table({"STEP", "ATTEMPT", "BYTES", "SHA256", "CREATED"});
  for (const v1::CheckpointInfo& info : checkpoints.checkpoints()) {
    table.AddRow({absl::StrCat(info.step()), absl::StrCat(info.attempt()),
                  absl::StrCat(info.size_bytes()), info.sha256(),
                  FormatTime(info.created_unix_ms())});
  }
  return table.Render();
}

std::string SweepsTable(const std::vector<v1::Sweep>& sweeps) {
  Table table({"ID", "NAME", "JOBS", "STATES", "CREATED"});
  for (const v1::Sweep& s : sweeps) {
    table.AddRow({s.id().substr(0, 12), s.name(), absl::StrCat(s.job_ids_size()),
                  StatesSummary(s.jobs_by_state()), FormatTime(s.created_unix_ms())});
  }
  return table.Render();
}

std::string SweepDetail(const v1::Sweep& s) {
  std::string out;
  absl::StrAppend(&out, "sweep     ", s.id(), "\n");
  absl::StrAppend(&out, "name      ", s.name(), "\n");
  absl::StrAppend(&out, "priority  ", s.priority(), "\n");
  absl::StrAppend(&out, "jobs      ", s.job_ids_size(), " (", StatesSummary(s.jobs_by_state()),
                  ")\n");
  absl::StrAppend(&out, "created   ", FormatTime(s.created_unix_ms()), "\n");
  return out;
}

std::string FormatBytes(int64_t bytes) {
  if (bytes < 0) {
    return "?";
  }
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024 && unit < 4) {
    value /= 1024;
    ++unit;
  }
  return unit == 0 ? absl::StrCat(bytes, " B") : absl::StrFormat("%.1f %s", value, units[unit]);
}

std::string StoreHealthText(const v1::StoreHealth& store) {
  const std::string sizes =
      absl::StrCat("disk free ", FormatBytes(store.disk_free_bytes()), ", db ",
                   FormatBytes(store.db_bytes()), ", WAL ", FormatBytes(store.wal_bytes()));
  const std::string commits =
      absl::StrFormat("commit p99 %.1f ms (%d commits)", store.p99_commit_ms(), store.commits());
  if (store.last_error().empty()) {
    return absl::StrCat("store: ok, ", sizes, ", ", commits, "\n");
  }
  std::string out = absl::StrCat("WARNING: the store cannot write: ", store.failure_kind(),
                                 " since ", FormatTime(store.failing_since_unix_ms()), " (",
                                 store.failing_batches(), " failed commits)\n");
  absl::StrAppend(&out, "  error    ", store.last_error(), "\n");
  absl::StrAppend(&out, "  store    ", sizes, "; ", commits, "\n");
  absl::StrAppend(&out,
                  "  effect   reads keep working; points, completions and new jobs wait (workers "
                  "retry) until a commit succeeds\n");
  return out;
}

std::string ClusterStatusText(const v1::GetClusterStatusResponse& status) {
  Table table({"WORKER", "NAME", "DEVICE", "SLOTS", "ALIVE", "DRAINING", "RUNNING"});
  for (const v1::WorkerInfo& w : status.workers()) {
    std::string device = w.resources().device_kind();
    if (w.resources().gpus() > 0) {
      absl::StrAppend(&device, " x", w.resources().gpus());
    }
    table.AddRow(
        {w.id(), w.name(), device, absl::StrCat(w.resources().slots()), w.alive() ? "yes" : "no",
         w.draining() ? "yes" : "no",
         w.running_job_ids().empty()
             ? "-"
             : absl::StrJoin(w.running_job_ids(), ",", [](std::string* out, const std::string& id) {
                 out->append(id.substr(0, 12));
               })});
  }
  std::string out = absl::StrCat("workers: ", status.workers_size(), "\n");
  if (status.workers_size() > 0) {
    out += table.Render();
  }
  absl::StrAppend(&out, "jobs: ", StatesSummary(status.jobs_by_state()), "\n");
  absl::StrAppend(&out, "loss points stored: ", status.loss_points_stored(), "\n");
  if (status.has_store()) {
    out += StoreHealthText(status.store());
  }
  return out;
}

std::string CurveTable(const v1::GetLossCurveResponse& curve) {
  Table table({"STEP", "TOKENS", "TRAIN", "EVAL", "SPARSITY", "LR", "WALL"});
  for (const v1::LossPoint& p : curve.points()) {
    std::optional<double> eval;
    if (p.has_eval_loss()) {
      eval = p.eval_loss();
    }
    table.AddRow({absl::StrCat(p.step()), absl::StrCat(p.tokens()), FormatLoss(p.train_loss()),
                  FormatLoss(eval), absl::StrFormat("%.4f", p.sparsity()),
                  absl::StrFormat("%.3g", p.lr()), FormatDuration(p.wall_s())});
  }
  return absl::StrCat(table.Render(), curve.points_size(), " of ", curve.total_points(),
                      " points\n");
}

}  // namespace sparsescale::client
