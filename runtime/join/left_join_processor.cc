#include "runtime/join/left_join_processor.h"

#include <algorithm>

#include "core/signal_record.h"
#include "runtime/state/changelog_reader.h"
#include "runtime/state/state_codec.h"

namespace usp {

namespace {

constexpr char kJoinStateBinary = '\x02';

}  // namespace

std::string EncodeStoredJoinState(const JoinState& state) {
  using namespace state_codec;
  size_t size = 16;
  for (const auto& l : state.lefts) size += 64 + l.topic.size() + l.doc.size();
  for (const auto& r : state.rights) size += 32 + r.doc.size();
  std::string out;
  out.reserve(size);
  out.push_back(kJoinStateBinary);
  PutVarint(state.lefts.size(), &out);
  for (const auto& l : state.lefts) {
    PutFixed64(l.event_time, &out);
    PutBytes(l.topic, &out);
    PutFixed64(l.partition, &out);
    PutFixed64(l.offset, &out);
    PutBytes(l.doc, &out);
    PutFixed64(l.expires_at, &out);
    PutFixed64(l.version, &out);
    out.push_back(l.right_time ? '\x01' : '\x00');
    if (l.right_time) PutFixed64(*l.right_time, &out);
  }
  PutVarint(state.rights.size(), &out);
  for (const auto& r : state.rights) {
    PutFixed64(r.event_time, &out);
    PutBytes(r.doc, &out);
    PutFixed64(r.expires_at, &out);
  }
  return out;
}

Result<JoinState> DecodeStoredJoinState(std::string_view bytes) {
  using namespace state_codec;
  if (!bytes.empty() && bytes.front() == '{') return DecodeJoinState(bytes);  // format 1
  if (bytes.empty() || bytes.front() != kJoinStateBinary) {
    return Status::InvalidArgument("corrupt join state: unknown format");
  }
  std::string_view in = bytes.substr(1);
  const Status corrupt = Status::InvalidArgument("corrupt join state: truncated");
  JoinState state;
  uint64_t n = 0;
  if (!GetVarint(&in, &n) || n > in.size()) return corrupt;
  state.lefts.resize(n);
  for (auto& l : state.lefts) {
    std::string_view topic, doc;
    int64_t partition = 0;
    if (!GetFixed64(&in, &l.event_time) || !GetBytes(&in, &topic) ||
        !GetFixed64(&in, &partition) || !GetFixed64(&in, &l.offset) || !GetBytes(&in, &doc) ||
        !GetFixed64(&in, &l.expires_at) || !GetFixed64(&in, &l.version) || in.empty()) {
      return corrupt;
    }
    l.topic.assign(topic);
    l.partition = static_cast<int32_t>(partition);
    l.doc.assign(doc);
    const char has_right = in.front();
    in.remove_prefix(1);
    if (has_right == '\x01') {
      int64_t t = 0;
      if (!GetFixed64(&in, &t)) return corrupt;
      l.right_time = t;
    } else if (has_right != '\x00') {
      return corrupt;
    }
  }
  if (!GetVarint(&in, &n) || n > in.size()) return corrupt;
  state.rights.resize(n);
  for (auto& r : state.rights) {
    std::string_view doc;
    if (!GetFixed64(&in, &r.event_time) || !GetBytes(&in, &doc) || !GetFixed64(&in, &r.expires_at)) {
      return corrupt;
    }
    r.doc.assign(doc);
  }
  if (!in.empty()) return Status::InvalidArgument("corrupt join state: trailing bytes");
  return state;
}

Result<std::unique_ptr<LeftJoinProcessor>> LeftJoinProcessor::Create(
    const UserSignal& signal, std::vector<std::string> left_topics,
    std::vector<std::string> right_topics, Clock* clock) {
  auto join = LeftJoin::Create(signal);
  if (!join.ok()) return join.status();
  for (const auto& t : left_topics) {
    if (std::find(right_topics.begin(), right_topics.end(), t) != right_topics.end()) {
      return Status::InvalidArgument("UserSignal " + signal.metadata.name + ": topic " + t +
                                     " is both the left and the right source");
    }
  }
  return std::unique_ptr<LeftJoinProcessor>(new LeftJoinProcessor(
      std::move(join).value(), std::move(left_topics), std::move(right_topics), clock));
}

LeftJoinProcessor::LeftJoinProcessor(std::unique_ptr<LeftJoin> join,
                                     std::vector<std::string> left_topics,
                                     std::vector<std::string> right_topics, Clock* clock)
    : join_(std::move(join)),
      left_topics_(std::move(left_topics)),
      right_topics_(std::move(right_topics)),
      clock_(clock) {}

std::optional<JoinSide> LeftJoinProcessor::SideOf(std::string_view topic) const {
  for (const auto& t : left_topics_) {
    if (t == topic) return JoinSide::kLeft;
  }
  for (const auto& t : right_topics_) {
    if (t == topic) return JoinSide::kRight;
  }
  return std::nullopt;
}

Result<std::string> LeftJoinProcessor::KeyOf(std::string_view) {
  return Status::Internal("left_join needs the record's topic (KeyOfRecord)");
}

Status LeftJoinProcessor::Process(std::string_view, std::string_view,
                                  const std::optional<std::string>&, ProcessorEffects*) {
  return Status::Internal("left_join needs the record's topic (ProcessRecord)");
}

Result<std::string> LeftJoinProcessor::KeyOfRecord(const SourceRecordMeta& meta,
                                                   std::string_view record) {
  std::optional<JoinSide> side = SideOf(meta.topic);
  if (!side) {
    return Status::InvalidArgument("topic " + std::string(meta.topic) +
                                   " is not a source of this join");
  }
  TransformError error;
  std::optional<std::string> key = join_->JoinKey(*side, record, &error);
  if (key) return std::move(*key);
  if (join_->signal().spec.on_error == OnError::kSkip) {
    ++bad_records_;
    return Status::InvalidArgument(error.reason + ": " + error.message);
  }
  return std::string(kBadRecordKey);  // ProcessRecord dead-letters it or fails
}

Status LeftJoinProcessor::Emit(JoinResult& result, const SourceRecordMeta* meta,
                               ProcessorEffects* out) {
  bad_records_ += result.bad;
  const int64_t now = clock_->NowMs();
  for (SignalRecord& r : result.records) {
    const int64_t event_time = r.event_time;
    std::string key = r.user_id;
    out->outputs.push_back({std::move(key), SerializeSignalRecord(r), event_time});
  }
  for (std::string& dl : result.dead_letters) {
    std::string key = meta != nullptr ? std::string(meta->topic) + "-" +
                                            std::to_string(meta->partition) + "-" +
                                            std::to_string(meta->offset)
                                      : std::string();
    out->outputs.push_back(
        {std::move(key), std::move(dl), now, join_->signal().spec.dead_letter_topic});
  }
  out->timers_to_set.insert(out->timers_to_set.end(), result.timers.begin(), result.timers.end());
  return result.fatal;
}

Status LeftJoinProcessor::ProcessRecord(const SourceRecordMeta& meta, std::string_view key,
                                        std::string_view record,
                                        const std::optional<std::string>& state,
                                        ProcessorEffects* out) {
  std::optional<JoinSide> side = SideOf(meta.topic);
  if (!side) {
    return Status::InvalidArgument("topic " + std::string(meta.topic) +
                                   " is not a source of this join");
  }
  result_.Clear();
  const int64_t now = clock_->NowMs();
  const JoinRecordRef ref{*side, meta.topic, meta.partition, meta.offset, record};
  if (key == kBadRecordKey) {
    TransformError error;
    if (join_->JoinKey(*side, record, &error)) {
      error = {"bad_join_key", "join key not usable"};  // unreachable: keys have no NUL
    }
    join_->Reject(ref, error, now, &result_);
    return Emit(result_, &meta, out);
  }
  JoinState join_state;
  if (state && !state->empty()) {
    auto decoded = DecodeStoredJoinState(*state);
    if (!decoded.ok()) return decoded.status();
    join_state = std::move(decoded).value();
  }
  join_->Process(ref, now, &join_state, &result_);
  if (result_.state_changed) {
    out->state_changed = true;
    if (join_state.empty()) {
      out->state.reset();
    } else {
      out->state = EncodeStoredJoinState(join_state);
    }
  }
  return Emit(result_, &meta, out);
}

Status LeftJoinProcessor::OnTimer(std::string_view key, int64_t at_ms,
                                  const std::optional<std::string>& state,
                                  ProcessorEffects* out) {
  if (!state || state->empty()) return Status::Ok();  // stale: nothing left
  auto decoded = DecodeStoredJoinState(*state);
  if (!decoded.ok()) return decoded.status();
  JoinState join_state = std::move(decoded).value();
  result_.Clear();
  join_->OnTimer(at_ms, &join_state, &result_);
  if (result_.state_changed) {
    out->state_changed = true;
    if (join_state.empty()) {
      out->state.reset();
    } else {
      out->state = EncodeStoredJoinState(join_state);
    }
  }
  return Emit(result_, nullptr, out);
}

bool NeedsRepartition(const UserSignal& signal) {
  const auto& spec = signal.spec;
  if (!spec.left_event_source) return false;
  return "/left" + spec.left_event_source->join_key_field.text() != spec.user_id_field.text();
}

Result<LeftJoinJob> MakeLeftJoinJob(const UserSignal& signal, Clock* clock) {
  const auto& spec = signal.spec;
  if (spec.type != SignalType::kLeftJoin || !spec.left_event_source ||
      !spec.right_event_source) {
    return Status::InvalidArgument("UserSignal " + signal.metadata.name +
                                   " is not a left_join with both sources");
  }
  LeftJoinJob out;
  out.job.kind = "UserSignal";
  out.job.name = signal.metadata.name;
  out.job.output_topic = spec.output_topic;
  out.job.changelog_topic = ChangelogTopic("UserSignal", signal.metadata.name);
  out.dead_letter_topic = spec.dead_letter_topic;
  out.job.dead_letter_topic = spec.dead_letter_topic;
  std::string left = spec.left_event_source->kafka_topic;
  std::string right = spec.right_event_source->kafka_topic;
  if (NeedsRepartition(signal)) {
    out.repartition.push_back({left, RepartitionTopic(signal.metadata.name, JoinSide::kLeft),
                               spec.left_event_source->join_key_field});
    out.repartition.push_back({right, RepartitionTopic(signal.metadata.name, JoinSide::kRight),
                               spec.right_event_source->join_key_field});
    left = out.repartition[0].target_topic;
    right = out.repartition[1].target_topic;
  }
  out.job.source_topics = {left, right};
  auto processor = LeftJoinProcessor::Create(signal, {left}, {right}, clock);
  if (!processor.ok()) return processor.status();
  out.processor = std::move(processor).value();
  return out;
}

}  // namespace usp
