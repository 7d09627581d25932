#pragma once
// Controller: `workers` threads taking keys from a WorkQueue and calling a
// Reconciler, controller-runtime style. An error retries the key with
// per-key exponential backoff; requeue_after schedules the next look; a
// success forgets the key's failures. The queue guarantees one key is never
// reconciled by two workers at once.

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "operator/controller/controller_metrics.h"
#include "operator/controller/reconciler.h"
#include "operator/controller/work_queue.h"

namespace usp::op {

class Controller {
 public:
  // `metrics` may be null.
  Controller(Reconciler* reconciler, ControllerMetrics* metrics, int workers, WorkQueueOptions queue_options = {});
  ~Controller();

  WorkQueue& queue() { return queue_; }
  const std::string& kind() const { return kind_; }
  void Start();
  // Shuts the queue down and joins the workers (in-flight reconciles finish).
  void Stop();
  // Handles one key synchronously (tests; the workers use it too).
  void ProcessNext();

 private:
  void Handle(const std::string& key);

  Reconciler* const reconciler_;
  ControllerMetrics* const metrics_;
  const int workers_;
  const std::string kind_;
  WorkQueue queue_;
  std::vector<std::thread> threads_;
};

}  // namespace usp::op
