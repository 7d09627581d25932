#include "operator/reconcile/prometheus_rule.h"

#include <spdlog/spdlog.h>

#include "operator/kube/object.h"

namespace usp::op {

using nlohmann::json;

namespace {
constexpr int kConflictAttempts = 5;
}  // namespace

const kube::ResourceDescriptor& PrometheusRules() {
  static const kube::ResourceDescriptor r{"monitoring.coreos.com", "v1", "prometheusrules",
                                          "PrometheusRule", true};
  return r;
}

json PrometheusRuleSync::Desired(const json& owner) const {
  const monitoring::JobRef job{owner.value("kind", ""), kube::Name(owner), kube::Namespace(owner)};
  json rule = monitoring::PrometheusRule(job, thresholds_);
  rule["metadata"]["labels"]["app.kubernetes.io/managed-by"] = "usp-operator";
  rule["metadata"]["ownerReferences"] = json::array({kube::ControllerReference(owner)});
  return rule;
}

Result<PrometheusRuleSync::Outcome> PrometheusRuleSync::Ensure(const json& owner) {
  const json desired = Desired(owner);
  const std::string ns = kube::Namespace(owner);
  const std::string name = kube::Name(desired);
  auto not_served = [&](const kube::ApiError& e) -> Result<Outcome> {
    if (!reported_not_served_.exchange(true)) {
      spdlog::warn(
          "PrometheusRules are not served by this cluster ({}): --create-prometheus-rules has no "
          "effect until the prometheus-operator CRDs are installed",
          e.ToString());
    }
    return Outcome::kNotServed;
  };
  for (int attempt = 0; attempt < kConflictAttempts; ++attempt) {
    auto got = client_->Get(PrometheusRules(), ns, name);
    if (!got.ok() && got.error().IsNotFound()) {
      auto created = client_->Create(PrometheusRules(), ns, desired);
      if (created.ok()) {
        if (reported_not_served_.exchange(false)) spdlog::info("PrometheusRules are served now");
        return Outcome::kCreated;
      }
      // A 404 on create: the type itself is not served (the namespace exists:
      // its job does).
      if (created.error().IsNotFound()) return not_served(created.error());
      if (created.error().IsAlreadyExists()) continue;
      return created.error().ToStatus();
    }
    if (!got.ok()) return got.error().ToStatus();
    json existing = std::move(got).value();
    if (!kube::IsControlledBy(existing, owner)) {
      for (const auto& ref : existing["metadata"].value("ownerReferences", json::array())) {
        if (ref.value("controller", false)) {
          return Status::InvalidArgument("PrometheusRule " + name +
                                         " exists and is not controlled by this " +
                                         owner.value("kind", std::string("job")));
        }
      }
    }
    json& meta = existing["metadata"];
    const bool current =
        kube::IsControlledBy(existing, owner) &&
        existing.value("spec", json()) == desired["spec"] &&
        kube::JsonContains(meta.value("labels", json::object()), desired["metadata"]["labels"]);
    if (current) return Outcome::kUnchanged;
    existing["spec"] = desired["spec"];
    if (!meta.contains("labels") || !meta["labels"].is_object()) meta["labels"] = json::object();
    for (const auto& [k, v] : desired["metadata"]["labels"].items()) meta["labels"][k] = v;
    if (!kube::IsControlledBy(existing, owner)) {
      json refs = json::array({kube::ControllerReference(owner)});
      for (const auto& ref : meta.value("ownerReferences", json::array())) refs.push_back(ref);
      meta["ownerReferences"] = refs;
    }
    auto updated = client_->Update(PrometheusRules(), ns, existing);
    if (updated.ok()) return Outcome::kUpdated;
    if (updated.error().IsNotFound()) continue;  // deleted in between: create it
    if (!updated.error().IsConflict()) return updated.error().ToStatus();
  }
  return Status::Unavailable("PrometheusRule " + ns + "/" + name + ": conflicts persisted");
}

}  // namespace usp::op
