#pragma once
// Informer: keeps a local cache of one resource in sync with the API server
// and tells handlers about every change, client-go style:
//   list -> cache, then watch from the list's resourceVersion;
//   every event (and BOOKMARK) advances the version the next watch starts from;
//   a watch that ends (timeout, silent close, transport error) is reopened from
//   that version after an exponential backoff (capped), so no update is missed;
//   410 Gone (the version is too old) triggers a relist, whose diff against
//   the cache is delivered to handlers as ADDED/MODIFIED/DELETED.
// Handlers run on the informer's thread and must be quick (enqueue a key).

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "operator/kube/kube_client.h"
#include "operator/kube/object.h"

namespace usp::op {

struct InformerOptions {
  std::string ns;              // empty: all namespaces
  std::string label_selector;  // empty: everything
  std::chrono::milliseconds initial_backoff{200};
  std::chrono::milliseconds max_backoff{30'000};
  int watch_timeout_seconds = 300;  // asks the server to end each watch after this
};

class Informer {
 public:
  // type: ADDED, MODIFIED or DELETED; obj: the new (or last) state.
  using Handler = std::function<void(const std::string& type, const nlohmann::json& obj)>;

  Informer(kube::KubeClient* client, kube::ResourceDescriptor resource, InformerOptions options);
  ~Informer();
  Informer(const Informer&) = delete;
  Informer& operator=(const Informer&) = delete;

  // REQUIRES: before Start().
  void AddHandler(Handler handler);
  void Start();
  // Cancels the running watch and joins the thread. Idempotent.
  void Stop();

  // True after the first successful list.
  bool HasSynced() const { return synced_; }
  std::optional<nlohmann::json> Get(const kube::ObjectKey& key) const;
  std::vector<nlohmann::json> List() const;
  const kube::ResourceDescriptor& resource() const { return resource_; }

  // Observability (and tests).
  std::string LastResourceVersion() const;
  int ListCount() const { return lists_; }
  int WatchCount() const { return watches_; }

 private:
  void Loop();
  bool Relist();  // false on error
  // Returns true when a relist is needed (410).
  bool WatchOnce(bool* progressed);
  void Deliver(const std::string& type, const nlohmann::json& obj);
  // Sleeps unless stopped; returns false when stopped.
  bool SleepFor(std::chrono::milliseconds d);

  kube::KubeClient* const client_;
  const kube::ResourceDescriptor resource_;
  const InformerOptions options_;
  std::vector<Handler> handlers_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<kube::ObjectKey, nlohmann::json> cache_;  // GUARDED_BY(mu_)
  std::string resource_version_;                     // GUARDED_BY(mu_)
  bool stopped_ = false;                             // GUARDED_BY(mu_)

  kube::WatchCancel cancel_;
  std::atomic<bool> synced_{false};
  std::atomic<int> lists_{0};
  std::atomic<int> watches_{0};
  std::thread thread_;
};

}  // namespace usp::op
