#include "operator/controller/controller_metrics.h"

#include "runtime/common/metrics.h"

namespace usp::op {

ControllerMetrics::ControllerMetrics(prometheus::Registry& registry)
    : reconciles_(prometheus::BuildCounter()
                      .Name("usp_operator_reconcile_total")
                      .Help("Reconciles by kind and result (success, requeue, error)")
                      .Register(registry)),
      durations_(prometheus::BuildHistogram()
                     .Name("usp_operator_reconcile_duration_seconds")
                     .Help("Time spent in one reconcile")
                     .Register(registry)),
      queue_depth_(prometheus::BuildGauge()
                       .Name("usp_operator_queue_depth")
                       .Help("Keys waiting in the work queue")
                       .Register(registry)),
      leader_(prometheus::BuildGauge()
                  .Name("usp_operator_leader")
                  .Help("1 while this operator instance holds the leader lease")
                  .Register(registry)
                  .Add({})) {}

void ControllerMetrics::ObserveReconcile(const std::string& kind, const std::string& result, double seconds) {
  reconciles_.Add({{"kind", kind}, {"result", result}}).Increment();
  durations_.Add({{"kind", kind}}, LatencyBuckets()).Observe(seconds);
}

void ControllerMetrics::SetQueueDepth(const std::string& kind, double depth) {
  queue_depth_.Add({{"kind", kind}}).Set(depth);
}

void ControllerMetrics::SetLeader(bool leader) { leader_.Set(leader ? 1 : 0); }

double ControllerMetrics::ReconcileCount(const std::string& kind) {
  double total = 0;
  for (const char* result : {"success", "requeue", "error"}) {
    total += reconciles_.Add({{"kind", kind}, {"result", result}}).Value();
  }
  return total;
}

}  // namespace usp::op
