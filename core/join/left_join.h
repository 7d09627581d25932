#pragma once
// The left_join UserSignal, one join key at a time: left and right events in,
// signal records (versions of rows) and dead letters out. Pure: the caller
// (runtime/join's KeyedProcessor) owns the state store, the timers and the
// clock, and passes the processing time in.
//
// Rules (W = joinWindow; times are event times, epoch ms):
// - The joined document is {"left": L, "right": R|null}; userIdField,
//   eventTimeField, eventIdField, filter and attributes address it, and the
//   record is built by the simple-signal transform (core/signal_transform.h).
// - eventTimeField must start with /left: a row's identity (event time,
//   event id) is its left event's. A right event's own time is read at the
//   same path under /right (e.g. /left/event_time -> /right/event_time).
// - A left event and a right event join when |t_right - t_left| <= W.
// - A left event is emitted at once, joined with the best right event
//   already seen (or with "right": null).
// - The best right event for a left is the LATEST BY EVENT TIME among those
//   within the window (on equal times, the first one seen). A right event
//   arriving later that is better than a left's current match emits a newer
//   version of that left's row: same event time and event id, version =
//   max(processing time, previous version + 1). Every left of the key within
//   the window is updated (several lefts, one right -> one version each).
// - A right event outside a left's window never joins it.
// - State: each left and right event is kept until its expiry
//   max(t_event, processing time) + W (late events still find it) and a
//   timer is requested at that time; OnTimer drops what expired. At most
//   kMaxEventsPerSide events per side and key are kept (the earliest
//   expiring go first).
// - The filter applies to each version: a version it rejects is not emitted
//   (an earlier version stays as it was).
// - Bad records (not JSON, not an object, no join key, no/bad event time, a
//   row the transform rejects) follow onError: skip -> counted; deadLetter ->
//   a dead-letter document; fail -> JoinResult::fatal.
//
// Event ids: without eventIdField the id is "<topic>-<partition>-<offset>" of
// the left event as consumed (with repartitioning, the repartition topic's).

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/signal_record.h"
#include "core/signal_transform.h"
#include "core/status.h"
#include "core/user_signal.h"

namespace usp {

enum class JoinSide { kLeft, kRight };
const char* ToString(JoinSide side);  // "left" | "right"

// The internal topic a side is re-keyed into when the join key is not the
// user id: usp.repartition.<name>.<left|right>.
std::string RepartitionTopic(const std::string& signal_name, JoinSide side);

inline constexpr size_t kMaxEventsPerSide = 1000;

// The state of one join key.
struct JoinState {
  struct Left {
    int64_t event_time = 0;
    std::string topic;  // as consumed: the default event id is built from it
    int32_t partition = 0;
    int64_t offset = 0;
    std::string doc;  // the left event, compact JSON
    int64_t expires_at = 0;
    int64_t version = 0;                    // last emitted version, 0 = none
    std::optional<int64_t> right_time;      // event time of the current match
    bool operator==(const Left&) const = default;
  };
  struct Right {
    int64_t event_time = 0;
    std::string doc;
    int64_t expires_at = 0;
    bool operator==(const Right&) const = default;
  };
  std::vector<Left> lefts;
  std::vector<Right> rights;
  bool empty() const { return lefts.empty() && rights.empty(); }
  bool operator==(const JoinState&) const = default;
};
std::string EncodeJoinState(const JoinState& state);
Result<JoinState> DecodeJoinState(std::string_view bytes);

struct JoinRecordRef {
  JoinSide side = JoinSide::kLeft;
  std::string_view topic;
  int32_t partition = 0;
  int64_t offset = 0;
  std::string_view payload;
};

struct JoinResult {
  std::vector<SignalRecord> records;      // rows to emit, in order
  std::vector<std::string> dead_letters;  // onError deadLetter: documents for the DLQ
  int64_t bad = 0;                        // bad records, every onError mode
  Status fatal;                           // onError fail: the first bad record
  std::vector<int64_t> timers;            // OnTimer is due at these times
  bool state_changed = false;
  void Clear();
};

// The dead-letter document (same fields as the simple-signal worker's):
// {"source_topic","source_partition","source_offset","signal",
//  "error":{"reason","message"},"payload","time"}.
std::string BuildDeadLetter(std::string_view signal, std::string_view topic, int32_t partition,
                            int64_t offset, std::string_view reason, std::string_view message,
                            std::string_view payload, int64_t now_ms);

// Thread-compatible: owns JSON parsers; one instance per thread.
class LeftJoin {
 public:
  // REQUIRES: spec validated, type left_join.
  static Result<std::unique_ptr<LeftJoin>> Create(const UserSignal& signal);

  const UserSignal& signal() const { return signal_; }

  // The join key of a record of `side`: a non-empty string or an integer
  // (decimal), without NUL bytes. On failure *error says why (reason
  // not_json, not_object, missing_join_key, bad_join_key).
  std::optional<std::string> JoinKey(JoinSide side, std::string_view payload,
                                     TransformError* error);

  // Applies one record of `key` to *state.
  void Process(const JoinRecordRef& record, int64_t now_ms, JoinState* state, JoinResult* out);

  // A record whose join key could not be read: onError only.
  void Reject(const JoinRecordRef& record, const TransformError& error, int64_t now_ms,
              JoinResult* out);

  // The timer at `at_ms` fired: drops the events that expired by then.
  void OnTimer(int64_t at_ms, JoinState* state, JoinResult* out);

 private:
  LeftJoin(UserSignal signal, std::unique_ptr<SignalTransform> transform, JsonPointer side_time);
  void ProcessLeft(const JoinRecordRef& record, simdjson::dom::element doc, int64_t now_ms,
                   JoinState* state, JoinResult* out);
  void ProcessRight(const JoinRecordRef& record, simdjson::dom::element doc, int64_t now_ms,
                    JoinState* state, JoinResult* out);
  // Builds the row of `left` joined with `right` (nullptr: none) as version
  // max(now, left.version + 1). kEmitted appends the record.
  TransformOutcome EmitRow(JoinState::Left* left, const std::string* right_doc,
                           int64_t now_ms, JoinResult* out, TransformError* error);
  void Bad(const JoinRecordRef& record, const TransformError& error, int64_t now_ms,
           JoinResult* out);

  UserSignal signal_;
  std::unique_ptr<SignalTransform> transform_;
  JsonPointer side_time_;  // eventTimeField without its /left: the time inside an event
  JsonPointer left_key_;
  JsonPointer right_key_;
  simdjson::dom::parser parser_;
  std::string joined_;
};

}  // namespace usp
