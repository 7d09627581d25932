#include "runtime/async/async_compute_client.h"

#include <algorithm>
#include <limits>
#include <utility>

#include <nlohmann/json.hpp>
#include <prometheus/family.h>
#include <spdlog/spdlog.h>

#include "runtime/http/http_client.h"

namespace usp {

namespace {

constexpr AsyncOutcome kOutcomes[] = {AsyncOutcome::kOk, AsyncOutcome::kError,
                                      AsyncOutcome::kTimeout, AsyncOutcome::kOverflow};

std::string Truncated(const std::string& text, size_t max = 200) {
  return text.size() <= max ? text : text.substr(0, max) + "...";
}

}  // namespace

const char* ToString(AsyncOutcome outcome) {
  switch (outcome) {
    case AsyncOutcome::kOk:
      return "ok";
    case AsyncOutcome::kError:
      return "error";
    case AsyncOutcome::kTimeout:
      return "timeout";
    case AsyncOutcome::kOverflow:
      return "overflow";
  }
  return "error";
}

AsyncComputeOptions AsyncComputeOptions::FromSpec(const AsyncComputeSpec& spec, std::string kind,
                                                  std::string job) {
  AsyncComputeOptions o;
  o.kind = std::move(kind);
  o.job = std::move(job);
  o.url = spec.url;
  o.timeout_ms = spec.timeout_ms;
  o.max_in_flight = spec.max_in_flight;
  o.retries = spec.retries;
  return o;
}

AsyncComputeMetrics::AsyncComputeMetrics(MetricsRegistry* registry, const std::string& kind,
                                         const std::string& job) {
  prometheus::Registry& r = registry->registry();
  auto& requests = prometheus::BuildCounter()
                       .Name("usp_async_compute_requests_total")
                       .Help("asyncCompute window results by final outcome.")
                       .Register(r);
  for (AsyncOutcome o : kOutcomes) {
    results_[static_cast<int>(o)] =
        &requests.Add({{"kind", kind}, {"job", job}, {"result", ToString(o)}});
  }
  latency_ = &prometheus::BuildHistogram()
                  .Name("usp_async_compute_latency_seconds")
                  .Help("asyncCompute: submitted to final outcome, queueing and retries included.")
                  .Register(r)
                  .Add({{"kind", kind}, {"job", job}}, LatencyBuckets());
  retries_ = &prometheus::BuildCounter()
                  .Name("usp_async_compute_retries_total")
                  .Help("asyncCompute attempts retried after a connection error, timeout or 5xx.")
                  .Register(r)
                  .Add({{"kind", kind}, {"job", job}});
}

void AsyncComputeMetrics::Count(AsyncOutcome outcome) {
  results_[static_cast<int>(outcome)]->Increment();
}

AsyncComputeClient::AsyncComputeClient(AsyncComputeOptions options, MetricsRegistry* metrics)
    : options_(std::move(options)),
      thread_limit_(static_cast<size_t>(
          std::clamp<int32_t>(options_.max_in_flight, 1, kMaxAsyncComputeThreads))),
      metrics_(metrics != nullptr
                   ? std::make_unique<AsyncComputeMetrics>(metrics, options_.kind, options_.job)
                   : nullptr) {}

AsyncComputeClient::~AsyncComputeClient() { Stop(); }

std::optional<uint64_t> AsyncComputeClient::Submit(std::string body) {
  std::lock_guard<std::mutex> lock(mutex_);
  const size_t capacity = thread_limit_ + options_.queue_capacity;
  if (stopping_ || waiting_.size() + running_ + done_.size() >= capacity) {
    if (metrics_) metrics_->Count(AsyncOutcome::kOverflow);
    return std::nullopt;
  }
  const uint64_t id = next_id_++;
  waiting_.push_back({id, std::move(body), std::chrono::steady_clock::now()});
  // Idle threads already notified still count as idle until they pop: start a
  // thread when the waiting requests outnumber them.
  if (waiting_.size() > idle_threads_ && threads_.size() < thread_limit_) {
    threads_.emplace_back([this] { WorkerLoop(); });
  }
  work_cv_.notify_one();
  return id;
}

size_t AsyncComputeClient::Poll(std::vector<AsyncComputeResult>* out) {
  std::lock_guard<std::mutex> lock(mutex_);
  const size_t n = done_.size();
  for (auto& r : done_) out->push_back(std::move(r));
  done_.clear();
  return n;
}

bool AsyncComputeClient::WaitForResults(int timeout_ms) {
  std::unique_lock<std::mutex> lock(mutex_);
  done_cv_.wait_for(lock, std::chrono::milliseconds(std::max(timeout_ms, 0)), [this] {
    return !done_.empty() || (waiting_.empty() && running_ == 0);
  });
  return !done_.empty();
}

size_t AsyncComputeClient::outstanding() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return waiting_.size() + running_ + done_.size();
}

