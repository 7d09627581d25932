#pragma once
// The query service's catalog: a ConfigMap (`usp-query-catalog` by default)
// with one key per valid resource: "<namespace>.<name>.yaml" for a
// UserSignal, "<namespace>.usersegment.<name>.yaml" and
// "<namespace>.sessionjob.<name>.yaml" for the other kinds -> the
// normalized resource, plus "index.json" listing the output topics. The
// query service mounts it and reads it like any resource directory
// (`usp-runtime serve --resources /etc/usp/catalog`).

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "operator/kube/kube_client.h"

namespace usp::op {

struct CatalogOptions {
  bool enabled = true;
  std::string ns = "default";
  std::string name = "usp-query-catalog";
};

// The catalog's data from UserSignal, UserSegment and SessionJob API
// objects. Invalid ones and ones being deleted are left out. Pure.
nlohmann::json CatalogData(const std::vector<nlohmann::json>& objects);

// Writes CatalogData into the ConfigMap when it differs (creating the
// ConfigMap when absent); a 409 is retried on the fresh object.
Status SyncCatalog(kube::KubeClient* client, const CatalogOptions& options,
                   const std::vector<nlohmann::json>& objects);

}  // namespace usp::op
