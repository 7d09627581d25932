#pragma once
// AsyncComputeClient: POSTs SessionJob window results to the asyncCompute
// service (spec.asyncCompute {url, timeout, maxInFlight, retries}) without
// ever blocking the caller.
//
//  - Submit() only enqueues (a mutex and a deque push; it may start a pool
//    thread). At most max_in_flight requests run at once; the rest wait in
//    a bounded queue. When the client already holds max_in_flight +
//    queue_capacity results (waiting, running, or finished but not yet
//    polled), Submit() returns nullopt and the result is counted as
//    result="overflow".
//  - Each request: POST url, body = the record JSON, Content-Type
//    application/json, `timeout_ms` over the whole exchange (runtime/http
//    HttpCall). Connection errors, timeouts and 5xx are retried up to
//    `retries` times with exponential backoff (backoff_initial_ms doubling
//    up to backoff_max_ms); 4xx (and any other non-2xx) are not. A 2xx
//    answer must be a JSON document; it is returned in compact form.
//  - Outcomes are collected by Poll() on the owner's thread (the worker loop
//    is single-threaded): nothing of the owner runs on the pool threads.
//  - Metrics (when a registry is given), labels kind and job:
//      usp_async_compute_requests_total{result="ok|error|timeout|overflow"}
//        once per submitted result, at its final outcome;
//      usp_async_compute_latency_seconds  Submit -> final outcome (queue wait
//        and retries included), ok/error/timeout;
//      usp_async_compute_retries_total    retried attempts.
//
// Threads: one per concurrent request, started on demand, at most
// min(max_in_flight, kMaxAsyncComputeThreads); so a maxInFlight above that
// limit runs at most kMaxAsyncComputeThreads requests at once.
// Only http:// URLs (https:// answers result="error", not retried).
// Thread-safe.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/histogram.h>

#include "core/session/session_job.h"
#include "runtime/common/metrics.h"

namespace usp {

inline constexpr int32_t kMaxAsyncComputeThreads = 64;

enum class AsyncOutcome { kOk, kError, kTimeout, kOverflow };
const char* ToString(AsyncOutcome outcome);  // "ok" | "error" | "timeout" | "overflow"

struct AsyncComputeOptions {
  std::string kind = "SessionJob";  // metric labels
  std::string job;
  std::string url;
  int64_t timeout_ms = 5000;  // one attempt
  int32_t max_in_flight = 32;
  int32_t retries = 2;
  size_t queue_capacity = 1000;  // results waiting for a slot
  int64_t backoff_initial_ms = 50;
  int64_t backoff_max_ms = 2000;

  static AsyncComputeOptions FromSpec(const AsyncComputeSpec& spec, std::string kind,
                                      std::string job);
};

struct AsyncComputeResult {
  uint64_t id = 0;  // as returned by Submit()
  AsyncOutcome outcome = AsyncOutcome::kError;
  std::string answer;    // kOk: the service's answer, compact JSON
  std::string error;     // otherwise: why (of the last attempt)
  int http_status = 0;   // of the last attempt; 0 when there was no HTTP answer
  int attempts = 0;
  double latency_s = 0;  // Submit() -> outcome
};

class AsyncComputeMetrics {
 public:
  AsyncComputeMetrics(MetricsRegistry* registry, const std::string& kind, const std::string& job);
  void Count(AsyncOutcome outcome);
  void Latency(double seconds) { latency_->Observe(seconds); }
  void Retry() { retries_->Increment(); }

 private:
  prometheus::Counter* results_[4];
  prometheus::Histogram* latency_;
  prometheus::Counter* retries_;
};

class AsyncComputeClient {
 public:
  // `metrics` may be null (no metrics); it must outlive the client.
  AsyncComputeClient(AsyncComputeOptions options, MetricsRegistry* metrics);
  // Stop().
  ~AsyncComputeClient();
  AsyncComputeClient(const AsyncComputeClient&) = delete;
  AsyncComputeClient& operator=(const AsyncComputeClient&) = delete;

  // Enqueues `body` for POSTing; the request's id, or nullopt when the client
  // is full (counted as overflow) or stopped. Never waits for the service.
  std::optional<uint64_t> Submit(std::string body);
  // Appends the finished results to *out; returns how many.
  size_t Poll(std::vector<AsyncComputeResult>* out);
  // Waits up to `timeout_ms` until a result can be polled or nothing is
  // outstanding; true when a result can be polled.
  bool WaitForResults(int timeout_ms);
  // Waiting + running + finished-not-polled.
  size_t outstanding() const;
  size_t in_flight() const;
  // Drops waiting requests, interrupts backoffs and joins the threads (each
  // running attempt ends within timeout_ms). Results not yet polled stay
  // pollable. Idempotent.
  void Stop();

  const AsyncComputeOptions& options() const { return options_; }

 private:
  struct Request {
    uint64_t id;
    std::string body;
    std::chrono::steady_clock::time_point submitted;
  };
  void WorkerLoop();
  AsyncComputeResult Execute(const Request& request);
  // Sleeps `ms` unless stopped; false when stopped.
  bool Backoff(int64_t ms);

  const AsyncComputeOptions options_;
  const size_t thread_limit_;
  std::unique_ptr<AsyncComputeMetrics> metrics_;

  mutable std::mutex mutex_;
  std::condition_variable work_cv_;  // requests waiting, or stop
  std::condition_variable done_cv_;  // a result finished
  std::condition_variable stop_cv_;  // stopping_ set (interrupts backoffs)
  std::deque<Request> waiting_;          // GUARDED_BY(mutex_)
  std::vector<AsyncComputeResult> done_;  // GUARDED_BY(mutex_)
  size_t running_ = 0;                   // GUARDED_BY(mutex_)
  size_t idle_threads_ = 0;              // GUARDED_BY(mutex_)
  bool stopping_ = false;                // GUARDED_BY(mutex_)
  uint64_t next_id_ = 1;                 // GUARDED_BY(mutex_)
  std::vector<std::thread> threads_;     // GUARDED_BY(mutex_)
};

}  // namespace usp
