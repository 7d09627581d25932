#include "operator/reconcile/query_catalog.h"

#include "core/user_signal.h"
#include "operator/kube/object.h"

namespace usp::op {

using nlohmann::json;

json CatalogData(const std::vector<json>& user_signals) {
  json data = json::object();
  json index = json::array();
  for (const auto& obj : user_signals) {
    if (kube::IsBeingDeleted(obj)) continue;
    FieldErrors errors;
    auto signal = ParseUserSignal(obj, &errors);
    if (!signal) continue;
    signal->metadata.generation = 0;
    const std::string ns = signal->metadata.namespace_;
    data[ns + "." + signal->metadata.name + ".yaml"] = ToJson(*signal).dump(2) + "\n";
    index.push_back({{"namespace", ns},
                     {"name", signal->metadata.name},
                     {"kind", "UserSignal"},
                     {"outputTopic", signal->spec.output_topic}});
  }
  std::sort(index.begin(), index.end(), [](const json& a, const json& b) {
    return std::tie(a["namespace"], a["name"]) < std::tie(b["namespace"], b["name"]);
  });
  data["index.json"] = json{{"signals", index}}.dump(2) + "\n";
  return data;
}

Status SyncCatalog(kube::KubeClient* client, const CatalogOptions& options, const std::vector<json>& user_signals) {
  if (!options.enabled) return Status::Ok();
  const json data = CatalogData(user_signals);
  for (int attempt = 0; attempt < 5; ++attempt) {
    auto got = client->Get(kube::ConfigMaps(), options.ns, options.name);
    if (!got.ok() && got.error().IsNotFound()) {
      json cm = {{"apiVersion", "v1"},
                 {"kind", "ConfigMap"},
                 {"metadata",
                  {{"name", options.name},
                   {"namespace", options.ns},
                   {"labels", {{"app.kubernetes.io/managed-by", "usp-operator"}, {"app.kubernetes.io/component", "query"}}}}},
                 {"data", data}};
      auto created = client->Create(kube::ConfigMaps(), options.ns, cm);
      if (created.ok()) return Status::Ok();
      if (created.error().IsAlreadyExists()) continue;
      return created.error().ToStatus();
    }
    if (!got.ok()) return got.error().ToStatus();
    json cm = std::move(got).value();
    if (cm.value("data", json::object()) == data) return Status::Ok();
    cm["data"] = data;
    auto updated = client->Update(kube::ConfigMaps(), options.ns, cm);
    if (updated.ok()) return Status::Ok();
    if (!updated.error().IsConflict()) return updated.error().ToStatus();
  }
  return Status::Unavailable("catalog " + options.ns + "/" + options.name + ": conflicts persisted");
}

}  // namespace usp::op
