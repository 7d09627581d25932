#include "runtime/worker/worker_metrics.h"

namespace usp {

namespace {

prometheus::Histogram* MakeHistogram(prometheus::Registry& registry, const std::string& name,
                                     const std::string& help,
                                     const std::map<std::string, std::string>& labels) {
  auto& family = prometheus::BuildHistogram().Name(name).Help(help).Register(registry);
  return &family.Add(labels, LatencyBuckets());
}

prometheus::Counter* MakeCounter(prometheus::Registry& registry, const std::string& name,
                                 const std::string& help,
                                 const std::map<std::string, std::string>& labels) {
  return &prometheus::BuildCounter().Name(name).Help(help).Register(registry).Add(labels);
}

prometheus::Gauge* MakeGauge(prometheus::Registry& registry, const std::string& name,
                             const std::string& help,
                             const std::map<std::string, std::string>& labels) {
  return &prometheus::BuildGauge().Name(name).Help(help).Register(registry).Add(labels);
}

}  // namespace

WorkerMetrics::WorkerMetrics(MetricsRegistry* metrics, const std::string& kind,
                             const std::string& job)
    : kind_(kind), job_(job) {
  prometheus::Registry& r = metrics->registry();
  const std::map<std::string, std::string> labels = {{"kind", kind}, {"job", job}};
  consumed_ = MakeCounter(r, "usp_events_consumed_total", "Source events consumed.", labels);
  written_ =
      MakeCounter(r, "usp_events_written_total", "Output records acknowledged by Kafka.", labels);
  dead_lettered_ = MakeCounter(r, "usp_events_dead_lettered_total",
                               "Bad events acknowledged on the dead-letter topic.", labels);
  failed_family_ = &prometheus::BuildCounter()
                        .Name("usp_events_failed_total")
                        .Help("Events that could not be turned into a record, by reason.")
                        .Register(r);
  kafka_errors_family_ = &prometheus::BuildCounter()
                             .Name("usp_kafka_errors_total")
                             .Help("Kafka operations that failed and are retried, by op.")
                             .Register(r);
  event_latency_ =
      MakeHistogram(r, "usp_event_latency_seconds", "Event time to output record written.", labels);
  ingestion_latency_ = MakeHistogram(r, "usp_ingestion_latency_seconds",
                                     "Kafka append time to output record written.", labels);
  job_latency_ = MakeHistogram(r, "usp_job_latency_seconds",
                               "Consumed by the worker to output record written.", labels);
  transform_latency_ = MakeHistogram(r, "usp_transform_latency_seconds",
                                     "Time spent transforming one event.", labels);
  lag_family_ = &prometheus::BuildGauge()
                     .Name("usp_consumer_lag")
                     .Help("Messages behind the end of each assigned source partition.")
                     .Register(r);
  assigned_ = MakeGauge(r, "usp_assigned_partitions", "Source partitions assigned.", labels);
  warm_ = MakeGauge(r, "usp_standby_warm",
                    "1 once config, transforms and Kafka connections are ready.", labels);
}

void WorkerMetrics::Failed(std::string_view reason) {
  for (auto& [r, counter] : failed_) {
    if (r == reason) {
      counter->Increment();
      return;
    }
  }
  auto* counter =
      &failed_family_->Add({{"kind", kind_}, {"job", job_}, {"reason", std::string(reason)}});
  failed_.emplace_back(std::string(reason), counter);
  counter->Increment();
}

void WorkerMetrics::KafkaError(std::string_view op) {
  for (auto& [o, counter] : kafka_errors_) {
    if (o == op) {
      counter->Increment();
      return;
    }
  }
  auto* counter =
      &kafka_errors_family_->Add({{"kind", kind_}, {"job", job_}, {"op", std::string(op)}});
  kafka_errors_.emplace_back(std::string(op), counter);
  counter->Increment();
}

void WorkerMetrics::WrittenLatencies(double event_s, double ingestion_s, double job_s) {
  if (event_s >= 0) event_latency_->Observe(event_s);
  if (ingestion_s >= 0) ingestion_latency_->Observe(ingestion_s);
  if (job_s >= 0) job_latency_->Observe(job_s);
}

void WorkerMetrics::Lag(const std::string& topic, int32_t partition, int64_t lag) {
  if (lag < 0) return;
  for (auto& [key, gauge] : lag_) {
    if (key.second == partition && key.first == topic) {
      gauge->Set(static_cast<double>(lag));
      return;
    }
  }
  auto* gauge = &lag_family_->Add(
      {{"kind", kind_}, {"job", job_}, {"topic", topic}, {"partition", std::to_string(partition)}});
  lag_.push_back({{topic, partition}, gauge});
  gauge->Set(static_cast<double>(lag));
}

}  // namespace usp