size_t AsyncComputeClient::in_flight() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return running_;
}

void AsyncComputeClient::Stop() {
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
    waiting_.clear();
    threads.swap(threads_);
  }
  work_cv_.notify_all();
  stop_cv_.notify_all();
  for (auto& t : threads) t.join();
  done_cv_.notify_all();
}

void AsyncComputeClient::WorkerLoop() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    ++idle_threads_;
    work_cv_.wait(lock, [this] {
      return stopping_ ||
             (!waiting_.empty() && running_ < static_cast<size_t>(options_.max_in_flight));
    });
    --idle_threads_;
    if (stopping_) return;
    Request request = std::move(waiting_.front());
    waiting_.pop_front();
    ++running_;
    lock.unlock();
    AsyncComputeResult result = Execute(request);
    lock.lock();
    --running_;
    done_.push_back(std::move(result));
    done_cv_.notify_all();
  }
}

bool AsyncComputeClient::Backoff(int64_t ms) {
  std::unique_lock<std::mutex> lock(mutex_);
  return !stop_cv_.wait_for(lock, std::chrono::milliseconds(ms), [this] { return stopping_; });
}

AsyncComputeResult AsyncComputeClient::Execute(const Request& request) {
  AsyncComputeResult result;
  result.id = request.id;
  const int timeout_ms = static_cast<int>(
      std::clamp<int64_t>(options_.timeout_ms, 1, std::numeric_limits<int>::max()));
  const int attempts = std::max(options_.retries, 0) + 1;
  int64_t backoff_ms = std::max<int64_t>(options_.backoff_initial_ms, 0);
  for (int attempt = 0; attempt < attempts; ++attempt) {
    if (attempt > 0) {
      if (metrics_) metrics_->Retry();
      if (!Backoff(backoff_ms)) {
        result.outcome = AsyncOutcome::kError;
        result.error = "stopped before retrying: " + result.error;
        break;
      }
      backoff_ms = std::min(backoff_ms * 2, std::max<int64_t>(options_.backoff_max_ms, 0));
    }
    result.attempts = attempt + 1;
    result.http_status = 0;
    bool retryable = false;
    auto response = HttpCall("POST", options_.url, request.body, timeout_ms);
    if (!response.ok()) {
      result.error = response.status().message();
      if (response.status().code() == Status::Code::kInvalidArgument) {
        result.outcome = AsyncOutcome::kError;  // bad URL: retrying cannot help
      } else if (result.error.find("no answer within") != std::string::npos) {
        result.outcome = AsyncOutcome::kTimeout;
        retryable = true;
      } else {
        result.outcome = AsyncOutcome::kError;  // resolve/connect/send/read failure
        retryable = true;
      }
    } else {
      result.http_status = response->status;
      if (response->status >= 200 && response->status < 300) {
        auto answer = nlohmann::json::parse(response->body, nullptr, /*allow_exceptions=*/false);
        if (answer.is_discarded()) {
          result.outcome = AsyncOutcome::kError;
          result.error = "HTTP " + std::to_string(response->status) +
                         ": the answer is not JSON: " + Truncated(response->body);
        } else {
          result.outcome = AsyncOutcome::kOk;
          result.answer = answer.dump();
          result.error.clear();
        }
      } else {
        result.outcome = AsyncOutcome::kError;
        result.error = "HTTP " + std::to_string(response->status) + ": " + Truncated(response->body);
        retryable = response->status >= 500;
      }
    }
    if (!retryable) break;
  }
  result.latency_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - request.submitted).count();
  if (metrics_) {
    metrics_->Count(result.outcome);
    metrics_->Latency(result.latency_s);
  }
  return result;
}

}  // namespace usp
