// A small metrics module for the Prometheus text exposition format (0.0.4): counters, gauges
// and histograms with fixed buckets, grouped in labelled families held by a Registry.
//
// The hot path is cheap: Counter::Add, Gauge::Set and Histogram::Observe are relaxed atomic
// operations on an instrument the caller looked up once (Family::With takes a mutex only to
// find or create a label set; keep the returned reference, it lives as long as the registry).
// Values that are only known at scrape time (jobs by state, workers alive) are written by
// collectors, functions the renderer of /metrics calls with a Sample writer.
//
// Thread-safety: everything here is thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"

namespace sparsescale::metrics {

// Label pairs, in the order they are rendered (e.g. {{"state", "QUEUED"}}).
using Labels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void Add(int64_t delta = 1) { value_.fetch_add(delta, std::memory_order_relaxed); }
  int64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> value_{0};
};

class Gauge {
 public:
  void Set(double value) { value_.store(value, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Counts observations into fixed upper bounds (ascending; +Inf is implicit).
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void Observe(double value);

  struct Snapshot {
    std::vector<double> bounds;
    std::vector<uint64_t> cumulative;  // one per bound, then +Inf (== count)
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot snapshot() const;

 private:
  const std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // bounds_.size() + 1 buckets
  std::atomic<double> sum_{0};
};

// Buckets in seconds for latencies from 100 us to 10 s.
std::vector<double> LatencyBucketsSeconds();

enum class Type { kCounter, kGauge, kHistogram };

// One metric name with its help text and an instrument per label set.
template <typename T>
class Family {
 public:
  Family(std::string name, std::string help, std::vector<double> bounds = {})
      : name_(std::move(name)), help_(std::move(help)), bounds_(std::move(bounds)) {}
  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }

  // The instrument for `labels`, created on first use; valid as long as the family.
  T& With(const Labels& labels = {}) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = instruments_.find(labels);
    if (it == instruments_.end()) {
      it = instruments_.emplace(labels, Make()).first;
    }
    return *it->second;
  }
  // Every label set with its instrument, sorted by labels.
  std::vector<std::pair<Labels, const T*>> All() const {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::pair<Labels, const T*>> all;
    for (const auto& [labels, instrument] : instruments_) {
      all.emplace_back(labels, instrument.get());
    }
    return all;
  }

 private:
  std::unique_ptr<T> Make() const;

  const std::string name_;
  const std::string help_;
  const std::vector<double> bounds_;
  mutable std::mutex mu_;
  std::map<Labels, std::unique_ptr<T>> instruments_ ABSL_GUARDED_BY(mu_);
};

template <>
inline std::unique_ptr<Histogram> Family<Histogram>::Make() const {
  return std::make_unique<Histogram>(bounds_);
}
template <typename T>
std::unique_ptr<T> Family<T>::Make() const {
  return std::make_unique<T>();
}

// Writes one scrape-time family: Begin once, then a Value per label set.
class SampleWriter {
 public:
  explicit SampleWriter(std::string* out) : out_(out) {}
  void Begin(const std::string& name, const std::string& help, Type type);
  void Value(const std::string& name, const Labels& labels, double value);

 private:
  std::string* out_;
};

class Registry {
 public:
  // Registered families must be created before the first Render (the registry owns them).
  Family<Counter>& AddCounter(std::string name, std::string help);
  Family<Gauge>& AddGauge(std::string name, std::string help);
  Family<Histogram>& AddHistogram(std::string name, std::string help, std::vector<double> bounds);

  // The text exposition of every registered family (scrape-time families are appended by the
  // caller with a SampleWriter).
  std::string Render() const;

 private:
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Family<Counter>>> counters_ ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<Family<Gauge>>> gauges_ ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<Family<Histogram>>> histograms_ ABSL_GUARDED_BY(mu_);
};

// A label value or help text escaped for the exposition format.
std::string EscapeLabelValue(const std::string& value);
// A sample value: integers without a fraction, +Inf/-Inf/NaN spelled as Prometheus does.
std::string FormatValue(double value);

}  // namespace sparsescale::metrics
