#pragma once
// JobController: partition ownership and failover for ONE job, shared by both
// controllers — `uspctl local` (workers are child processes) and
// `usp-operator` (workers are pods). See ../../../shared/DESIGN.md, "Failover".
//
// The environment tells it which workers exist (UpsertWorker) and reports
// failures it sees first-hand (ReportFailure: a process exited, a pod was
// deleted or its container terminated). The controller itself probes every
// worker's GET /status each `probe_interval`; `failure_threshold` failed
// probes in a row mark a worker failed. Each Step() then runs the pure planner
// (core/partition_assignment.h) and applies a changed plan with the worker
// control protocol: workers that lose partitions are revoked first, then the
// new owners are granted theirs (they resume from the committed offsets), all
// with the new epoch. Every failover is recorded — worker, partitions, who
// took them, and the detection, handover and first-output moments — in the
// snapshot, the metrics usp_failovers_total and usp_failover_duration_seconds,
// and the OnFailover callback (Kubernetes Events, console lines).
//
// Thread-safe: Upsert/Report/Remove/Set*/Snapshot from any thread; Step() from
// one thread at a time (the loop that Start() runs, or a test).

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/partition_assignment.h"
#include "runtime/common/metrics.h"
#include "runtime/control/worker_client.h"

namespace prometheus {
class Counter;
class Histogram;
}  // namespace prometheus

namespace usp {

struct FailoverPolicy {
  int64_t probe_interval_ms = 500;  // spec.failover.probeInterval
  int failure_threshold = 2;        // spec.failover.failureThreshold
};

struct JobControllerOptions {
  std::string kind = "UserSignal";
  std::string job;
  int32_t num_partitions = 0;  // source partitions (the largest source topic's count)
  int32_t parallelism = 1;
  FailoverPolicy policy;
  // The first assignment waits until min(parallelism, partitions) workers are
  // warm, or this long, so that a job does not start on whichever worker
  // warmed up first.
  int64_t initial_settle_ms = 15000;
  int request_timeout_ms = 10000;  // PUT /assignment (a revoke drains and commits)
  // The newest epoch an earlier controller of the job is known to have used
  // (the resource's status.assignment.epoch): a controller that starts when
  // no worker holds an epoch (all of them new) plans above it rather than
  // reusing epoch 1, so epochs never go backwards across leaders.
  int64_t min_epoch = 0;
};

// One failover: a worker failed while it owned partitions.
struct FailoverRecord {
  std::string worker;
  std::string cause;  // "process exited: killed by signal 9", "2 probes failed: ..."
  std::vector<int32_t> partitions;
  std::vector<std::string> promoted;  // the new owners
  int64_t epoch = 0;                  // the epoch that moved them
  int64_t failed_at_ms = 0;           // best known moment of the failure
  int64_t detected_at_ms = 0;         // the controller marked it failed
  int64_t handed_over_at_ms = 0;      // every new owner acknowledged (0: not yet)
  int64_t first_output_ms = 0;        // a new owner's first output after it (0: not yet)
  bool waiting = false;               // no warm worker yet: the partitions wait

  int64_t detection_ms() const { return detected_at_ms - failed_at_ms; }
  int64_t handover_ms() const {
    return handed_over_at_ms > 0 ? handed_over_at_ms - detected_at_ms : -1;
  }
  // {"worker","cause","partitions","promoted","epoch","failedAt","detectedAt",
  //  "handedOverAt","firstOutputAt","detectionMs","handoverMs","totalMs","waiting"}
  // (times in ms since the epoch; absent when unknown).
  nlohmann::json ToJson() const;
};

struct ControlledWorker {
  std::string id;
  std::string url;
  bool healthy = false;  // answered its last probe(s), not reported failed
  bool warm = false;
  bool known_dead = false;  // reported failed by the environment
  int consecutive_failures = 0;
  std::string last_error;
  WorkerStatus status;  // from the last successful probe or PUT
};

struct JobControllerSnapshot {
  std::string kind;
  std::string job;
  PartitionAssignment assignment;
  std::vector<ControlledWorker> workers;  // by id
  std::vector<int32_t> unassigned;        // partitions waiting for a warm worker
  std::string reason;                     // of the latest plan that changed something
  int64_t failovers = 0;
  std::optional<FailoverRecord> last_failover;
  int64_t updated_at_ms = 0;

