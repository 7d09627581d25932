#pragma once
// SessionWindowOperator: a SessionJob's windows for the users of one
// partition. Pure: events and watermarks in, session records out; no clock,
// no I/O. One instance per assigned partition; not thread-safe.
//
// Time rules (event time, epoch ms):
// - The caller supplies the partition's watermark (see watermark.h: the
//   minimum over the partition's source topic-partitions of the largest
//   event time seen on each). It never goes back; a lower value is ignored.
// - A window [start, end) is *emitted* by the first Advance(w) with
//   w >= end, and *finalized* once w >= end + allowedLateness: its state is
//   dropped and it never changes again.
// - An event is judged against the watermark of the latest Advance:
//   * it only touches windows that are still open (end > w): on time;
//   * it touches a window that is due (end <= w) but not finalized: late
//     within allowedLateness. The window is updated and the next Advance
//     emits it again with a newer version (or for the first time, if it had
//     no events before);
//   * every window it belongs to is finalized: dropped-late. It is not
//     applied, Add says so, and stats().events_dropped_late counts it.
//   For sliding windows an event can be late for some of its windows and
//   too late for others; it updates the ones still open to it.
//   A session window that absorbs a late event stays open to it (it is
//   never finalized while live), so only an event that starts a new session
//   [t, t + gap) with t + gap + allowedLateness <= w is dropped.
// - Empty windows are never emitted.
//
// Versions: every result gets version = max(processing_time_ms, previous
// version + 1), so versions strictly increase across the operator (and
// across a failover, since the last version is part of the operator state):
// an update always wins over the row it replaces.

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/session/session_job.h"
#include "core/session/session_record.h"
#include "core/session/user_windows.h"
#include "core/session/watermark.h"
#include "core/session/window.h"
#include "core/status.h"

namespace usp {

struct SessionResult {
  SessionRecord record;
  // Session windows only: windows of this user and job emitted earlier whose
  // events are now part of this result (a late event merged or extended
  // them). Their rows have other (window_start, window_end) identities, so
  // the store should delete or hide them.
  std::vector<TimeWindow> superseded;
};

struct SessionOperatorStats {
  int64_t events_on_time = 0;
  int64_t events_late = 0;          // applied within allowedLateness to a due window
  int64_t events_dropped_late = 0;  // beyond allowedLateness; not applied
  int64_t events_ignored = 0;       // "signal" not one of spec.signals
  int64_t events_invalid = 0;       // Add returned an error
  int64_t sessions_merged = 0;      // sessions folded into another by a bridging event
  int64_t results_emitted = 0;
  int64_t results_saturated = 0;  // results whose distinct_count/top_k hit the value bound

  bool operator==(const SessionOperatorStats&) const = default;
};

class SessionWindowOperator {
 public:
  // REQUIRES: `job` came from ParseSessionJob (it is valid).
  explicit SessionWindowOperator(SessionJob job);
  ~SessionWindowOperator();
  SessionWindowOperator(SessionWindowOperator&&) noexcept;
  SessionWindowOperator& operator=(SessionWindowOperator&&) noexcept;

  // One signal record of `user_id` at `event_time_ms`. The record must be a
  // JSON object; its "signal" must be one of spec.signals (else kIgnored).
  // Aggregation fields are resolved against it. Errors (nothing applied):
  // empty user id, event time outside [0, kMaxEventTimeMs], record not an
  // object.
  Result<AddOutcome> Add(std::string_view user_id, int64_t event_time_ms,
                         const nlohmann::json& record);
  // The same from the record's JSON text.
  Result<AddOutcome> AddJson(std::string_view user_id, int64_t event_time_ms,
                             std::string_view record_json);

  // Moves the watermark to max(current, watermark_ms) and returns every
  // result due: windows completed by it, and windows changed by late events
  // since the last call, ordered by (window_end, window_start, user_id).
  // Finalized windows' state is dropped. Calling it again with the same
  // watermark returns only what late events changed in between.
  std::vector<SessionResult> Advance(int64_t watermark_ms, int64_t processing_time_ms);

  const SessionJob& job() const { return job_; }
  int64_t watermark() const { return watermark_; }  // kNoWatermark before the first Advance
  int64_t last_version() const { return last_version_; }
  const SessionOperatorStats& stats() const { return stats_; }
  size_t user_count() const { return users_.size(); }

  // --- State (RocksDB + changelog): one entry per user plus one for the
  // operator. Serialized forms are compact JSON with a format version.

  // Users whose state changed since the last call, sorted; clears the set.
  // A user without state (SerializeUserState gives nullopt) is a tombstone.
  std::vector<std::string> TakeChangedUsers();
  std::optional<std::string> SerializeUserState(std::string_view user_id) const;
  // The same document before dumping (nullopt: no state), and the user's
  // next deadline (the smallest watermark at which Advance has something to
  // do for it; kNoDeadline when none or no state). For callers that embed
  // the state in a larger document without a dump/parse round trip.
  std::optional<nlohmann::json> UserStateJson(std::string_view user_id) const;
  int64_t UserDeadline(std::string_view user_id) const;
  // The bytes of SerializeUserState appended to *out, without building the
  // document; false (nothing appended) when the user has no state.
  bool AppendUserState(std::string_view user_id, std::string* out) const;
  // The earliest event time any of the user's windows covers (INT64_MAX:
  // none).
  int64_t UserOldestStart(std::string_view user_id) const;
  // Replaces the user's state. REQUIRES: produced by an operator of a job
  // with the same window and aggregations.
  Status RestoreUserState(std::string_view user_id, std::string_view state);
  // Watermark, last version and stats.
  std::string SerializeOperatorState() const;
  nlohmann::json OperatorStateJson() const;  // the same before dumping
  void AppendOperatorState(std::string* out) const;  // the same appended to *out
  Status RestoreOperatorState(std::string_view state);

 private:
  struct User {
    std::unique_ptr<session_internal::UserWindows> windows;
    int64_t deadline = session_internal::kNoDeadline;
  };
  using UserMap = std::map<std::string, User, std::less<>>;

  std::unique_ptr<session_internal::UserWindows> NewWindows() const;
  // Re-files the user's timer after a change; forgets a user without state.
  void Reschedule(UserMap::iterator it);

  SessionJob job_;
  session_internal::WindowConfig config_;
  std::set<std::string, std::less<>> signals_;
  UserMap users_;
  std::set<std::pair<int64_t, std::string>> timers_;  // (deadline, user)
  std::set<std::string, std::less<>> changed_;
  int64_t watermark_ = kNoWatermark;
  int64_t last_version_ = 0;
  SessionOperatorStats stats_;
};

}  // namespace usp
