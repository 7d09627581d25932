#pragma once
// Leader election on a coordination.k8s.io/v1 Lease, with client-go's
// algorithm: a candidate takes the lease when it is free (no holder) or
// when the holder has not renewed it for leaseDurationSeconds *as observed
// by this candidate's own clock* (no clock-skew assumptions); the leader
// renews every retry_period and gives up when it could not renew for
// renew_deadline. Every write is a compare-and-swap on resourceVersion, so
// two candidates never both succeed.

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "operator/controller/clock.h"
#include "operator/kube/kube_client.h"

namespace usp::op {

struct LeaderElectionConfig {
  std::string lease_namespace = "default";
  std::string lease_name = "usp-operator";
  std::string identity;  // unique per candidate (pod name + random suffix)
  std::chrono::milliseconds lease_duration{15'000};
  std::chrono::milliseconds renew_deadline{10'000};
  std::chrono::milliseconds retry_period{2'000};
};

class LeaderElector {
 public:
  LeaderElector(kube::KubeClient* client, const Clock* clock, LeaderElectionConfig config);

  // One attempt to acquire or renew. Returns true when this candidate holds
  // the lease afterwards.
  bool TryAcquireOrRenew();
  // Gives the lease up (holder cleared) if this candidate holds it.
  void Release();
  bool IsLeader() const { return leader_; }
  const LeaderElectionConfig& config() const { return config_; }

  // Blocks: retries to acquire every retry_period until `stop()`, then
  // calls on_started_leading and renews; returns when leadership is lost
  // (renew failed for renew_deadline; returns false) or on stop() (releases
  // the lease; returns true). on_stopped_leading runs in both cases once
  // leadership had been acquired.
  bool Run(const std::function<bool()>& stop, const std::function<void()>& on_started_leading,
           const std::function<void()>& on_stopped_leading);

 private:
  nlohmann::json NewLeaseSpec(const nlohmann::json& old_spec, TimePoint now) const;

  kube::KubeClient* const client_;
  const Clock* const clock_;
  const LeaderElectionConfig config_;
  std::atomic<bool> leader_{false};

  std::mutex mu_;
  nlohmann::json observed_spec_;  // the last lease spec seen; GUARDED_BY(mu_)
  TimePoint observed_time_{};     // when it was first seen; GUARDED_BY(mu_)
};

}  // namespace usp::op
