#pragma once
// Kubernetes Events for significant transitions of a resource (Created
// Deployment, InvalidSpec, Ready), as `kubectl describe` shows them.
// Recording is best effort: a failure is logged, never returned.

#include <atomic>
#include <string>

#include <nlohmann/json.hpp>

#include "operator/controller/clock.h"
#include "operator/kube/kube_client.h"

namespace usp::op {

class EventRecorder {
 public:
  virtual ~EventRecorder() = default;
  // type: "Normal" or "Warning"; reason: CamelCase.
  virtual void Record(const nlohmann::json& object, const std::string& type, const std::string& reason,
                      const std::string& message) = 0;
};

// Writes core/v1 Events (what kubectl describe lists) in the object's namespace.
class KubeEventRecorder : public EventRecorder {
 public:
  KubeEventRecorder(kube::KubeClient* client, const Clock* clock, std::string component, std::string instance)
      : client_(client), clock_(clock), component_(std::move(component)), instance_(std::move(instance)) {}
  void Record(const nlohmann::json& object, const std::string& type, const std::string& reason,
              const std::string& message) override;

  // The Event object Record() creates (exposed for tests).
  nlohmann::json BuildEvent(const nlohmann::json& object, const std::string& type, const std::string& reason,
                            const std::string& message);

 private:
  kube::KubeClient* const client_;
  const Clock* const clock_;
  const std::string component_;
  const std::string instance_;
  std::atomic<uint64_t> sequence_{0};
};

}  // namespace usp::op
