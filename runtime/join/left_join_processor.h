#pragma once
// The left_join UserSignal as a stateful job: the KeyedProcessor over
// core/join's LeftJoin, and the job description the StatefulWorker runs.
//
// Keys: the join key value of either side (a left and a right event with the
// same join key share one state). The side is the record's topic, which the
// worker passes in SourceRecordMeta (KeyOfRecord / ProcessRecord).
// Bad records:
//  - no join key: onError skip -> KeyOfRecord fails (the worker counts it
//    invalid); deadLetter/fail -> the reserved key kBadRecordKey, whose
//    Process writes the dead letter or fails;
//  - anything else (no event time, a row the transform rejects) is found by
//    Process: a dead letter (to spec.deadLetterTopic), nothing, or an error.
// Outputs: signal records keyed by user id (timestamp = event time); dead
// letters keyed "<topic>-<partition>-<offset>" with ProcessorOutput::topic =
// the dead-letter topic.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/join/left_join.h"
#include "core/status.h"
#include "core/user_signal.h"
#include "runtime/stateful/stateful_worker.h"
#include "runtime/worker/worker_io.h"

namespace usp {

// The key of records whose join key cannot be read (no join key is "\0").
inline constexpr std::string_view kBadRecordKey{"\0", 1};

class LeftJoinProcessor : public KeyedProcessor {
 public:
  // `left_topics` / `right_topics`: the topics each side is consumed from
  // (the source topic, or its repartition topic). `clock` gives the
  // processing time (the versions) and must outlive the processor.
  // REQUIRES: signal validated, type left_join.
  static Result<std::unique_ptr<LeftJoinProcessor>> Create(const UserSignal& signal,
                                                           std::vector<std::string> left_topics,
                                                           std::vector<std::string> right_topics,
                                                           Clock* clock);

  Result<std::string> KeyOfRecord(const SourceRecordMeta& meta, std::string_view record) override;
  Status ProcessRecord(const SourceRecordMeta& meta, std::string_view key,
                       std::string_view record, const std::optional<std::string>& state,
                       ProcessorEffects* out) override;
  Status OnTimer(std::string_view key, int64_t at_ms, const std::optional<std::string>& state,
                 ProcessorEffects* out) override;
  // Without the topic a record's side is unknown: these fail.
  Result<std::string> KeyOf(std::string_view record) override;
  Status Process(std::string_view key, std::string_view record,
                 const std::optional<std::string>& state, ProcessorEffects* out) override;

  // Bad records seen (every onError mode).
  int64_t bad_records() const { return bad_records_; }

 private:
  LeftJoinProcessor(std::unique_ptr<LeftJoin> join, std::vector<std::string> left_topics,
                    std::vector<std::string> right_topics, Clock* clock);
  std::optional<JoinSide> SideOf(std::string_view topic) const;
  Status Emit(JoinResult& result, const SourceRecordMeta* meta, ProcessorEffects* out);

  std::unique_ptr<LeftJoin> join_;
  std::vector<std::string> left_topics_;
  std::vector<std::string> right_topics_;
  Clock* clock_;
  JoinResult result_;
  int64_t bad_records_ = 0;
};

// The join state as the processor stores it (inside the worker's state
// envelope). Format 2, binary: 0x02, varint count of lefts, per left
// (fixed64 event time, bytes topic, fixed64 partition, fixed64 offset, bytes
// doc, fixed64 expires_at, fixed64 version, 0x00 | 0x01 fixed64 right
// time), varint count of rights, per right (fixed64 event time, bytes doc,
// fixed64 expires_at); bytes = varint length + raw bytes, so the event
// documents are copied, not escaped. Format 1 is core/join's JSON
// (EncodeJoinState, first byte '{'): DecodeStoredJoinState reads both, so a
// state written by an older worker restores unchanged.
std::string EncodeStoredJoinState(const JoinState& state);
Result<JoinState> DecodeStoredJoinState(std::string_view bytes);

// True when the join key is not the user id (userIdField is not
// /left<left joinKeyField>): the sources must be re-keyed first.
bool NeedsRepartition(const UserSignal& signal);

// One re-keying step (see repartitioner.h): consume `source_topic`, write
// each record to `target_topic` keyed by the join key at `join_key_field`.
struct RepartitionStep {
  std::string source_topic;
  std::string target_topic;  // usp.repartition.<name>.<left|right>
  JsonPointer join_key_field;
};

struct LeftJoinJob {
  // kind "UserSignal"; sources = the left and right kafkaTopic (or their
  // repartition topics); output = spec.outputTopic; changelog =
  // ChangelogTopic("UserSignal", name).
  StatefulJob job;
  std::unique_ptr<LeftJoinProcessor> processor;
  // Empty when the join key is the user id. Otherwise the two steps that must
  // run (Repartitioner) for job.source_topics to fill.
  std::vector<RepartitionStep> repartition;
  // Topics the job writes besides the output and changelog.
  std::string dead_letter_topic;
};

// The job of a left_join UserSignal. InvalidArgument for another type or a
// join the logic cannot run (eventTimeField not under /left).
Result<LeftJoinJob> MakeLeftJoinJob(const UserSignal& signal, Clock* clock = SystemClock());

}  // namespace usp
