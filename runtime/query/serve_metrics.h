#pragma once
// The query service's Prometheus metrics (stable names, see DESIGN.md), all
// labelled kind="query", job="serve". Probes keep the metric objects so the
// hot paths never look a label set up.

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "runtime/common/metrics.h"

namespace usp {

// Routes of the query API, the `route` label.
enum class QueryRoute {
  kSignals,
  kSegments,
  kSessions,
  kProfile,
  kHealthz,
  kReadyz,
  kMetrics,
  kOther
};
inline constexpr int kQueryRouteCount = 8;
const char* RouteLabel(QueryRoute route);

// usp_query_latency_seconds{route}, usp_query_requests_total{route,code}.
class QueryProbe {
 public:
  explicit QueryProbe(MetricsRegistry* metrics);
  // Thread-safe.
  void Record(QueryRoute route, int status, double seconds);

 private:
  static constexpr std::array<int, 6> kCommonCodes = {200, 400, 404, 405, 500, 503};
  prometheus::Family<prometheus::Counter>* requests_;
  std::array<prometheus::Histogram*, kQueryRouteCount> latency_;
  std::array<std::array<prometheus::Counter*, kCommonCodes.size()>, kQueryRouteCount> by_code_;
};

// usp_events_consumed_total, usp_events_written_total,
// usp_events_failed_total{reason}, usp_consumer_lag{partition},
// usp_event_latency_seconds, usp_ingestion_latency_seconds.
class MaterializerProbe {
 public:
  explicit MaterializerProbe(MetricsRegistry* metrics);
  // Single-threaded (the materializer's loop).
  void Consumed(int64_t n) { consumed_->Increment(static_cast<double>(n)); }
  void Written(int64_t n) { written_->Increment(static_cast<double>(n)); }
  void Failed(const std::string& reason);
  void Lag(int32_t partition, int64_t lag);
  void EventLatency(double seconds) { event_latency_->Observe(seconds); }
  void IngestionLatency(double seconds) { ingestion_latency_->Observe(seconds); }

  double consumed() const { return consumed_->Value(); }
  double written() const { return written_->Value(); }
  double failed(const std::string& reason) const;

 private:
  prometheus::Counter* consumed_;
  prometheus::Counter* written_;
  prometheus::Family<prometheus::Counter>* failed_family_;
  prometheus::Family<prometheus::Gauge>* lag_family_;
  prometheus::Histogram* event_latency_;
  prometheus::Histogram* ingestion_latency_;
  std::map<std::string, prometheus::Counter*> failed_;
  std::map<int32_t, prometheus::Gauge*> lag_;
};

}  // namespace usp
