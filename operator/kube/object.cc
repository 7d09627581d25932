#include "operator/kube/object.h"

#include <algorithm>
#include <sstream>

namespace usp::kube {
namespace {

using nlohmann::json;

const json& Meta(const json& obj) {
  static const json kEmpty = json::object();
  if (!obj.is_object()) return kEmpty;
  auto it = obj.find("metadata");
  return it != obj.end() && it->is_object() ? *it : kEmpty;
}

std::string StringField(const json& o, const char* key) {
  auto it = o.find(key);
  return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

}  // namespace

ObjectKey ObjectKey::Parse(const std::string& key) {
  auto slash = key.find('/');
  if (slash == std::string::npos) return {"", key};
  return {key.substr(0, slash), key.substr(slash + 1)};
}

std::string Name(const json& obj) { return StringField(Meta(obj), "name"); }
std::string Namespace(const json& obj) { return StringField(Meta(obj), "namespace"); }
std::string ResourceVersion(const json& obj) { return StringField(Meta(obj), "resourceVersion"); }
std::string Uid(const json& obj) { return StringField(Meta(obj), "uid"); }

int64_t Generation(const json& obj) {
  const json& m = Meta(obj);
  auto it = m.find("generation");
  return it != m.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
}

ObjectKey KeyOf(const json& obj) { return {Namespace(obj), Name(obj)}; }

bool IsBeingDeleted(const json& obj) {
  const json& m = Meta(obj);
  auto it = m.find("deletionTimestamp");
  return it != m.end() && !it->is_null();
}

std::string Label(const json& obj, const std::string& key) {
  const json& m = Meta(obj);
  auto labels = m.find("labels");
  if (labels == m.end() || !labels->is_object()) return "";
  return StringField(*labels, key.c_str());
}

bool HasFinalizer(const json& obj, const std::string& finalizer) {
  const json& m = Meta(obj);
  auto it = m.find("finalizers");
  if (it == m.end() || !it->is_array()) return false;
  return std::find(it->begin(), it->end(), json(finalizer)) != it->end();
}

bool AddFinalizer(json* obj, const std::string& finalizer) {
  if (HasFinalizer(*obj, finalizer)) return false;
  json& list = (*obj)["metadata"]["finalizers"];
  if (!list.is_array()) list = json::array();
  list.push_back(finalizer);
  return true;
}

bool RemoveFinalizer(json* obj, const std::string& finalizer) {
  if (!HasFinalizer(*obj, finalizer)) return false;
  json& list = (*obj)["metadata"]["finalizers"];
  json kept = json::array();
  for (const auto& f : list) {
    if (f != finalizer) kept.push_back(f);
  }
  list = std::move(kept);
  return true;
}

json ControllerReference(const json& owner) {
  return {{"apiVersion", StringField(owner, "apiVersion")},
          {"kind", StringField(owner, "kind")},
          {"name", Name(owner)},
          {"uid", Uid(owner)},
          {"controller", true},
          {"blockOwnerDeletion", true}};
}

bool IsControlledBy(const json& obj, const json& owner) {
  const json& m = Meta(obj);
  auto refs = m.find("ownerReferences");
  if (refs == m.end() || !refs->is_array()) return false;
  const std::string uid = Uid(owner);
  for (const auto& ref : *refs) {
    if (!ref.is_object()) continue;
    auto controller = ref.find("controller");
    if (controller != ref.end() && controller->is_boolean() && controller->get<bool>() &&
        StringField(ref, "uid") == uid) {
      return true;
    }
  }
  return false;
}

bool MatchesLabelSelector(const json& labels, const std::string& selector) {
  std::stringstream terms(selector);
  std::string term;
  auto value_of = [&](const std::string& key, std::string* value) {
    if (!labels.is_object()) return false;
    auto it = labels.find(key);
    if (it == labels.end() || !it->is_string()) return false;
    *value = it->get<std::string>();
    return true;
  };
  while (std::getline(terms, term, ',')) {
    term = Trim(term);
    if (term.empty()) continue;
    std::string value;
    if (auto p = term.find("!="); p != std::string::npos) {
      if (value_of(Trim(term.substr(0, p)), &value) && value == Trim(term.substr(p + 2))) return false;
    } else if (auto q = term.find('='); q != std::string::npos) {
      size_t vstart = term.compare(q, 2, "==") == 0 ? q + 2 : q + 1;
      if (!value_of(Trim(term.substr(0, q)), &value) || value != Trim(term.substr(vstart))) return false;
    } else if (term[0] == '!') {
      if (value_of(Trim(term.substr(1)), &value)) return false;
    } else if (!value_of(term, &value)) {
      return false;
    }
  }
  return true;
}

bool JsonContains(const json& superset, const json& subset) {
  if (subset.is_object()) {
    if (!superset.is_object()) return false;
    for (auto it = subset.begin(); it != subset.end(); ++it) {
      auto found = superset.find(it.key());
      if (found == superset.end()) {
        if (it.value().is_null()) continue;
        return false;
      }
      if (!JsonContains(*found, it.value())) return false;
    }
    return true;
  }
  if (subset.is_array()) {
    if (!superset.is_array() || superset.size() != subset.size()) return false;
    for (size_t i = 0; i < subset.size(); ++i) {
      if (!JsonContains(superset[i], subset[i])) return false;
    }
    return true;
  }
  if (subset.is_number() && superset.is_number()) {
    return subset.get<double>() == superset.get<double>();
  }
  return subset == superset;
}

}  // namespace usp::kube
