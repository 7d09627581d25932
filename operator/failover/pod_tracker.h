#pragma once
// PodTracker: what the watch events of one job's worker pods mean for its
// JobController (runtime/control/job_controller.h). Pure: it takes pod
// objects as the API serves them and returns the calls to make, so the
// mapping is table-tested without a cluster or a controller.
//
//   pod Running, container running, status.podIP set -> Upsert(pod, http://IP:PORT)
//     (again for a new container incarnation: a restart in place)
//   container terminated (state or a newer lastState / restartCount++)
//                                                    -> Failure("container terminated: exit code N
//                                                    (reason)",
//                                                               finishedAt)
//   metadata.deletionTimestamp set (graceful delete) -> Failure("pod terminating", now, revoke)
//   DELETED                                          -> Failure("pod deleted", now), Remove
//
// Only pods that were announced (Upsert) produce failures: the controller
// ignores workers it never knew. PORT is the worker container's port named
// "http" (`--worker-http-port`), else the tracker's default.
//
// finishedAt has one-second precision in Kubernetes. Without a fraction the
// failure time is taken as the latest moment the timestamp allows
// (finishedAt + 999 ms, at most the observation time), so the reported
// detection time is never overstated (and at most a second short).
//
// Not thread-safe: the FailoverManager serializes calls.

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace usp::op {

struct WorkerAction {
  enum class Type { kUpsert, kFailure, kRemove };
  Type type = Type::kUpsert;
  std::string worker;        // the pod name
  std::string url;           // kUpsert: "http://<podIP>:<port>"
  std::string cause;         // kFailure
  int64_t failed_at_ms = 0;  // kFailure: best known moment of the failure
  bool revoke = false;       // kFailure: still reachable, drain and commit first

  // "upsert P URL", "failure P @MS [revoke] CAUSE", "remove P" (tests, logs).
  std::string ToString() const;
};

class PodTracker {
 public:
  explicit PodTracker(int default_port = 8081) : default_port_(default_port) {}

  // type: ADDED, MODIFIED or DELETED; now_ms: wall-clock time of the observation.
  std::vector<WorkerAction> Observe(const std::string& type, const nlohmann::json& pod,
                                    int64_t now_ms);
  // An Upsert for every pod whose worker runs now: what a JobController
  // created after the pods were seen must be told.
  std::vector<WorkerAction> Running() const;
  bool Empty() const { return pods_.empty(); }

 private:
  struct PodState {
    std::string uid;
    std::string url;          // last announced URL
    std::string incarnation;  // container ID (or start time) last announced
    bool running = false;     // announced and not failed since
    bool terminating = false;
    int64_t restart_count = 0;
    std::string reported_termination;  // identity of the last terminated state seen
  };

  const int default_port_;
  std::map<std::string, PodState> pods_;  // by pod name
};

// Milliseconds since the epoch of a Kubernetes timestamp (see above for
// second-precision values); `now_ms` when absent or malformed.
int64_t FailureTimeMs(const std::string& rfc3339, int64_t now_ms);

}  // namespace usp::op