  // The CR status form: {"epoch","parallelism","workers":[{"name","role",
  // "partitions","warm","healthy","lag"}],"unassigned":[..],"reason"}.
  nlohmann::json AssignmentJson() const;
  // A fixed-width table for terminals (uspctl local).
  std::string Table() const;
};

class JobController {
 public:
  using Now = std::function<int64_t()>;  // wall-clock milliseconds

  // `client` must outlive the controller. `metrics` may be null.
  JobController(JobControllerOptions options, WorkerClient* client,
                MetricsRegistry* metrics = nullptr, Now now = nullptr);
  ~JobController();
  JobController(const JobController&) = delete;
  JobController& operator=(const JobController&) = delete;

  // A worker exists at `base_url` (a new process or pod, or one that came
  // back): it is probed from now on. A worker that was reported failed stays
  // out of its old partitions; the planner makes it a standby.
  void UpsertWorker(const std::string& id, const std::string& base_url);
  // The environment saw `id` fail at `failed_at_ms`. Wakes the loop. With
  // `revoke`, the worker is still reachable (a pod being deleted gracefully):
  // its partitions are revoked, drained and committed before they move.
  void ReportFailure(const std::string& id, const std::string& cause, int64_t failed_at_ms,
                     bool revoke = false);
  // The worker is gone for good (scaled down, pod deleted).
  void RemoveWorker(const std::string& id);
  void SetParallelism(int32_t parallelism);
  void SetNumPartitions(int32_t num_partitions);
  void SetPolicy(FailoverPolicy policy);

  // Called (on the loop thread) once a failover's partitions are handed over,
  // and again when its first output is known.
  void OnFailover(std::function<void(const FailoverRecord&)> callback);
  // Called (on the loop thread) after every applied assignment change.
  void OnAssignment(std::function<void(const JobControllerSnapshot&)> callback);

  // One round: probe every worker, mark failures, plan, apply. Returns true
  // when it changed the assignment (callers may step again soon).
  bool Step();

  // Runs Step() every probe interval (at once after a ReportFailure) on a
  // thread of its own until Stop().
  void Start();
  void Stop();

  JobControllerSnapshot Snapshot() const;

 private:
  struct Tracked {
    ControlledWorker view;
    int64_t first_failure_ms = 0;
    int64_t failed_at_ms = 0;
    int64_t detected_at_ms = 0;
    std::string cause;
    bool revoke = false;
    bool failure_recorded = false;  // its failover record exists
    // Known dead and seen so by a Step (a plan has taken its partitions away).
    bool failure_planned = false;
    // A new incarnation announced before the failure was planned; it takes
    // over the entry once it is.
    std::string pending_url;
    uint64_t generation = 0;  // bumped by every change from the environment
  };

  void Probe(std::map<std::string, Tracked>& workers, int64_t now);
  bool PlanAndApply(std::map<std::string, Tracked>& workers, int64_t now);
  void TrackFirstOutput(const std::map<std::string, Tracked>& workers);
  void Loop();
  void Publish(const std::map<std::string, Tracked>& workers);

  const JobControllerOptions base_options_;
  WorkerClient* client_;
  Now now_;
  prometheus::Counter* failovers_counter_ = nullptr;
  prometheus::Histogram* failover_duration_ = nullptr;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool wake_requested_ = false;
  bool stop_ = false;
  JobControllerOptions options_;            // GUARDED_BY(mutex_): parallelism etc.
  std::map<std::string, Tracked> workers_;  // GUARDED_BY(mutex_)
  JobControllerSnapshot snapshot_;          // GUARDED_BY(mutex_)
  std::function<void(const FailoverRecord&)> on_failover_;
  std::function<void(const JobControllerSnapshot&)> on_assignment_;

  // Loop thread only.
  PartitionAssignment assignment_;
  std::vector<int32_t> unassigned_;
  std::string reason_;
  int64_t started_ms_ = 0;
  int64_t failovers_ = 0;
  std::vector<FailoverRecord> open_records_;  // waiting, or waiting for first output
  std::optional<FailoverRecord> last_failover_;
  std::thread thread_;
};

}  // namespace usp
