#pragma once
// The operator's Prometheus metrics (stable names):
//   usp_operator_reconcile_total{kind,result}      result: success, requeue, error
//   usp_operator_reconcile_duration_seconds{kind}  histogram
//   usp_operator_queue_depth{kind}                 keys waiting in the work queue
//   usp_operator_leader                            1 while this instance leads
// Thread-safe (prometheus-cpp metrics are).

#include <map>
#include <mutex>
#include <string>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

namespace usp::op {

class ControllerMetrics {
 public:
  explicit ControllerMetrics(prometheus::Registry& registry);
  void ObserveReconcile(const std::string& kind, const std::string& result, double seconds);
  void SetQueueDepth(const std::string& kind, double depth);
  void SetLeader(bool leader);
  // Total reconciles of a kind so far (all results); for tests and logs.
  double ReconcileCount(const std::string& kind);

 private:
  prometheus::Family<prometheus::Counter>& reconciles_;
  prometheus::Family<prometheus::Histogram>& durations_;
  prometheus::Family<prometheus::Gauge>& queue_depth_;
  prometheus::Gauge& leader_;
};

}  // namespace usp::op
