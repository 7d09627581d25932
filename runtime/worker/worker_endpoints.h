#pragma once
// The worker's HTTP endpoints, served by runtime/http's HttpServer:
//   GET /healthz  200 while the loop is alive (a heartbeat within 10 s)
//   GET /readyz   200 once Kafka metadata is known and partitions assigned
//   GET /status   {"kind","job","role","epoch","ready","warm","partitions":[0,3],
//                  "assignment":[{topic,partition}],"committed":{topic:{partition:offset}},
//                  "lag":N,"assigned_at_ms":T,"first_output_ms":T|0}
//   PUT /assignment {"epoch":N,"partitions":[0,3,5]}: handed to the loop, waits
//                 up to `assignment_timeout_ms` (503 on timeout); see README.md
//   GET /metrics  Prometheus text format
// Handlers run on HTTP I/O threads: everything they read is atomic or locked.

#include <atomic>
#include <cstdint>
#include <string>
#include <utility>

#include "runtime/common/metrics.h"
#include "runtime/http/http_server.h"
#include "runtime/worker/assignable_worker.h"
#include "runtime/worker/worker_io.h"

namespace usp {

inline constexpr int64_t kHeartbeatTimeoutMs = 10000;

class WorkerEndpoints {
 public:
  // `kind` and `job` name the job in /status ("UserSignal", "searches").
  WorkerEndpoints(std::string kind, std::string job, MetricsRegistry* metrics, Clock* clock,
                  int assignment_timeout_ms = 5000);

  // While connecting (before the loop runs) the caller beats here.
  void StartupHeartbeat() { startup_heartbeat_ms_.store(clock_->NowMs()); }
  // The worker (null: none yet / gone). /status reads its Snapshot().
  void SetWorker(AssignableWorker* worker);

  HttpResponse Handle(const HttpRequest& request);

 private:
  HttpResponse StatusResponse(AssignableWorker* worker) const;
  HttpResponse PutAssignment(AssignableWorker* worker, const std::string& body);

  const std::string kind_;
  const std::string job_;
  MetricsRegistry* metrics_;
  Clock* clock_;
  int assignment_timeout_ms_;
  std::atomic<int64_t> startup_heartbeat_ms_{0};
  std::atomic<AssignableWorker*> worker_{nullptr};
};

}  // namespace usp
