#include "operator/controller/leader_election.h"

#include <thread>

#include <spdlog/spdlog.h>

#include "operator/kube/object.h"

namespace usp::op {

using nlohmann::json;

LeaderElector::LeaderElector(kube::KubeClient* client, const Clock* clock, LeaderElectionConfig config)
    : client_(client), clock_(clock), config_(std::move(config)) {}

json LeaderElector::NewLeaseSpec(const json& old_spec, TimePoint now) const {
  const std::string old_holder = old_spec.is_object() ? old_spec.value("holderIdentity", "") : "";
  json spec = old_spec.is_object() ? old_spec : json::object();
  spec["holderIdentity"] = config_.identity;
  spec["leaseDurationSeconds"] =
      std::chrono::duration_cast<std::chrono::seconds>(config_.lease_duration).count();
  spec["renewTime"] = FormatMicroTime(now);
  if (old_holder != config_.identity) {
    spec["acquireTime"] = FormatMicroTime(now);
    spec["leaseTransitions"] = spec.value("leaseTransitions", 0) + (old_holder.empty() && !old_spec.is_object() ? 0 : 1);
  }
  return spec;
}

bool LeaderElector::TryAcquireOrRenew() {
  const TimePoint now = clock_->Now();
  auto got = client_->Get(kube::Leases(), config_.lease_namespace, config_.lease_name);
  if (!got.ok() && got.error().IsNotFound()) {
    json lease = {{"apiVersion", "coordination.k8s.io/v1"},
                  {"kind", "Lease"},
                  {"metadata", {{"name", config_.lease_name}, {"namespace", config_.lease_namespace}}},
                  {"spec", NewLeaseSpec(nullptr, now)}};
    lease["spec"]["leaseTransitions"] = 0;
    auto created = client_->Create(kube::Leases(), config_.lease_namespace, lease);
    if (!created.ok()) {
      leader_ = false;
      return false;
    }
    std::lock_guard<std::mutex> lock(mu_);
    observed_spec_ = (*created)["spec"];
    observed_time_ = now;
    leader_ = true;
    return true;
  }
  if (!got.ok()) {
    spdlog::warn("leader election: get lease: {}", got.error().ToString());
    // Keep leading until the renew deadline decides otherwise.
    return false;
  }
  json lease = std::move(got).value();
  json spec = lease.value("spec", json::object());
  const std::string holder = spec.value("holderIdentity", "");
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (spec != observed_spec_) {
      observed_spec_ = spec;
      observed_time_ = now;
    }
    auto duration = std::chrono::seconds(spec.value("leaseDurationSeconds", 0));
    if (!holder.empty() && holder != config_.identity && observed_time_ + duration > now) {
      leader_ = false;
      return false;  // held by someone else and not expired
    }
  }
  lease["spec"] = NewLeaseSpec(spec, now);
  auto updated = client_->Update(kube::Leases(), config_.lease_namespace, lease);
  if (!updated.ok()) {
    if (!updated.error().IsConflict()) {
      spdlog::warn("leader election: update lease: {}", updated.error().ToString());
    }
    if (holder != config_.identity) leader_ = false;
    return false;
  }
  std::lock_guard<std::mutex> lock(mu_);
  observed_spec_ = (*updated)["spec"];
  observed_time_ = now;
  leader_ = true;
  return true;
}

void LeaderElector::Release() {
  if (!leader_) return;
  leader_ = false;
  auto got = client_->Get(kube::Leases(), config_.lease_namespace, config_.lease_name);
  if (!got.ok()) return;
  json lease = std::move(got).value();
  if (lease["spec"].value("holderIdentity", "") != config_.identity) return;
  lease["spec"]["holderIdentity"] = "";
  lease["spec"]["leaseDurationSeconds"] = 1;
  lease["spec"]["renewTime"] = FormatMicroTime(clock_->Now());
  auto updated = client_->Update(kube::Leases(), config_.lease_namespace, lease);
  if (!updated.ok()) spdlog::warn("leader election: release: {}", updated.error().ToString());
}

bool LeaderElector::Run(const std::function<bool()>& stop, const std::function<void()>& on_started_leading,
                        const std::function<void()>& on_stopped_leading) {
  // Sleeps in small steps so stop() is noticed quickly.
  auto sleep = [&](std::chrono::milliseconds d) {
    auto until = std::chrono::steady_clock::now() + d;
    while (!stop() && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  };
  while (!stop()) {
    if (TryAcquireOrRenew()) break;
    sleep(config_.retry_period);
  }
  if (stop()) return true;
  spdlog::info("leader election: {} acquired lease {}/{}", config_.identity, config_.lease_namespace,
               config_.lease_name);
  on_started_leading();
  auto last_renew = std::chrono::steady_clock::now();
  while (!stop()) {
    sleep(config_.retry_period);
    if (stop()) break;
    if (TryAcquireOrRenew()) {
      last_renew = std::chrono::steady_clock::now();
      continue;
    }
    if (!leader_ || std::chrono::steady_clock::now() - last_renew > config_.renew_deadline) {
      leader_ = false;
      spdlog::error("leader election: {} lost lease {}/{}", config_.identity, config_.lease_namespace,
                    config_.lease_name);
      on_stopped_leading();
      return false;
    }
  }
  on_stopped_leading();
  Release();
  spdlog::info("leader election: {} released lease", config_.identity);
  return true;
}

}  // namespace usp::op
