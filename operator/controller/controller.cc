#include "operator/controller/controller.h"

#include <chrono>

#include <spdlog/spdlog.h>

namespace usp::op {

Controller::Controller(Reconciler* reconciler, ControllerMetrics* metrics, int workers,
                       WorkQueueOptions queue_options)
    : reconciler_(reconciler), metrics_(metrics), workers_(workers), kind_(reconciler->Kind()),
      queue_(queue_options) {}

Controller::~Controller() { Stop(); }

void Controller::Start() {
  for (int i = 0; i < workers_; ++i) {
    threads_.emplace_back([this] {
      while (auto key = queue_.Get()) {
        Handle(*key);
        queue_.Done(*key);
      }
    });
  }
}

void Controller::Stop() {
  queue_.ShutDown();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

void Controller::ProcessNext() {
  auto key = queue_.Get();
  if (!key) return;
  Handle(*key);
  queue_.Done(*key);
}

void Controller::Handle(const std::string& key) {
  const auto start = std::chrono::steady_clock::now();
  // JSON objects come from the API server: a malformed one must fail the
  // key (and be retried), not the process.
  Result<ReconcileResult> result = Status::Internal("unset");
  try {
    result = reconciler_->Reconcile(kube::ObjectKey::Parse(key));
  } catch (const std::exception& e) {
    result = Status::Internal(std::string("unexpected exception: ") + e.what());
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::string outcome;
  if (!result.ok()) {
    outcome = "error";
    spdlog::warn("reconcile {} {}: {} (retry {} in {}ms)", kind_, key, result.status().ToString(),
                 queue_.NumRequeues(key) + 1, queue_.NextBackoff(key).count());
    queue_.AddRateLimited(key);
  } else if (result->requeue) {
    outcome = "requeue";
    queue_.AddRateLimited(key);
  } else {
    outcome = "success";
    queue_.Forget(key);
    if (result->requeue_after.count() > 0) queue_.AddAfter(key, result->requeue_after);
  }
  spdlog::info("reconciled {} {}: {} in {:.3f}s", kind_, key, outcome, seconds);
  if (metrics_ != nullptr) {
    metrics_->ObserveReconcile(kind_, outcome, seconds);
    metrics_->SetQueueDepth(kind_, static_cast<double>(queue_.Len()));
  }
}

}  // namespace usp::op
