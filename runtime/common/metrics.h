#pragma once
// Prometheus metrics (prometheus-cpp) with USP's stable names, and their text
// exposition for /metrics. Metric families are created once per registry;
// components hold references to the concrete counters/histograms they update.

#include <memory>
#include <string>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

namespace usp {

// Latency buckets in seconds, 0.5 ms .. 60 s.
const prometheus::Histogram::BucketBoundaries& LatencyBuckets();

class MetricsRegistry {
 public:
  MetricsRegistry() : registry_(std::make_shared<prometheus::Registry>()) {}
  prometheus::Registry& registry() { return *registry_; }
  // Prometheus text format 0.0.4.
  std::string Serialize() const;

 private:
  std::shared_ptr<prometheus::Registry> registry_;
};

}  // namespace usp
