#pragma once
// Opt-in (usp-operator --create-prometheus-rules): a PrometheusRule
// (monitoring.coreos.com/v1) per job holding its three alerts
// (core/monitoring/alert_rules.h), owned by the job resource so the cluster
// deletes it with the job. Only where the prometheus-operator's CRD is
// installed: a 404 on the PrometheusRule type is logged once (and again
// after the type has been served in between) and never fails a reconcile.
// Existing rules of the same name that another controller owns are left
// alone (an error, like the reconciler's ConfigMap and Deployment).
//
// Thread safety: Ensure may be called concurrently (the reconciler's
// workers); it only shares the "already logged" flag.

#include <atomic>
#include <nlohmann/json.hpp>
#include <string>

#include "core/monitoring/alert_rules.h"
#include "core/status.h"
#include "operator/kube/kube_client.h"
#include "operator/kube/resource.h"

namespace usp::op {

// monitoring.coreos.com/v1 prometheusrules.
const kube::ResourceDescriptor& PrometheusRules();

struct PrometheusRuleOptions {
  bool enabled = false;                    // --create-prometheus-rules
  monitoring::AlertThresholds thresholds;  // --alert-* flags
};

class PrometheusRuleSync {
 public:
  enum class Outcome { kUnchanged, kCreated, kUpdated, kNotServed };

  PrometheusRuleSync(kube::KubeClient* client, monitoring::AlertThresholds thresholds)
      : client_(client), thresholds_(std::move(thresholds)) {}

  // The desired rule of a job resource `owner` (a UserSignal, UserSegment or
  // SessionJob as the server holds it): monitoring::PrometheusRule plus the
  // controller ownerReference.
  nlohmann::json Desired(const nlohmann::json& owner) const;

  // Creates or updates the rule. kNotServed when the cluster does not serve
  // PrometheusRules (no error). Errors: the API's (403, transport, ...), or
  // InvalidArgument when another controller owns a rule of that name.
  Result<Outcome> Ensure(const nlohmann::json& owner);

 private:
  kube::KubeClient* const client_;
  const monitoring::AlertThresholds thresholds_;
  std::atomic<bool> reported_not_served_{false};
};

}  // namespace usp::op
