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

#include "core/user_signal.h"
#include "runtime/common/metrics.h"
#include "runtime/http/http_server.h"
#include "runtime/worker/signal_worker.h"
#include "runtime/worker/worker_io.h"

namespace usp {

inline constexpr int64_t kHeartbeatTimeoutMs = 10000;

class WorkerEndpoints {
 public:
  WorkerEndpoints(const UserSignal& signal, MetricsRegistry* metrics, Clock* clock,
                  int assignment_timeout_ms = 5000);

  // While connecting (before the loop runs) the caller beats here.
  void StartupHeartbeat() { startup_heartbeat_ms_.store(clock_->NowMs()); }
  // The worker (null: none yet / gone). /status reads its Snapshot().
  void SetWorker(SignalWorker* worker);

  HttpResponse Handle(const HttpRequest& request);

 private:
  HttpResponse StatusResponse(SignalWorker* worker) const;
  HttpResponse PutAssignment(SignalWorker* worker, const std::string& body);

  const UserSignal& signal_;
  MetricsRegistry* metrics_;
  Clock* clock_;
  int assignment_timeout_ms_;
  std::atomic<int64_t> startup_heartbeat_ms_{0};
  std::atomic<SignalWorker*> worker_{nullptr};
};

}  // namespace usp
