#pragma once
// SessionJobProcessor: a SessionJob as a KeyedProcessor for the stateful
// worker (runtime/stateful/stateful_worker.h), on top of the pure
// SessionWindowOperator (core/session/session_window_operator.h).
//
// Keys and state. key = user_id of the signal record. The state of a user is
// that user's windows (SessionWindowOperator::SerializeUserState) plus the
// operator state as of the user's last change (watermark, last version) and
// the user's pending timer:
//   {"format":1,"operator":{...},"windows":{...},"timer":T|null,"seen":{id:t}}
// A user whose windows are all finalized has no state (deleted).
//
// Time. Windows close on the EVENT-TIME watermark, as the core operator
// defines it: per source partition (partition = murmur2(user_id) %
// source_partitions, the same partition on every signal topic), the minimum
// over the job's signals of the largest event time seen, kept in memory by a
// WatermarkTracker per partition. A signal that sent nothing on a partition
// for `idle_timeout_ms` of wall-clock time is idle and does not hold the
// watermark back; when the whole partition has been quiet that long, its
// watermark follows the wall clock: max(watermark, now - idle_timeout_ms), so
// the last windows of a quiet stream still close. None of this applies while
// the worker reports the partition behind (SetSourceBehind: records not yet
// consumed, or its end not known yet): a backlog is not a quiet stream, even
// when its records arrive slowly (a slow or overloaded worker, a take-over
// reading from the committed offset), so its late-looking records are not
// dropped for a watermark the wall clock invented.
//
// Each record first advances the user's windows to the partition's watermark
// before it (so lateness is judged against it), is added, then advances them
// to the watermark after it. A user with open windows also has one wall-clock
// timer, at max(next window deadline, now + recheck_ms): the deadline is an
// event-time value, so for a live stream the timer fires about when the
// watermark gets there; when it fires the user's windows are advanced to the
// partition's current watermark (other users' records move it), and the
// timer is re-armed while windows remain. A timer already set no later than
// that is kept rather than moved (firing early only re-checks and re-arms),
// so an active user's records do not each move it. Timers never invent a
// watermark from the wall clock for a partition that is receiving records,
// so replays and backlogs close windows by event time only.
//
// Duplicates: signal topics are written at least once, so after a failover
// of the signal job a record can arrive again (same signal and event_id, a
// later offset). The user's state remembers the identities of the records
// applied to windows it still holds ("seen"; an identity is forgotten once
// its event time is before every window left in the state — a copy arriving
// later is dropped late anyway); a record seen before is skipped and counted
// (stats().duplicates), so a count is never inflated by a replay upstream.
//
// Lateness: SessionWindowOperator's allowedLateness rules. Late events within
// the lateness update the window (a newer version is emitted); events beyond
// it are not applied and are counted (stats().dropped_late), and logged.
//
// Results: one session record per emitted window, key = user_id, timestamp =
// its version. Superseded session windows (a late event merged emitted
// sessions) are not in the public record; the merged result carries the new
// bounds and a newer version.
//
// The in-memory watermarks are lost on a restart or a takeover: the new owner
// starts from each user's stored watermark (never going back) and rebuilds
// the partition's watermark from the records it reads; idleness on a
// partition counts from the first record or timer the processor handles for
// it.
//
// Thread-compatible (one worker loop calls it).

#include <nlohmann/json.hpp>
#include <simdjson.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/session/session_job.h"
#include "core/session/session_window_operator.h"
#include "core/session/watermark.h"
#include "core/status.h"
#include "runtime/stateful/stateful_worker.h"
#include "runtime/worker/worker_io.h"

namespace usp {

namespace session_internal {
struct WindowConfig;
}

struct SessionJobProcessorOptions {
  int32_t source_partitions = 1;    // partitions of the signal topics (> 0)
  int64_t idle_timeout_ms = 10000;  // <= 0: sources are never idle, no wall-clock fallback
  int64_t recheck_ms = 1000;        // a user's timer is at least this far ahead
  // Users whose decoded state is kept between records (0: none). A cached
  // user is used only when the state the worker passes in is byte for byte
  // the state this processor last produced for it; the stored state stays
  // the source of truth. When full, the cache is emptied.
  size_t cache_users = 50000;
};

struct SessionJobStats {
  int64_t on_time = 0;
  int64_t late = 0;          // applied within allowedLateness
  int64_t dropped_late = 0;  // beyond allowedLateness: counted, not applied
  int64_t ignored = 0;       // records of signals the job does not name
  int64_t invalid = 0;       // records that are not signal records
  int64_t results = 0;       // session records emitted
  int64_t timers = 0;        // timers handled
  int64_t duplicates = 0;    // records already applied (same signal and event_id): skipped
  int64_t cache_hits = 0;    // records and timers that used the cached decoded state
  int64_t cache_misses = 0;  // ... that decoded the stored state
};

class SessionJobProcessor : public KeyedProcessor {
 public:
  // REQUIRES: `job` validated (ParseSessionJob); `clock` outlives the processor.
  static Result<std::unique_ptr<SessionJobProcessor>> Create(const SessionJob& job, Clock* clock,
                                                             SessionJobProcessorOptions options);
  ~SessionJobProcessor() override;

