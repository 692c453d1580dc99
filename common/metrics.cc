#include "common/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace sparsescale::metrics {

namespace {

const char* TypeName(Type type) {
  switch (type) {
    case Type::kCounter:
      return "counter";
    case Type::kGauge:
      return "gauge";
    case Type::kHistogram:
      return "histogram";
  }
  return "untyped";
}

std::string RenderLabels(const Labels& labels, const std::string& extra_name = "",
                         const std::string& extra_value = "") {
  if (labels.empty() && extra_name.empty()) {
    return "";
  }
  std::string out = "{";
  for (const auto& [name, value] : labels) {
    absl::StrAppend(&out, out.size() > 1 ? "," : "", name, "=\"", EscapeLabelValue(value), "\"");
  }
  if (!extra_name.empty()) {
    absl::StrAppend(&out, out.size() > 1 ? "," : "", extra_name, "=\"", extra_value, "\"");
  }
  return out + "}";
}

void AddDouble(std::atomic<double>& target, double delta) {
  double current = target.load(std::memory_order_relaxed);
  while (!target.compare_exchange_weak(current, current + delta, std::memory_order_relaxed)) {
  }
}

void RenderHistogram(const Family<Histogram>& family, std::string* out) {
  SampleWriter writer(out);
  writer.Begin(family.name(), family.help(), Type::kHistogram);
  for (const auto& [labels, histogram] : family.All()) {
    const Histogram::Snapshot snap = histogram->snapshot();
    for (size_t i = 0; i <= snap.bounds.size(); ++i) {
      const std::string le = i < snap.bounds.size() ? FormatValue(snap.bounds[i]) : "+Inf";
      absl::StrAppend(out, family.name(), "_bucket", RenderLabels(labels, "le", le), " ",
                      snap.cumulative[i], "\n");
    }
    absl::StrAppend(out, family.name(), "_sum", RenderLabels(labels), " ", FormatValue(snap.sum),
                    "\n");
    absl::StrAppend(out, family.name(), "_count", RenderLabels(labels), " ", snap.count, "\n");
  }
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)),
      counts_(std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1)) {
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    counts_[i].store(0, std::memory_order_relaxed);
  }
}

void Histogram::Observe(double value) {
  const size_t bucket = static_cast<size_t>(
      std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin());
  counts_[bucket].fetch_add(1, std::memory_order_relaxed);
  AddDouble(sum_, value);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot snap;
  snap.bounds = bounds_;
  uint64_t running = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    running += counts_[i].load(std::memory_order_relaxed);
    snap.cumulative.push_back(running);
  }
  snap.count = running;
  snap.sum = sum_.load(std::memory_order_relaxed);
  return snap;
}

std::vector<double> LatencyBucketsSeconds() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
}

void SampleWriter::Begin(const std::string& name, const std::string& help, Type type) {
  absl::StrAppend(out_, "# HELP ", name, " ", EscapeLabelValue(help), "\n# TYPE ", name, " ",
                  TypeName(type), "\n");
}

void SampleWriter::Value(const std::string& name, const Labels& labels, double value) {
  absl::StrAppend(out_, name, RenderLabels(labels), " ", FormatValue(value), "\n");
}

Family<Counter>& Registry::AddCounter(std::string name, std::string help) {
  std::lock_guard<std::mutex> lock(mu_);
  counters_.push_back(std::make_unique<Family<Counter>>(std::move(name), std::move(help)));
  return *counters_.back();
}

Family<Gauge>& Registry::AddGauge(std::string name, std::string help) {
  std::lock_guard<std::mutex> lock(mu_);
  gauges_.push_back(std::make_unique<Family<Gauge>>(std::move(name), std::move(help)));
  return *gauges_.back();
}

Family<Histogram>& Registry::AddHistogram(std::string name, std::string help,
                                          std::vector<double> bounds) {
  std::lock_guard<std::mutex> lock(mu_);
  std::sort(bounds.begin(), bounds.end());
  histograms_.push_back(
      std::make_unique<Family<Histogram>>(std::move(name), std::move(help), std::move(bounds)));
  return *histograms_.back();
}

std::string Registry::Render() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  SampleWriter writer(&out);
  for (const auto& family : counters_) {
    writer.Begin(family->name(), family->help(), Type::kCounter);
    for (const auto& [labels, counter] : family->All()) {
      writer.Value(family->name(), labels, static_cast<double>(counter->value()));
    }
  }
  for (const auto& family : gauges_) {
    writer.Begin(family->name(), family->help(), Type::kGauge);
    for (const auto& [labels, gauge] : family->All()) {
      writer.Value(family->name(), labels, gauge->value());
    }
  }
  for (const auto& family : histograms_) {
    RenderHistogram(*family, &out);
  }
  return out;
}

std::string EscapeLabelValue(const std::string& value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string FormatValue(double value) {
  if (std::isnan(value)) {
    return "NaN";
  }
  if (std::isinf(value)) {
    return value > 0 ? "+Inf" : "-Inf";
  }
  if (value == std::floor(value) && std::fabs(value) < 1e15) {
    return absl::StrCat(static_cast<int64_t>(value));
  }
  char buffer[32];  // the shortest text that reads back as the same double
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  return std::string(buffer, result.ptr);
}

}  // namespace sparsescale::metrics
