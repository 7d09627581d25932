#pragma once
// The controller-runtime contract: Reconcile(key) reads the world for one
// object, converges it, and says when to look again. It is level-triggered
// (it must not care which event caused the call) and idempotent (a second
// call on a converged object writes nothing).

#include <chrono>
#include <string>

#include "core/status.h"
#include "operator/kube/object.h"

namespace usp::op {

struct ReconcileResult {
  bool requeue = false;                      // again at once (e.g. state moved under us)
  std::chrono::milliseconds requeue_after{0};  // again after this; 0: only on the next event
};

class Reconciler {
 public:
  virtual ~Reconciler() = default;
  // The kind it reconciles ("UserSignal"): a metrics label.
  virtual std::string Kind() const = 0;
  // An error makes the controller retry the key with backoff.
  virtual Result<ReconcileResult> Reconcile(const kube::ObjectKey& key) = 0;
};

}  // namespace usp::op
