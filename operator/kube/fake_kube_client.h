#pragma once
// FakeKubeClient: an in-memory API server for unit tests. Implements the
// semantics the operator relies on: increasing resourceVersions, 409 on a
// stale update (status too), 409 AlreadyExists, generation bumps on spec
// changes, finalizers and deletionTimestamp, ownerReference garbage
// collection, label selectors, watch from a resourceVersion with bookmarks.
// Faults: 410 Gone and silent close of watches, and a hook that can fail or
// interleave any call. Records every write so tests can assert "no writes".

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "operator/kube/kube_client.h"
#include "operator/kube/object.h"

namespace usp::kube {

class FakeKubeClient : public KubeClient {
 public:
  struct Action {
    std::string verb;  // create, update, patch, delete, update-status
    std::string resource;  // plural
    std::string ns;
    std::string name;
  };
  // Called before each call (outside the fake's lock, so it may call the
  // fake). Returning an error fails the call with it.
  using Hook = std::function<std::optional<ApiError>(const std::string& verb, const ResourceDescriptor& r,
                                                     const std::string& ns, const std::string& name)>;

  JsonResult Get(const ResourceDescriptor& r, const std::string& ns, const std::string& name) override;
  JsonResult List(const ResourceDescriptor& r, const std::string& ns, const ListOptions& options) override;
  JsonResult Create(const ResourceDescriptor& r, const std::string& ns, const nlohmann::json& object) override;
  JsonResult Update(const ResourceDescriptor& r, const std::string& ns, const nlohmann::json& object) override;
  JsonResult Patch(const ResourceDescriptor& r, const std::string& ns, const std::string& name,
                   const nlohmann::json& merge_patch) override;
  JsonResult Delete(const ResourceDescriptor& r, const std::string& ns, const std::string& name) override;
  JsonResult GetStatus(const ResourceDescriptor& r, const std::string& ns, const std::string& name) override;
  JsonResult UpdateStatus(const ResourceDescriptor& r, const std::string& ns, const nlohmann::json& object) override;
  JsonResult Watch(const ResourceDescriptor& r, const std::string& ns, const WatchOptions& options,
                   const WatchHandler& handler, const WatchCancel* cancel) override;

  void SetHook(Hook hook);
  // Called after a write (create, update, update-status, delete) was carried
  // out; returning an error replaces the answer while the write stays, as
  // when a server commits a request but its answer is lost (a 500 or a
  // timeout). Called outside the fake's lock, so it may call the fake.
  void SetAfterHook(Hook hook);
  std::vector<Action> Actions() const;
  // Writes since the last ClearActions(), optionally of one resource (plural).
  size_t WriteCount(const std::string& resource = "") const;
  void ClearActions();

  // Running watches of `r` end with 410 Gone, and versions before the
  // current one are forgotten (a later watch from them is 410 too).
  void ExpireWatches(const ResourceDescriptor& r);
  // Running watches end without an error, as when a proxy drops the stream.
  void CloseWatches();
  // Running watches of `r` receive a BOOKMARK at the current version.
  void SendBookmark(const ResourceDescriptor& r);
  // Number of Watch calls made so far (all resources).
  int WatchCalls() const;
  // The current (latest) resourceVersion.
  std::string CurrentVersion() const;

 private:
  struct StoredEvent {
    int64_t rv;
    std::string type;
    nlohmann::json object;
  };
  struct ResourceState {
    std::map<ObjectKey, nlohmann::json> objects;
    std::deque<StoredEvent> events;
    int64_t compacted_rv = 0;   // watches from versions below this get 410
    int64_t gone_epoch = 0;     // bumped by ExpireWatches
    int64_t bookmark_epoch = 0;
  };

  std::optional<ApiError> RunHook(const std::string& verb, const ResourceDescriptor& r,
                                  const std::string& ns, const std::string& name);
  std::optional<ApiError> RunAfterHook(const std::string& verb, const ResourceDescriptor& r,
                                       const std::string& ns, const std::string& name);
  JsonResult CreateImpl(const ResourceDescriptor& r, const std::string& ns, const nlohmann::json& object);
  JsonResult UpdateImpl(const ResourceDescriptor& r, const std::string& ns, const nlohmann::json& object);
  JsonResult UpdateStatusImpl(const ResourceDescriptor& r, const std::string& ns, const nlohmann::json& object);
  JsonResult DeleteImpl(const ResourceDescriptor& r, const std::string& ns, const std::string& name);
  // REQUIRES: mu_ held.
  void RecordLocked(const std::string& verb, const ResourceDescriptor& r, const std::string& ns,
                    const std::string& name);
  nlohmann::json StampLocked(ResourceState* state, nlohmann::json object, const std::string& type);
  void RemoveLocked(const ResourceDescriptor& r, ResourceState* state, const ObjectKey& key);
  void CollectGarbageLocked(const std::string& owner_uid);
  ResourceState& StateLocked(const ResourceDescriptor& r);

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, ResourceState> resources_;  // by ApiVersion()/plural; GUARDED_BY(mu_)
  std::map<std::string, ResourceDescriptor> descriptors_;  // GUARDED_BY(mu_)
  int64_t rv_ = 100;                                // GUARDED_BY(mu_)
  int64_t uid_ = 0;                                 // GUARDED_BY(mu_)
  int64_t close_epoch_ = 0;                         // GUARDED_BY(mu_)
  int watch_calls_ = 0;                             // GUARDED_BY(mu_)
  std::vector<Action> actions_;                     // GUARDED_BY(mu_)
  Hook hook_;                                       // GUARDED_BY(mu_)
  Hook after_hook_;                                 // GUARDED_BY(mu_)
};

}  // namespace usp::kube