  Result<std::string> KeyOf(std::string_view record) override;
  Status Process(std::string_view key, std::string_view record,
                 const std::optional<std::string>& state, ProcessorEffects* out) override;
  Status OnTimer(std::string_view key, int64_t at_ms, const std::optional<std::string>& state,
                 ProcessorEffects* out) override;
  void ForgetPartitions(const std::vector<int32_t>& partitions) override;
  // A partition with a backlog is never idle (see "Time" above).
  void SetSourceBehind(int32_t partition, bool behind) override;

  // The event-time watermark of a source partition (kNoWatermark: none yet),
  // as used now (idle rules applied).
  int64_t PartitionWatermark(int32_t partition);
  const SessionJobStats& stats() const { return stats_; }

 private:
  struct PartitionTime {
    explicit PartitionTime(size_t sources) : tracker(sources), last_seen(sources, -1) {}
    WatermarkTracker tracker;
    std::vector<int64_t> last_seen;  // wall clock of each source's last record, -1 never
    // Wall clock of the first call for this partition (record or timer):
    // idleness is measured from here, not from the processor's creation, so
    // a standby promoted long after it started does not find its new
    // partitions "quiet" before it read anything.
    int64_t since = 0;
    int64_t last_record = -1;  // wall clock of the partition's last record
    bool behind = false;       // the worker reports a backlog (SetSourceBehind)
  };
  // What a user's stored state holds, restored into a fresh operator.
  struct Loaded {
    SessionWindowOperator op;
    std::optional<int64_t> timer;
    // Identities ("<signal>/<event_id>") of the records applied to windows
    // still in the state, with their event times (duplicate detection).
    std::map<std::string, int64_t, std::less<>> seen;
  };

  SessionJobProcessor(const SessionJob& job, Clock* clock, SessionJobProcessorOptions options);
  PartitionTime& Partition(int32_t partition, int64_t now);
  int64_t Watermark(PartitionTime& p, int64_t now);
  Result<Loaded> Load(std::string_view key, const std::optional<std::string>& state) const;
  // The user's decoded state: the cached one when `state` is what this
  // processor last produced for the user, else Load. The cache entry is
  // taken (a failed or skipped record leaves no entry behind).
  Result<std::unique_ptr<Loaded>> Acquire(std::string_view key, int32_t partition,
                                          const std::optional<std::string>& state);
  // Caches `loaded` as the decoded form of `state` (nullopt: forgets the user).
  void Keep(std::string_view key, int32_t partition, std::unique_ptr<Loaded> loaded,
            const std::optional<std::string>& state);
  // Emits `results`, stores the user's state and re-arms its timer.
  Status Finish(std::string_view key, Loaded* loaded, std::vector<SessionResult> results,
                int64_t now, ProcessorEffects* out);

  SessionJob job_;
  Clock* clock_;
  SessionJobProcessorOptions options_;
  std::unique_ptr<session_internal::WindowConfig> config_;
  std::map<std::string, size_t, std::less<>> source_of_signal_;
  std::map<int32_t, PartitionTime> partitions_;
  simdjson::dom::parser parser_;
  std::string windows_text_;  // Finish's scratch buffer
  nlohmann::json fields_;     // the part of a record the aggregations read
  SessionJobStats stats_;
  struct CacheEntry {
    int32_t partition = 0;
    std::string state;               // the state bytes `loaded` was serialized to
    std::unique_ptr<Loaded> loaded;  // null while taken
  };
  struct KeyHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  std::unordered_map<std::string, CacheEntry, KeyHash, std::equal_to<>> cache_;
};

}  // namespace usp
