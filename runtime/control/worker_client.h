#pragma once
// The controller's side of the worker control protocol (runtime/worker/README.md):
// GET /status and PUT /assignment on one worker. An interface so the
// JobController is tested with a fake; HttpWorkerClient is the real one.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"

namespace usp {

// What a worker reports on GET /status (the fields the controller uses).
struct WorkerStatus {
  std::string role;  // "active" | "standby"
  int64_t epoch = 0;
  bool ready = false;
  bool warm = false;
  std::vector<int32_t> partitions;
  int64_t lag = 0;
  // A stateful worker's changelog records not yet in its store, over the
  // partitions it follows (a standby's all); -1: not reported or not known.
  int64_t replica_lag = -1;
  int64_t assigned_at_ms = 0;
  int64_t first_output_ms = 0;
};

// InvalidArgument when `body` is not a worker status document.
Result<WorkerStatus> ParseWorkerStatus(const std::string& body);

class WorkerClient {
 public:
  virtual ~WorkerClient() = default;
  // base_url: "http://HOST:PORT". Unavailable when the worker cannot be reached
  // or answers with an error.
  virtual Result<WorkerStatus> GetStatus(const std::string& base_url, int timeout_ms) = 0;
  // InvalidArgument when the worker rejects the assignment (409 stale_epoch or
  // conflicting_assignment, 400); Unavailable when it cannot be reached or
  // could not apply it (503).
  virtual Result<WorkerStatus> PutAssignment(const std::string& base_url, int64_t epoch,
                                             const std::vector<int32_t>& partitions,
                                             int timeout_ms) = 0;
};

std::unique_ptr<WorkerClient> NewHttpWorkerClient();

}  // namespace usp
