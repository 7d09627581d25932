#pragma once
// A rate-limited work queue of object keys, with client-go's semantics:
// - a key is queued at most once (adds of a queued key are merged);
// - a key is never handed to two workers at once: adding a key that is
//   being processed marks it dirty, and it is queued again on Done();
// - AddRateLimited() delays a key by a per-key exponential backoff
//   (base_delay * 2^failures, capped at max_delay) until Forget();
// - ShutDown() drops queued keys and wakes every Get() with nullopt.
// Thread-safe.

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>

namespace usp::op {

struct WorkQueueOptions {
  std::chrono::milliseconds base_delay{50};  // first retry delay [50ms]
  std::chrono::milliseconds max_delay{60'000};  // cap of the per-key backoff [60s]
};

class WorkQueue {
 public:
  using Clock = std::chrono::steady_clock;
  explicit WorkQueue(WorkQueueOptions options = {}) : options_(options) {}

  void Add(const std::string& key);
  void AddAfter(const std::string& key, std::chrono::milliseconds delay);
  // Adds after the key's backoff and counts a failure.
  void AddRateLimited(const std::string& key);
  // Resets the key's failure count (after a successful reconcile).
  void Forget(const std::string& key);
  int NumRequeues(const std::string& key) const;
  // The delay the next AddRateLimited(key) would use.
  std::chrono::milliseconds NextBackoff(const std::string& key) const;

  // Blocks until a key is ready or the queue shuts down (nullopt).
  // REQUIRES: the caller calls Done(key) when finished with it.
  std::optional<std::string> Get();
  void Done(const std::string& key);

  void ShutDown();
  bool ShuttingDown() const;
  // Keys ready to be processed (not counting delayed or in-flight ones).
  size_t Len() const;
  // Keys waiting for their delay to expire.
  size_t DelayedLen() const;

 private:
  void AddLocked(const std::string& key);
  void PromoteDueLocked(Clock::time_point now);
  std::chrono::milliseconds BackoffLocked(const std::string& key) const;

  const WorkQueueOptions options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> queue_;     // GUARDED_BY(mu_)
  std::set<std::string> dirty_;       // queued or to be requeued; GUARDED_BY(mu_)
  std::set<std::string> processing_;  // GUARDED_BY(mu_)
  std::map<std::string, Clock::time_point> delayed_;  // key -> due time; GUARDED_BY(mu_)
  std::map<std::string, int> failures_;               // GUARDED_BY(mu_)
  bool shutting_down_ = false;                        // GUARDED_BY(mu_)
};

}  // namespace usp::op
