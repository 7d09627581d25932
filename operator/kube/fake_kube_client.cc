#include "operator/kube/fake_kube_client.h"

#include <chrono>

namespace usp::kube {
namespace {

using nlohmann::json;

std::string Qualified(const ResourceDescriptor& r) {
  return r.group.empty() ? r.plural : r.plural + "." + r.group;
}

ApiError MakeError(int code, const std::string& reason, const std::string& message) {
  json status = {{"kind", "Status"}, {"apiVersion", "v1"}, {"status", "Failure"},
                 {"message", message}, {"reason", reason}, {"code", code}};
  return ApiError::FromStatus(code, status);
}

ApiError NotFound(const ResourceDescriptor& r, const std::string& name) {
  return MakeError(404, "NotFound", Qualified(r) + " \"" + name + "\" not found");
}

ApiError Conflict(const ResourceDescriptor& r, const std::string& name) {
  return MakeError(409, "Conflict",
                   "Operation cannot be fulfilled on " + Qualified(r) + " \"" + name +
                       "\": the object has been modified; please apply your changes to the latest "
                       "version and try again");
}

// Everything but metadata and status: what bumps metadata.generation.
json DesiredPart(const json& obj) {
  json out = obj;
  out.erase("metadata");
  out.erase("status");
  out.erase("apiVersion");
  out.erase("kind");
  return out;
}

}  // namespace

FakeKubeClient::ResourceState& FakeKubeClient::StateLocked(const ResourceDescriptor& r) {
  std::string id = r.ApiVersion() + "/" + r.plural;
  descriptors_[id] = r;
  return resources_[id];
}

std::optional<ApiError> FakeKubeClient::RunHook(const std::string& verb, const ResourceDescriptor& r,
                                                const std::string& ns, const std::string& name) {
  Hook hook;
  {
    std::lock_guard<std::mutex> lock(mu_);
    hook = hook_;
  }
  if (!hook) return std::nullopt;
  return hook(verb, r, ns, name);
}

std::optional<ApiError> FakeKubeClient::RunAfterHook(const std::string& verb, const ResourceDescriptor& r,
                                                     const std::string& ns, const std::string& name) {
  Hook hook;
  {
    std::lock_guard<std::mutex> lock(mu_);
    hook = after_hook_;
  }
  if (!hook) return std::nullopt;
  return hook(verb, r, ns, name);
}

JsonResult FakeKubeClient::Create(const ResourceDescriptor& r, const std::string& ns, const json& object) {
  JsonResult result = CreateImpl(r, ns, object);
  if (!result.ok()) return result;
  if (auto e = RunAfterHook("create", r, ns, Name(object))) return *e;
  return result;
}

JsonResult FakeKubeClient::Update(const ResourceDescriptor& r, const std::string& ns, const json& object) {
  JsonResult result = UpdateImpl(r, ns, object);
  if (!result.ok()) return result;
  if (auto e = RunAfterHook("update", r, ns, Name(object))) return *e;
  return result;
}

JsonResult FakeKubeClient::UpdateStatus(const ResourceDescriptor& r, const std::string& ns, const json& object) {
  JsonResult result = UpdateStatusImpl(r, ns, object);
  if (!result.ok()) return result;
  if (auto e = RunAfterHook("update-status", r, ns, Name(object))) return *e;
  return result;
}

JsonResult FakeKubeClient::Delete(const ResourceDescriptor& r, const std::string& ns, const std::string& name) {
  JsonResult result = DeleteImpl(r, ns, name);
  if (!result.ok()) return result;
  if (auto e = RunAfterHook("delete", r, ns, name)) return *e;
  return result;
}

void FakeKubeClient::RecordLocked(const std::string& verb, const ResourceDescriptor& r,
                                  const std::string& ns, const std::string& name) {
  actions_.push_back({verb, r.plural, ns, name});
}

json FakeKubeClient::StampLocked(ResourceState* state, json object, const std::string& type) {
  ++rv_;
  object["metadata"]["resourceVersion"] = std::to_string(rv_);
  state->events.push_back({rv_, type, object});
  cv_.notify_all();
  return object;
}

void FakeKubeClient::RemoveLocked(const ResourceDescriptor& r, ResourceState* state, const ObjectKey& key) {
  auto it = state->objects.find(key);
  if (it == state->objects.end()) return;
  json removed = StampLocked(state, it->second, "DELETED");
  state->objects.erase(it);
  CollectGarbageLocked(Uid(removed));
}

void FakeKubeClient::CollectGarbageLocked(const std::string& owner_uid) {
  std::vector<std::pair<std::string, ObjectKey>> orphans;
  for (auto& [id, state] : resources_) {
    for (auto& [key, obj] : state.objects) {
      const json& refs = obj["metadata"].value("ownerReferences", json::array());
      for (const auto& ref : refs) {
        if (ref.value("uid", "") == owner_uid) orphans.emplace_back(id, key);
      }
    }
  }
  for (const auto& [id, key] : orphans) RemoveLocked(descriptors_[id], &resources_[id], key);
}

JsonResult FakeKubeClient::Get(const ResourceDescriptor& r, const std::string& ns, const std::string& name) {
  if (auto e = RunHook("get", r, ns, name)) return *e;
  std::lock_guard<std::mutex> lock(mu_);
  auto& state = StateLocked(r);
  auto it = state.objects.find({r.namespaced ? ns : "", name});
  if (it == state.objects.end()) return NotFound(r, name);
  return it->second;
}

JsonResult FakeKubeClient::GetStatus(const ResourceDescriptor& r, const std::string& ns,
                                     const std::string& name) {
  return Get(r, ns, name);
}

JsonResult FakeKubeClient::List(const ResourceDescriptor& r, const std::string& ns, const ListOptions& options) {
  if (auto e = RunHook("list", r, ns, "")) return *e;
  std::lock_guard<std::mutex> lock(mu_);
  auto& state = StateLocked(r);
  json items = json::array();
  for (const auto& [key, obj] : state.objects) {
    if (r.namespaced && !ns.empty() && key.ns != ns) continue;
    if (!MatchesLabelSelector(obj["metadata"].value("labels", json::object()), options.label_selector)) continue;
    items.push_back(obj);
  }
  return json{{"kind", r.kind + "List"},
              {"apiVersion", r.ApiVersion()},
              {"metadata", {{"resourceVersion", std::to_string(rv_)}}},
              {"items", std::move(items)}};
}

JsonResult FakeKubeClient::CreateImpl(const ResourceDescriptor& r, const std::string& ns, const json& object) {
  std::string name = Name(object);
  if (auto e = RunHook("create", r, ns, name)) return *e;
  std::lock_guard<std::mutex> lock(mu_);
  auto& state = StateLocked(r);
  if (name.empty()) return MakeError(422, "Invalid", "metadata.name: Required value");
  ObjectKey key{r.namespaced ? ns : "", name};
  if (state.objects.count(key)) {
    return MakeError(409, "AlreadyExists", Qualified(r) + " \"" + name + "\" already exists");
  }
  json obj = object;
  obj["apiVersion"] = r.ApiVersion();
  obj["kind"] = r.kind;
  if (r.namespaced) obj["metadata"]["namespace"] = ns;
  obj["metadata"]["uid"] = "uid-" + std::to_string(++uid_);
  obj["metadata"]["generation"] = 1;
  obj["metadata"]["creationTimestamp"] = "2024-01-01T00:00:00Z";
  obj["metadata"].erase("deletionTimestamp");
  obj.erase("status");
  RecordLocked("create", r, ns, name);
  obj = StampLocked(&state, std::move(obj), "ADDED");
  state.objects[key] = obj;
  return obj;
}

JsonResult FakeKubeClient::UpdateImpl(const ResourceDescriptor& r, const std::string& ns, const json& object) {
  std::string name = Name(object);
  if (auto e = RunHook("update", r, ns, name)) return *e;
  std::lock_guard<std::mutex> lock(mu_);
  auto& state = StateLocked(r);
  ObjectKey key{r.namespaced ? ns : "", name};
  auto it = state.objects.find(key);
  if (it == state.objects.end()) return NotFound(r, name);
  const json& current = it->second;
  std::string rv = ResourceVersion(object);
  if (!rv.empty() && rv != ResourceVersion(current)) return Conflict(r, name);
  json obj = object;
  obj["apiVersion"] = r.ApiVersion();
  obj["kind"] = r.kind;
  for (const char* field : {"uid", "creationTimestamp", "deletionTimestamp", "generation", "namespace"}) {
    if (current["metadata"].contains(field)) {
      obj["metadata"][field] = current["metadata"][field];
    } else {
      obj["metadata"].erase(field);
    }
  }
  if (current.contains("status")) {
    obj["status"] = current["status"];
  } else {
    obj.erase("status");
  }
  if (DesiredPart(obj) != DesiredPart(current)) {
    obj["metadata"]["generation"] = Generation(current) + 1;
  }
  RecordLocked("update", r, ns, name);
  if (IsBeingDeleted(obj) && obj["metadata"].value("finalizers", json::array()).empty()) {
    state.objects[key] = obj;
    RemoveLocked(r, &state, key);
    return obj;
  }
  obj = StampLocked(&state, std::move(obj), "MODIFIED");
  state.objects[key] = obj;
  return obj;
}

JsonResult FakeKubeClient::Patch(const ResourceDescriptor& r, const std::string& ns, const std::string& name,
                                 const json& merge_patch) {
  json current;
  {
    auto got = Get(r, ns, name);
    if (!got.ok()) return got.error();
    current = std::move(got).value();
  }
  json patched = current;
  patched.merge_patch(merge_patch);
  // A merge patch applies to the version the server holds; re-check under
  // the lock by sending that version.
  patched["metadata"]["resourceVersion"] = ResourceVersion(current);
  if (patched.contains("status") || current.contains("status")) patched["status"] = current.value("status", json());
  return Update(r, ns, patched);
}

JsonResult FakeKubeClient::UpdateStatusImpl(const ResourceDescriptor& r, const std::string& ns, const json& object) {
  std::string name = Name(object);
  if (auto e = RunHook("update-status", r, ns, name)) return *e;
  std::lock_guard<std::mutex> lock(mu_);
  auto& state = StateLocked(r);
  ObjectKey key{r.namespaced ? ns : "", name};
  auto it = state.objects.find(key);
  if (it == state.objects.end()) return NotFound(r, name);
  std::string rv = ResourceVersion(object);
  if (!rv.empty() && rv != ResourceVersion(it->second)) return Conflict(r, name);
  json obj = it->second;
  if (object.contains("status")) {
    obj["status"] = object["status"];
  } else {
    obj.erase("status");
  }
  RecordLocked("update-status", r, ns, name);
  obj = StampLocked(&state, std::move(obj), "MODIFIED");
  state.objects[key] = obj;
  return obj;
}

JsonResult FakeKubeClient::DeleteImpl(const ResourceDescriptor& r, const std::string& ns, const std::string& name) {
  if (auto e = RunHook("delete", r, ns, name)) return *e;
  std::lock_guard<std::mutex> lock(mu_);
  auto& state = StateLocked(r);
  ObjectKey key{r.namespaced ? ns : "", name};
  auto it = state.objects.find(key);
  if (it == state.objects.end()) return NotFound(r, name);
  RecordLocked("delete", r, ns, name);
  json obj = it->second;
  if (!obj["metadata"].value("finalizers", json::array()).empty()) {
    if (!IsBeingDeleted(obj)) {
      obj["metadata"]["deletionTimestamp"] = "2024-01-01T00:00:01Z";
      obj = StampLocked(&state, std::move(obj), "MODIFIED");
      state.objects[key] = obj;
    }
    return obj;
  }
  RemoveLocked(r, &state, key);
  return json{{"kind", "Status"}, {"apiVersion", "v1"}, {"status", "Success"}};
}

JsonResult FakeKubeClient::Watch(const ResourceDescriptor& r, const std::string& ns, const WatchOptions& options,
                                 const WatchHandler& handler, const WatchCancel* cancel) {
  if (auto e = RunHook("watch", r, ns, "")) return *e;
  std::unique_lock<std::mutex> lock(mu_);
  ++watch_calls_;
  auto& state = StateLocked(r);
  int64_t from = rv_;
  if (!options.resource_version.empty() && options.resource_version != "0") {
    from = std::stoll(options.resource_version);
  }
  auto gone = [&] { return MakeError(410, "Expired", "too old resource version: " + std::to_string(from)); };
  if (from < state.compacted_rv) return gone();
  const int64_t close_epoch = close_epoch_;
  const int64_t gone_epoch = state.gone_epoch;
  int64_t bookmark_epoch = state.bookmark_epoch;
  while (true) {
    if (cancel != nullptr && cancel->cancelled()) return json(nullptr);
    if (close_epoch_ != close_epoch) return json(nullptr);
    if (state.gone_epoch != gone_epoch) return gone();
    std::vector<WatchEvent> batch;
    for (const auto& ev : state.events) {
      if (ev.rv <= from) continue;
      from = ev.rv;
      if (r.namespaced && !ns.empty() && Namespace(ev.object) != ns) continue;
      if (!MatchesLabelSelector(ev.object["metadata"].value("labels", json::object()), options.label_selector)) {
        continue;
      }
      batch.push_back({ev.type, ev.object});
    }
    if (state.bookmark_epoch != bookmark_epoch && options.allow_bookmarks) {
      bookmark_epoch = state.bookmark_epoch;
      from = rv_;
      batch.push_back({"BOOKMARK", {{"kind", r.kind}, {"apiVersion", r.ApiVersion()},
                                    {"metadata", {{"resourceVersion", std::to_string(rv_)}}}}});
    }
    if (!batch.empty()) {
      lock.unlock();
      for (const auto& ev : batch) {
        if (!handler(ev)) return json(nullptr);
      }
      lock.lock();
      continue;
    }
    cv_.wait_for(lock, std::chrono::milliseconds(10));
  }
}

void FakeKubeClient::SetHook(Hook hook) {
  std::lock_guard<std::mutex> lock(mu_);
  hook_ = std::move(hook);
}

void FakeKubeClient::SetAfterHook(Hook hook) {
  std::lock_guard<std::mutex> lock(mu_);
  after_hook_ = std::move(hook);
}

std::vector<FakeKubeClient::Action> FakeKubeClient::Actions() const {
  std::lock_guard<std::mutex> lock(mu_);
  return actions_;
}

size_t FakeKubeClient::WriteCount(const std::string& resource) const {
  std::lock_guard<std::mutex> lock(mu_);
  size_t n = 0;
  for (const auto& a : actions_) n += resource.empty() || a.resource == resource;
  return n;
}

void FakeKubeClient::ClearActions() {
  std::lock_guard<std::mutex> lock(mu_);
  actions_.clear();
}

void FakeKubeClient::ExpireWatches(const ResourceDescriptor& r) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& state = StateLocked(r);
  state.compacted_rv = rv_;
  ++state.gone_epoch;
  cv_.notify_all();
}

void FakeKubeClient::CloseWatches() {
  std::lock_guard<std::mutex> lock(mu_);
  ++close_epoch_;
  cv_.notify_all();
}

void FakeKubeClient::SendBookmark(const ResourceDescriptor& r) {
  std::lock_guard<std::mutex> lock(mu_);
  ++StateLocked(r).bookmark_epoch;
  cv_.notify_all();
}

int FakeKubeClient::WatchCalls() const {
  std::lock_guard<std::mutex> lock(mu_);
  return watch_calls_;
}

std::string FakeKubeClient::CurrentVersion() const {
  std::lock_guard<std::mutex> lock(mu_);
  return std::to_string(rv_);
}

}  // namespace usp::kube
