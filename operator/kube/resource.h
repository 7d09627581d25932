#pragma once
// Which API resource a call addresses, and the REST paths that follow from it.

#include <string>

namespace usp::kube {

struct ResourceDescriptor {
  std::string group;    // "" for the core group, "apps", "usp.dev"
  std::string version;  // "v1", "v1alpha1"
  std::string plural;   // "deployments"
  std::string kind;     // "Deployment" (for objects we build and events)
  bool namespaced = true;

  // "v1" or "apps/v1".
  std::string ApiVersion() const;
  // "/api/v1" or "/apis/apps/v1".
  std::string GroupVersionPath() const;
  // Collection path: ".../namespaces/NS/deployments", or all namespaces when
  // `ns` is empty (or the resource is cluster-scoped).
  std::string CollectionPath(const std::string& ns) const;
  // Object path: CollectionPath(ns) + "/" + name.
  std::string ObjectPath(const std::string& ns, const std::string& name) const;
  bool operator==(const ResourceDescriptor&) const = default;
};

// The resources the operator uses.
const ResourceDescriptor& UserSignals();
const ResourceDescriptor& UserSegments();
const ResourceDescriptor& SessionJobs();
const ResourceDescriptor& ConfigMaps();
const ResourceDescriptor& Deployments();
const ResourceDescriptor& Pods();
const ResourceDescriptor& Leases();
const ResourceDescriptor& CoreEvents();

}  // namespace usp::kube
