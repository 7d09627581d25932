#pragma once
// The worker's HTTP endpoints, served by runtime/http's HttpServer:
//   GET /healthz  200 while the loop is alive (a heartbeat within 10 s)
//   GET /readyz   200 once Kafka metadata is known and partitions assigned
//   GET /status   {"kind","job","ready","warm","partitions":[{topic,partition}]}
//   GET /metrics  Prometheus text format
// Handlers run on HTTP I/O threads: everything they read is atomic or locked.

#include <atomic>
#include <cstdint>
#include <mutex>
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
  WorkerEndpoints(const UserSignal& signal, MetricsRegistry* metrics, Clock* clock);

  // While connecting (before the loop runs) the caller beats here.
  void StartupHeartbeat() { startup_heartbeat_ms_.store(clock_->NowMs()); }
  // The worker (null: none yet / gone). Call again after its Start() so
  // /status lists the assignment.
  void SetWorker(SignalWorker* worker);

  HttpResponse Handle(const HttpRequest& request);

 private:
  // REQUIRES: called on the worker's thread (reads its assignment).
  static std::string PartitionsJson(const SignalWorker* worker);

  const UserSignal& signal_;
  MetricsRegistry* metrics_;
  Clock* clock_;
  std::atomic<int64_t> startup_heartbeat_ms_{0};
  std::atomic<SignalWorker*> worker_{nullptr};
  std::mutex mutex_;
  std::string partitions_json_ = "[]";  // GUARDED_BY(mutex_)
};

}  // namespace usp
