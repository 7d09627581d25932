#pragma once
// KubeClient: the operator's only door to the Kubernetes API. Objects are
// nlohmann::json documents exactly as the API serves them. Implementations:
// RestKubeClient (cpprestsdk, production) and FakeKubeClient (in memory, tests).
//
// Thread safety: every method may be called from any thread concurrently.

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "operator/kube/api_error.h"
#include "operator/kube/resource.h"

namespace usp::kube {

struct ListOptions {
  std::string label_selector;  // "a=b,c!=d,e" (equality-based)
  std::string field_selector;
};

struct WatchOptions {
  std::string resource_version;  // start after this version; empty: "most recent"
  std::string label_selector;
  bool allow_bookmarks = true;
  int timeout_seconds = 300;  // the server ends the watch after this
};

struct WatchEvent {
  std::string type;  // ADDED, MODIFIED, DELETED, BOOKMARK, ERROR
  nlohmann::json object;  // the object, or a Status for ERROR
};

// Lets another thread end a running Watch. Cancel() is sticky and wakes a
// Watch blocked on the network.
class WatchCancel {
 public:
  void Cancel() {
    std::vector<std::function<void()>> callbacks;
    {
      std::lock_guard<std::mutex> lock(mu_);
      cancelled_ = true;
      for (auto& [id, fn] : callbacks_) callbacks.push_back(fn);
    }
    for (auto& fn : callbacks) fn();
  }
  bool cancelled() const { return cancelled_; }
  // Calls `fn` on Cancel (at once when already cancelled). Returns an id for
  // RemoveCallback. For implementations of Watch.
  int AddCallback(std::function<void()> fn) const {
    std::unique_lock<std::mutex> lock(mu_);
    if (cancelled_) {
      lock.unlock();
      fn();
      return -1;
    }
    callbacks_[next_id_] = std::move(fn);
    return next_id_++;
  }
  void RemoveCallback(int id) const {
    std::lock_guard<std::mutex> lock(mu_);
    callbacks_.erase(id);
  }

 private:
  std::atomic<bool> cancelled_{false};
  mutable std::mutex mu_;
  mutable std::map<int, std::function<void()>> callbacks_;  // GUARDED_BY(mu_)
  mutable int next_id_ = 0;                                 // GUARDED_BY(mu_)
};

// Receives watch events in order. Returning false ends the watch (Watch then
// returns normally).
using WatchHandler = std::function<bool(const WatchEvent&)>;

class KubeClient {
 public:
  virtual ~KubeClient() = default;

  virtual JsonResult Get(const ResourceDescriptor& r, const std::string& ns,
                         const std::string& name) = 0;
  // The List object ({"metadata": {"resourceVersion"}, "items": [...]}).
  // `ns` empty: all namespaces.
  virtual JsonResult List(const ResourceDescriptor& r, const std::string& ns,
                          const ListOptions& options) = 0;
  virtual JsonResult Create(const ResourceDescriptor& r, const std::string& ns,
                            const nlohmann::json& object) = 0;
  // PUT. The object's metadata.resourceVersion makes it a compare-and-swap:
  // a stale version gets 409 Conflict.
  virtual JsonResult Update(const ResourceDescriptor& r, const std::string& ns,
                            const nlohmann::json& object) = 0;
  // JSON merge patch (RFC 7386).
  virtual JsonResult Patch(const ResourceDescriptor& r, const std::string& ns,
                           const std::string& name, const nlohmann::json& merge_patch) = 0;
  // Background propagation: dependents are garbage-collected by the server.
  virtual JsonResult Delete(const ResourceDescriptor& r, const std::string& ns,
                            const std::string& name) = 0;
  virtual JsonResult GetStatus(const ResourceDescriptor& r, const std::string& ns,
                               const std::string& name) = 0;
  // PUT to the status subresource; only .status is taken from `object`.
  virtual JsonResult UpdateStatus(const ResourceDescriptor& r, const std::string& ns,
                                  const nlohmann::json& object) = 0;

  // Streams events until the server ends the watch, the handler returns
  // false, `cancel` is set, or an error occurs. Returns ok (a null json) when
  // the stream ended without an error — including a silent close by the
  // server, which callers treat as "reconnect from the last version".
  // ERROR events are not passed to the handler: they end the watch with an
  // ApiError carrying the Status's code, so an expired resourceVersion is a
  // 410 whether the server answered 410 or sent an ERROR event.
  virtual JsonResult Watch(const ResourceDescriptor& r, const std::string& ns,
                           const WatchOptions& options, const WatchHandler& handler,
                           const WatchCancel* cancel) = 0;
};

}  // namespace usp::kube
