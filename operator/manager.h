#pragma once
// OperatorManager: the controllers of one leadership term. Start() creates
// the informers (UserSignals, UserSegments, SessionJobs, and the
// Deployments/ConfigMaps they own, in each watched namespace) and the
// controllers they feed (one JobReconciler per kind; a UserSignal change
// also brings back the segments and session jobs that read it), plus the
// FailoverManager (one JobController per job) and the informer on the
// worker pods that feeds it; Stop() tears it all down. Only the leader runs
// a manager.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "operator/controller/clock.h"
#include "operator/controller/controller.h"
#include "operator/controller/controller_metrics.h"
#include "operator/controller/informer.h"
#include "operator/failover/failover_manager.h"
#include "operator/kube/kube_client.h"
#include "operator/reconcile/event_recorder.h"
#include "operator/reconcile/user_signal_reconciler.h"

namespace usp::op {

struct ManagerOptions {
  UserSignalReconcilerOptions user_signal;  // .namespaces: watched namespaces (empty: all)
  int workers = 2;                          // concurrent reconciles per kind
  // Reconcile UserSegments and SessionJobs too (false: UserSignals only; the
  // flag --no-unsupported-status, named after what older versions did).
  bool report_unsupported_kinds = true;
  std::chrono::milliseconds resync_period{600'000};  // re-reconcile everything this often
  InformerOptions informer;                 // backoff and watch timeout (ns/selector set per informer)
  WorkQueueOptions queue;
  FailoverManagerOptions failover;  // used when the manager has a WorkerClient
};

class OperatorManager {
 public:
  // `worker_client` null: no partition control (workers keep what they were
  // started with). `registry` (may be null) gets usp_failovers_total and
  // usp_failover_duration_seconds.
  OperatorManager(kube::KubeClient* client, const Clock* clock, EventRecorder* events, ControllerMetrics* metrics,
                  ManagerOptions options, WorkerClient* worker_client = nullptr, MetricsRegistry* registry = nullptr);
  ~OperatorManager();

  void Start();
  void Stop();
  // True once every informer has listed.
  bool Synced() const;

 private:
  struct Kind {
    std::unique_ptr<Reconciler> reconciler;
    std::unique_ptr<Controller> controller;
    std::vector<std::unique_ptr<Informer>> primary;  // informers of the kind itself
  };
  void AddKind(std::unique_ptr<Reconciler> reconciler, const kube::ResourceDescriptor& resource);
  void ResyncLoop();

  kube::KubeClient* const client_;
  const Clock* const clock_;
  EventRecorder* const events_;
  ControllerMetrics* const metrics_;
  const ManagerOptions options_;
  WorkerClient* const worker_client_;
  MetricsRegistry* const registry_;

  std::unique_ptr<FailoverManager> failover_;  // created by Start (leadership term)
  std::vector<Kind> kinds_;
  std::vector<std::unique_ptr<Informer>> owned_;  // Deployments and ConfigMaps of jobs
  std::vector<std::unique_ptr<Informer>> pods_;   // worker pods, for failover
  std::thread resync_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // GUARDED_BY(mu_)
  bool started_ = false;
};

}  // namespace usp::op
