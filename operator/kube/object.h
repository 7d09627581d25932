#pragma once
// Small accessors and helpers for API objects held as JSON, so the rest of
// the operator does not repeat `obj["metadata"]["name"]` dances. Accessors
// of absent fields return empty values, never throw.

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace usp::kube {

// "namespace/name", the work-queue key of a namespaced object.
struct ObjectKey {
  std::string ns;
  std::string name;
  std::string ToString() const { return ns.empty() ? name : ns + "/" + name; }
  static ObjectKey Parse(const std::string& key);
  bool operator==(const ObjectKey&) const = default;
  auto operator<=>(const ObjectKey&) const = default;
};

std::string Name(const nlohmann::json& obj);
std::string Namespace(const nlohmann::json& obj);
std::string ResourceVersion(const nlohmann::json& obj);
std::string Uid(const nlohmann::json& obj);
int64_t Generation(const nlohmann::json& obj);
ObjectKey KeyOf(const nlohmann::json& obj);
bool IsBeingDeleted(const nlohmann::json& obj);
// metadata.labels[key], or "" when absent.
std::string Label(const nlohmann::json& obj, const std::string& key);

bool HasFinalizer(const nlohmann::json& obj, const std::string& finalizer);
// Returns true when the object changed.
bool AddFinalizer(nlohmann::json* obj, const std::string& finalizer);
bool RemoveFinalizer(nlohmann::json* obj, const std::string& finalizer);

// The ownerReference that makes `owner` the controller of a dependent.
nlohmann::json ControllerReference(const nlohmann::json& owner);
// True when `obj` has a controller ownerReference with the owner's uid.
bool IsControlledBy(const nlohmann::json& obj, const nlohmann::json& owner);

// Equality-based label selectors: "a=b", "a==b", "a!=b", "a", "!a", joined
// by commas. An empty selector matches everything. Malformed terms match nothing.
bool MatchesLabelSelector(const nlohmann::json& labels, const std::string& selector);

// True when every field of `subset` is present in `superset` with an equal
// value; objects recursively, arrays element-wise with equal length. Lets
// the operator compare what it wants with what the server holds, ignoring
// fields the server defaulted.
bool JsonContains(const nlohmann::json& superset, const nlohmann::json& subset);

}  // namespace usp::kube
