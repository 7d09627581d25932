#pragma once
// What the worker control protocol (worker_endpoints.h) needs of a worker
// loop, simple (SignalWorker) or stateful (runtime/stateful): readiness, a
// heartbeat, a consistent status snapshot, and assignments with epochs.

#include <cstdint>
#include <future>
#include <string>
#include <vector>

#include "runtime/kafka/kafka_client.h"

namespace usp {

// What a submitted assignment came to.
enum class AssignmentResult {
  kApplied,      // a newer epoch: now owned
  kUnchanged,    // the current epoch with the same partitions (idempotent)
  kStale,        // an epoch older than the current one: rejected
  kConflicting,  // the current epoch with other partitions: rejected
  kInvalid,      // a negative or out-of-range partition: rejected
  kUnavailable,  // could not drain/commit/assign (Kafka): nothing changed
};

struct AssignmentOutcome {
  AssignmentResult result = AssignmentResult::kUnavailable;
  std::string message;  // why, for every result but kApplied/kUnchanged
};

// The pure epoch rule. `current` and `wanted` are sorted and unique.
AssignmentResult CheckAssignmentEpoch(int64_t current_epoch, const std::vector<int32_t>& current,
                                      int64_t epoch, const std::vector<int32_t>& wanted);

// A consistent copy of the worker's state for /status.
struct WorkerSnapshot {
  bool started = false;                    // Start() succeeded: metadata fetched (warm)
  int64_t epoch = 0;                       // the assignment epoch in force
  std::vector<int32_t> partitions;         // owned partition numbers, sorted
  std::vector<TopicPartition> assignment;  // per source topic
  // Per owned partition, the next offset committed by the group (-1: none).
  std::vector<TopicPartitionOffset> committed;
  int64_t lag = 0;  // messages behind, summed over owned partitions (known ones)
  // Clock time the current assignment was applied, and of the first output
  // acknowledged after it (0: none yet). The controller reads the second to
  // report a failover's "first output" moment.
  int64_t assigned_at_ms = 0;
  int64_t first_output_ms = 0;
  // Stateful jobs: changelog records behind over the followed partitions
  // (-1: not stateful or unknown).
  int64_t replica_lag = -1;
};

// Thread-safe: called from HTTP threads while the loop runs.
class AssignableWorker {
 public:
  virtual ~AssignableWorker() = default;
  virtual bool ready() const = 0;
  // Clock time at the start of the latest loop iteration, 0 before the first.
  virtual int64_t last_heartbeat_ms() const = 0;
  virtual WorkerSnapshot Snapshot() const = 0;
  // Queued for the loop; the future is set once it applied or rejected it.
  virtual std::future<AssignmentOutcome> SubmitAssignment(int64_t epoch,
                                                          std::vector<int32_t> partitions) = 0;
};

}  // namespace usp
