#include "operator/reconcile/query_catalog.h"

#include "core/user_signal.h"
#include "operator/reconcile/job_kind.h"
#include "operator/kube/object.h"

namespace usp::op {

using nlohmann::json;

json CatalogData(const std::vector<json>& objects) {
  json data = json::object();
  json index = {{"signals", json::array()}, {"segments", json::array()}, {"sessionJobs", json::array()}};
  for (const auto& obj : objects) {
    if (kube::IsBeingDeleted(obj)) continue;
    const JobKind* kind = FindJobKind(obj.value("kind", ""));
    if (kind == nullptr) continue;
    FieldErrors errors;
    auto job = kind->parse(obj, &errors);
    if (!job) continue;
    const json& meta = obj.value("metadata", json::object());
    const std::string ns = meta.value("namespace", "");
    const std::string name = meta.value("name", "");
    json doc = job->config;
    if (doc.contains("metadata")) doc["metadata"].erase("generation");
    // UserSignals keep their original key; the other kinds carry theirs.
    std::string key, list;
    if (kind == &UserSignalKind()) {
      key = ns + "." + name + ".yaml";
      list = "signals";
    } else if (kind == &UserSegmentKind()) {
      key = ns + ".usersegment." + name + ".yaml";
      list = "segments";
    } else {
      key = ns + ".sessionjob." + name + ".yaml";
      list = "sessionJobs";
    }
    data[key] = doc.dump(2) + "\n";
    index[list].push_back({{"namespace", ns},
                           {"name", name},
                           {"kind", kind->resource.kind},
                           {"outputTopic", doc["spec"].value("outputTopic", "")}});
  }
  for (auto& [list, entries] : index.items()) {
    std::sort(entries.begin(), entries.end(), [](const json& a, const json& b) {
      return std::tie(a["namespace"], a["name"]) < std::tie(b["namespace"], b["name"]);
    });
  }
  data["index.json"] = index.dump(2) + "\n";
  return data;
}

Status SyncCatalog(kube::KubeClient* client, const CatalogOptions& options, const std::vector<json>& objects) {
  if (!options.enabled) return Status::Ok();
  const json data = CatalogData(objects);
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
