#pragma once
// Job state of stateful workers (left joins, segments, session windows).
//
// State is partitioned like the source: what events of source partition p
// build lives under p, locally in RocksDB and remotely in partition p of the
// job's compacted changelog topic (key = state key, value = state bytes, a
// null value deletes). The active owner of p writes both; every other worker
// of the job tails the changelog into its own store (ChangelogReader), so a
// standby that takes p over only has to read the few records it is behind.
// The store remembers, per partition, how far the changelog has been applied.
//
// Timers live in the same store under a reserved key prefix (TimerKey), so
// they travel through the changelog with the state they belong to and a new
// owner fires them at exactly the same time.
//
// Thread-compatible; Get/Scan may run concurrently with each other.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace usp {

// One change: a value to store, or nullopt to delete the key. Values must not
// be empty (an empty changelog value means "deleted").
struct StateWrite {
  std::string key;
  std::optional<std::string> value;
};

class StateStore {
 public:
  // Opens (creating) the RocksDB database at `path`.
  static Result<std::unique_ptr<StateStore>> Open(const std::string& path);
  virtual ~StateStore() = default;

  virtual Result<std::optional<std::string>> Get(int32_t partition, std::string_view key) const = 0;

  // Applies `writes` to `partition` atomically. `changelog_next` >= 0 also
  // records, in the same write, that the changelog of `partition` is applied
  // up to (excluding) that offset: restores and standbys pass it; the active
  // owner passes -1 (its writes reach the changelog through its producer).
  virtual Status Apply(int32_t partition, const std::vector<StateWrite>& writes,
                       int64_t changelog_next = -1) = 0;

  // The next changelog offset to apply for `partition` (0: nothing applied).
  virtual int64_t ChangelogNext(int32_t partition) const = 0;

  // Calls `fn(key, value)` for the keys of `partition` starting with
  // `prefix`, in key order, until it returns false.
  Status Scan(int32_t partition, std::string_view prefix,
              const std::function<bool(std::string_view key, std::string_view value)>& fn) const {
    return ScanFrom(partition, prefix, {}, fn);
  }
  // The same, from the first key at or after prefix + `from` on.
  virtual Status ScanFrom(
      int32_t partition, std::string_view prefix, std::string_view from,
      const std::function<bool(std::string_view key, std::string_view value)>& fn) const = 0;

  // Forgets everything of `partition`, including its changelog position.
  virtual Status DropPartition(int32_t partition) = 0;
};

// Timers. A timer is the state key TimerKey(at_ms, id) (any non-empty value):
// keys sort by time, so the due ones are a prefix scan away.
std::string TimerKey(int64_t at_ms, std::string_view id);
// False when `key` is not a timer key.
bool ParseTimerKey(std::string_view key, int64_t* at_ms, std::string* id);
// The timers of `partition` due at `now_ms` (at <= now), oldest first, at
// most `max`; only those after `after_ms` (at > after_ms) when given.
Result<std::vector<std::pair<int64_t, std::string>>> DueTimers(
    const StateStore& store, int32_t partition, int64_t now_ms, size_t max = 1000,
    int64_t after_ms = INT64_MIN);

}  // namespace usp
