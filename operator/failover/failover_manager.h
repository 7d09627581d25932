#pragma once
// FailoverManager: partition ownership and failover of every job (UserSignal,
// UserSegment, SessionJob) the leader runs, one JobController
// (runtime/control/job_controller.h) each. Jobs are identified by kind and
// namespace/name (names are unique per kind only).
//
//   job reconcile ──Sync(owner, spec)/Forget(key, kind)──> JobController per job
//   pod informer ──OnPodEvent──> PodTracker (per job) ──Upsert/ReportFailure/Remove──┘
//   JobController ──OnAssignment/OnFailover──> notify(key) (the reconcile writes status)
//                                           └─> a Warning Event `Failover` per failover
//   reconcile ──Status(key)──> status.assignment, lastFailover, failovers, replicas.warm, lag
//
// Pods are routed by their labels (usp.dev/job, usp.dev/kind; no kind label
// means UserSignal) in their namespace; pods seen before their job is synced are remembered and
// announced when its controller is created. A deleted pod is removed from
// its controller only once the controller no longer counts it as an owner
// of partitions, so the failover keeps the pod's own cause and timing.
//
// A background thread (unless options.run_loops is false: tests call Tick())
// records Events off the controllers' loops, removes deleted pods, and
// notifies when what the status shows (owners, health, warmth, waiting
// partitions) changed without a new epoch. Lag is published every
// `lag_refresh_ms` only, so probes do not rewrite the status (and a status
// write, which brings the resource back, does not find newer lag to write).
//
// Thread-safe. Lives inside the leader's OperatorManager: Stop() (or the
// destructor) stops every controller; workers keep their assignments.

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "operator/failover/pod_tracker.h"
#include "operator/kube/object.h"
#include "operator/reconcile/event_recorder.h"
#include "runtime/common/metrics.h"
#include "runtime/control/job_controller.h"
#include "runtime/control/worker_client.h"

namespace usp::op {

struct FailoverManagerOptions {
  int worker_http_port = 8081;  // when a pod names no "http" port
  bool run_loops = true;        // false: controllers are stepped by Step(), the manager by Tick()
  int64_t initial_settle_ms = 15000;  // JobControllerOptions::initial_settle_ms
  // A deleted pod that still owns partitions is removed after this anyway.
  int64_t remove_deleted_after_ms = 10000;
  // The lag the status shows is refreshed this often (a status write brings
  // the resource back to the queue: fresher lag would rewrite it every time).
  int64_t lag_refresh_ms = 10000;
  std::function<int64_t()> now;  // wall-clock ms; null: the system clock
};

// What the reconcile passes for a valid resource.
struct JobFailoverSpec {
  int32_t parallelism = 1;
  int32_t num_partitions = 0;
  FailoverPolicy policy;
};

// What the status shows (see JobObservation).
struct JobFailoverStatus {
  nlohmann::json assignment;  // JobControllerSnapshot::AssignmentJson(); null before the first plan
  nlohmann::json last_failover;  // FailoverRecord::ToJson(); null when none yet
  int64_t failovers = 0;         // the resource's status.failovers when adopted + this controller's
  int32_t warm_standbys = 0;     // healthy, warm workers that own no partitions
  int64_t lag = 0;               // summed over the active workers
  std::vector<int32_t> unassigned;  // partitions waiting for a warm worker
};

class FailoverManager {
 public:
  // `client`, `metrics` and `events` must outlive the manager; metrics and
  // events may be null.
  FailoverManager(WorkerClient* client, MetricsRegistry* metrics, EventRecorder* events,
                  FailoverManagerOptions options = {});
  ~FailoverManager();
  FailoverManager(const FailoverManager&) = delete;
  FailoverManager& operator=(const FailoverManager&) = delete;

  // Called with a job's kind and key whenever its status should be rewritten.
  // REQUIRES: before the first Sync.
  void SetNotify(std::function<void(const std::string& kind, const kube::ObjectKey&)> notify);
  // The same, for a manager that controls UserSignals only.
  void SetNotify(std::function<void(const kube::ObjectKey&)> notify);

  // Creates the job's controller (announcing its running pods) or updates
  // its parallelism, partitions and policy. `owner` is the resource (its
  // `kind` names the job's kind); its status.failovers seeds the count of a
  // new controller, and its status.assignment.epoch the epoch a new
  // controller plans above (JobControllerOptions::min_epoch).
  void Sync(const nlohmann::json& owner, const JobFailoverSpec& spec);
  // Stops and drops the job's controller (resource deleted or invalid).
  void Forget(const kube::ObjectKey& key, const std::string& kind = "UserSignal");
  bool Has(const kube::ObjectKey& key, const std::string& kind = "UserSignal") const;
  std::optional<JobFailoverStatus> Status(const kube::ObjectKey& key,
                                          const std::string& kind = "UserSignal") const;

  // A watch event of a worker pod (labels usp.dev/job, usp.dev/kind). Other
  // pods are ignored.
  void OnPodEvent(const std::string& type, const nlohmann::json& pod);

  // Stops every controller; later Syncs are ignored. Idempotent.
  void Stop();

  // Tests (options.run_loops = false): one controller round, one manager round.
  bool Step(const kube::ObjectKey& key, const std::string& kind = "UserSignal");
  void Tick();

 private:
  struct PendingEvent {
    nlohmann::json owner;
    std::string type;
    std::string reason;
    std::string message;
  };
  // Shared with the controller's callbacks (which run on its loop thread).
  struct JobShared {
    std::mutex mu;
    nlohmann::json owner;  // GUARDED_BY(mu): the involvedObject of Events
  };
  using JobKey = std::pair<std::string, kube::ObjectKey>;  // kind, namespace/name
  struct Job {
    std::string kind;
    kube::ObjectKey key;
    PodTracker pods;
    std::shared_ptr<JobShared> shared;
    std::unique_ptr<JobController> controller;
    JobFailoverSpec spec;
    int64_t base_failovers = 0;
    std::map<std::string, int64_t> deleted;  // pod -> when its DELETED event came
    std::string shown;                       // what the last notify showed
    std::map<std::string, int64_t> lag;      // published lag by worker
    int64_t lag_published_ms = 0;
    explicit Job(int port) : pods(port) {}
  };

  int64_t Now() const;
  void Apply(Job& job, const std::vector<WorkerAction>& actions);
  void OnFailover(const JobKey& key, const std::shared_ptr<JobShared>& shared, const FailoverRecord& r);
  void Notify(const JobKey& key);
  void Loop();

  WorkerClient* const client_;
  MetricsRegistry* const metrics_;
  EventRecorder* const events_;
  const FailoverManagerOptions options_;
  std::function<void(const std::string&, const kube::ObjectKey&)> notify_;

  mutable std::mutex mu_;
  std::map<JobKey, std::unique_ptr<Job>> jobs_;  // GUARDED_BY(mu_)
  bool stopped_ = false;                                  // GUARDED_BY(mu_)

  std::mutex events_mu_;
  std::condition_variable events_cv_;
  std::deque<PendingEvent> pending_events_;  // GUARDED_BY(events_mu_)
  bool loop_stop_ = false;                   // GUARDED_BY(events_mu_)
  std::thread loop_;
};

// The Event message of a failover: pod, partitions, new owner(s), epoch,
// detection and handover durations, cause.
std::string FailoverEventMessage(const FailoverRecord& r);

}  // namespace usp::op
