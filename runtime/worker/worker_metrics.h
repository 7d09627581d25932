#pragma once
// The worker's Prometheus probe: USP's stable job metric names, every series
// labelled kind=<kind>, job=<name>. Kept out of the loop's logic; the loop
// calls these small methods. Thread-compatible (prometheus-cpp metrics
// themselves are thread-safe, the label caches are not).

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "runtime/common/metrics.h"

namespace usp {

class WorkerMetrics {
 public:
  WorkerMetrics(MetricsRegistry* registry, const std::string& kind, const std::string& job);

  void Consumed(int64_t n) { consumed_->Increment(static_cast<double>(n)); }
  void Written() { written_->Increment(); }
  void Failed(std::string_view reason);
  void DeadLettered() { dead_lettered_->Increment(); }
  void TransformLatency(double seconds) { transform_latency_->Observe(seconds); }
  // Latencies of one written record; negative inputs are not observed.
  void WrittenLatencies(double event_s, double ingestion_s, double job_s);
  void Lag(const std::string& topic, int32_t partition, int64_t lag);
  void AssignedPartitions(int64_t n) { assigned_->Set(static_cast<double>(n)); }
  void StandbyWarm(bool warm) { warm_->Set(warm ? 1 : 0); }
  // A Kafka operation the worker saw fail and will retry, by `op`. Today
  // "commit" (an offset commit refused or lost; the next one covers it):
  // produce and fetch errors are retried inside librdkafka, unseen.
  void KafkaError(std::string_view op);

 private:
  std::string kind_;
  std::string job_;
  prometheus::Counter* consumed_;
  prometheus::Counter* written_;
  prometheus::Counter* dead_lettered_;
  prometheus::Family<prometheus::Counter>* failed_family_;
  std::vector<std::pair<std::string, prometheus::Counter*>> failed_;  // by reason
  prometheus::Family<prometheus::Counter>* kafka_errors_family_;
  std::vector<std::pair<std::string, prometheus::Counter*>> kafka_errors_;  // by op
  prometheus::Histogram* event_latency_;
  prometheus::Histogram* ingestion_latency_;
  prometheus::Histogram* job_latency_;
  prometheus::Histogram* transform_latency_;
  prometheus::Family<prometheus::Gauge>* lag_family_;
  std::vector<std::pair<std::pair<std::string, int32_t>, prometheus::Gauge*>> lag_;
  prometheus::Gauge* assigned_;
  prometheus::Gauge* warm_;
};

}  // namespace usp
