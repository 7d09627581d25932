#include "operator/kube/resource.h"

namespace usp::kube {

std::string ResourceDescriptor::ApiVersion() const {
  return group.empty() ? version : group + "/" + version;
}

std::string ResourceDescriptor::GroupVersionPath() const {
  return group.empty() ? "/api/" + version : "/apis/" + group + "/" + version;
}

std::string ResourceDescriptor::CollectionPath(const std::string& ns) const {
  if (!namespaced || ns.empty()) return GroupVersionPath() + "/" + plural;
  return GroupVersionPath() + "/namespaces/" + ns + "/" + plural;
}

std::string ResourceDescriptor::ObjectPath(const std::string& ns, const std::string& name) const {
  return CollectionPath(ns) + "/" + name;
}

const ResourceDescriptor& UserSignals() {
  static const ResourceDescriptor d{"usp.dev", "v1alpha1", "usersignals", "UserSignal", true};
  return d;
}
const ResourceDescriptor& UserSegments() {
  static const ResourceDescriptor d{"usp.dev", "v1alpha1", "usersegments", "UserSegment", true};
  return d;
}
const ResourceDescriptor& SessionJobs() {
  static const ResourceDescriptor d{"usp.dev", "v1alpha1", "sessionjobs", "SessionJob", true};
  return d;
}
const ResourceDescriptor& ConfigMaps() {
  static const ResourceDescriptor d{"", "v1", "configmaps", "ConfigMap", true};
  return d;
}
const ResourceDescriptor& Deployments() {
  static const ResourceDescriptor d{"apps", "v1", "deployments", "Deployment", true};
  return d;
}
const ResourceDescriptor& Pods() {
  static const ResourceDescriptor d{"", "v1", "pods", "Pod", true};
  return d;
}
const ResourceDescriptor& Leases() {
  static const ResourceDescriptor d{"coordination.k8s.io", "v1", "leases", "Lease", true};
  return d;
}
const ResourceDescriptor& CoreEvents() {
  static const ResourceDescriptor d{"", "v1", "events", "Event", true};
  return d;
}

}  // namespace usp::kube
