#include "core/join/left_join.h"

#include <algorithm>
#include <charconv>
#include <nlohmann/json.hpp>

#include "core/event_time.h"

namespace usp {
namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

TransformError MakeError(const char* reason, std::string message) {
  return TransformError{reason, std::move(message)};
}

// A string or integer identifier (as the simple-signal transform renders
// user and event ids). False for other types.
bool AssignIdentifier(element value, std::string* out) {
  char buf[24];
  switch (value.type()) {
    case element_type::STRING:
      out->assign(value.get_string().value_unsafe());
      return true;
    case element_type::INT64: {
      auto r = std::to_chars(buf, buf + sizeof(buf), value.get_int64().value_unsafe());
      out->assign(buf, r.ptr);
      return true;
    }
    case element_type::UINT64: {
      auto r = std::to_chars(buf, buf + sizeof(buf), value.get_uint64().value_unsafe());
      out->assign(buf, r.ptr);
      return true;
    }
    default:
      return false;
  }
}

template <typename T>
void DropEarliestExpiring(std::vector<T>* events) {
  while (events->size() > kMaxEventsPerSide) {
    auto it = std::min_element(events->begin(), events->end(),
                               [](const T& a, const T& b) { return a.expires_at < b.expires_at; });
    events->erase(it);
  }
}

}  // namespace

const char* ToString(JoinSide side) { return side == JoinSide::kLeft ? "left" : "right"; }

std::string RepartitionTopic(const std::string& signal_name, JoinSide side) {
  return "usp.repartition." + signal_name + "." + ToString(side);
}

void JoinResult::Clear() {
  records.clear();
  dead_letters.clear();
  bad = 0;
  fatal = Status::Ok();
  timers.clear();
  state_changed = false;
}

std::string EncodeJoinState(const JoinState& state) {
  nlohmann::json lefts = nlohmann::json::array();
  for (const auto& l : state.lefts) {
    nlohmann::json j = {{"t", l.event_time}, {"tp", l.topic}, {"p", l.partition},
                        {"o", l.offset},     {"d", l.doc},    {"x", l.expires_at},
                        {"v", l.version}};
    if (l.right_time) j["r"] = *l.right_time;
    lefts.push_back(std::move(j));
  }
  nlohmann::json rights = nlohmann::json::array();
  for (const auto& r : state.rights) {
    rights.push_back({{"t", r.event_time}, {"d", r.doc}, {"x", r.expires_at}});
  }
  return nlohmann::json{{"l", std::move(lefts)}, {"r", std::move(rights)}}.dump();
}

Result<JoinState> DecodeJoinState(std::string_view bytes) {
  nlohmann::json j = nlohmann::json::parse(bytes, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Status::InvalidArgument("corrupt join state");
  JoinState state;
  try {
    for (const auto& l : j.at("l")) {
      JoinState::Left left;
      left.event_time = l.at("t").get<int64_t>();
      left.topic = l.at("tp").get<std::string>();
      left.partition = l.at("p").get<int32_t>();
      left.offset = l.at("o").get<int64_t>();
      left.doc = l.at("d").get<std::string>();
      left.expires_at = l.at("x").get<int64_t>();
      left.version = l.at("v").get<int64_t>();
      if (l.contains("r")) left.right_time = l.at("r").get<int64_t>();
      state.lefts.push_back(std::move(left));
    }
    for (const auto& r : j.at("r")) {
      JoinState::Right right;
      right.event_time = r.at("t").get<int64_t>();
      right.doc = r.at("d").get<std::string>();
      right.expires_at = r.at("x").get<int64_t>();
      state.rights.push_back(std::move(right));
    }
  } catch (const nlohmann::json::exception& e) {
    return Status::InvalidArgument(std::string("corrupt join state: ") + e.what());
  }
  return state;
}

std::string BuildDeadLetter(std::string_view signal, std::string_view topic, int32_t partition,
                            int64_t offset, std::string_view reason, std::string_view message,
                            std::string_view payload, int64_t now_ms) {
  std::string out = "{\"source_topic\":";
  AppendJsonString(topic, &out);
  out.append(",\"source_partition\":").append(std::to_string(partition));
  out.append(",\"source_offset\":").append(std::to_string(offset));
  out.append(",\"signal\":");
  AppendJsonString(signal, &out);
  out.append(",\"error\":{\"reason\":");
  AppendJsonString(reason, &out);
  out.append(",\"message\":");
  AppendJsonString(message, &out);
  out.append("},\"payload\":");
  AppendJsonString(payload, &out);
  out.append(",\"time\":").append(std::to_string(now_ms)).append("}");
  return out;
}

Result<std::unique_ptr<LeftJoin>> LeftJoin::Create(const UserSignal& signal) {
  const UserSignalSpec& spec = signal.spec;
  if (spec.type != SignalType::kLeftJoin) {
    return Status::InvalidArgument("LeftJoin handles type left_join only, got " +
                                   std::string(ToString(spec.type)));
  }
  if (!spec.left_event_source || !spec.right_event_source) {
    return Status::InvalidArgument("UserSignal " + signal.metadata.name +
                                   " needs leftEventSource and rightEventSource");
  }
  const auto& tokens = spec.event_time_field.tokens();
  if (tokens.size() < 2 || tokens[0] != "left") {
    return Status::InvalidArgument(
        "UserSignal " + signal.metadata.name + ": eventTimeField (" +
        spec.event_time_field.text() +
        ") must address the left event (/left/...): a row's event time is its left event's");
  }
  auto side_time = JsonPointer::Parse(std::string_view(spec.event_time_field.text()).substr(5));
  if (!side_time.ok()) return side_time.status();

  // The rows are built by the simple-signal transform over the joined
  // document, as if it came from the left topic (its default event id).
  UserSignal simple = signal;
  simple.spec.type = SignalType::kSimple;
  simple.spec.left_event_source.reset();
  simple.spec.right_event_source.reset();
  simple.spec.event_sources = {
      EventSource{spec.left_event_source->kafka_topic, nullptr},
      EventSource{RepartitionTopic(signal.metadata.name, JoinSide::kLeft), nullptr}};
  auto transform = SignalTransform::Create(simple);
  if (!transform.ok()) return transform.status();
  return std::unique_ptr<LeftJoin>(
      new LeftJoin(signal, std::move(transform).value(), std::move(side_time).value()));
}

LeftJoin::LeftJoin(UserSignal signal, std::unique_ptr<SignalTransform> transform,
                   JsonPointer side_time)
    : signal_(std::move(signal)),
      transform_(std::move(transform)),
      side_time_(std::move(side_time)),
      left_key_(signal_.spec.left_event_source->join_key_field),
      right_key_(signal_.spec.right_event_source->join_key_field) {}

std::optional<std::string> LeftJoin::JoinKey(JoinSide side, std::string_view payload,
                                             TransformError* error) {
  element doc;
  if (auto err = parser_.parse(payload.data(), payload.size(), true).get(doc); err) {
    *error = MakeError("not_json",
                       std::string("payload is not valid JSON: ") + simdjson::error_message(err));
    return std::nullopt;
  }
  if (doc.type() != element_type::OBJECT) {
    *error = MakeError("not_object", "payload must be a JSON object");
    return std::nullopt;
  }
  const JsonPointer& pointer = side == JoinSide::kLeft ? left_key_ : right_key_;
  std::optional<element> value = pointer.Resolve(doc);
  if (!value || value->type() == element_type::NULL_VALUE) {
    *error = MakeError("missing_join_key",
                       std::string("no join key at ") + pointer.text() + " (" + ToString(side) +
                           " event)");
    return std::nullopt;
  }
  std::string key;
  if (!AssignIdentifier(*value, &key) || key.empty() || key.find('\0') != std::string::npos) {
    *error = MakeError("bad_join_key", "join key at " + pointer.text() +
                                           " must be a non-empty string (without NUL) or an "
                                           "integer");
    return std::nullopt;
  }
  return key;
}

void LeftJoin::Bad(const JoinRecordRef& record, const TransformError& error, int64_t now_ms,
                   JoinResult* out) {
  ++out->bad;
  switch (signal_.spec.on_error) {
    case OnError::kSkip:
      return;
    case OnError::kDeadLetter:
      out->dead_letters.push_back(BuildDeadLetter(signal_.metadata.name, record.topic,
                                                  record.partition, record.offset, error.reason,
                                                  error.message, record.payload, now_ms));
      return;
    case OnError::kFail:
      if (out->fatal.ok()) {
        out->fatal = Status::InvalidArgument(
            "bad event at " + std::string(record.topic) + "[" + std::to_string(record.partition) +
            "]@" + std::to_string(record.offset) + ": " + error.reason + ": " + error.message);
      }
      return;
  }
}

void LeftJoin::Reject(const JoinRecordRef& record, const TransformError& error, int64_t now_ms,
                      JoinResult* out) {
  Bad(record, error, now_ms, out);
}

void LeftJoin::Process(const JoinRecordRef& record, int64_t now_ms, JoinState* state,
                       JoinResult* out) {
  element doc;
  if (auto err = parser_.parse(record.payload.data(), record.payload.size(), true).get(doc);
      err) {
    Bad(record,
        MakeError("not_json",
                  std::string("payload is not valid JSON: ") + simdjson::error_message(err)),
        now_ms, out);
    return;
  }
  if (doc.type() != element_type::OBJECT) {
    Bad(record, MakeError("not_object", "payload must be a JSON object"), now_ms, out);
    return;
  }
  if (record.side == JoinSide::kLeft) {
    ProcessLeft(record, doc, now_ms, state, out);
  } else {
    ProcessRight(record, doc, now_ms, state, out);
  }
}

TransformOutcome LeftJoin::EmitRow(JoinState::Left* left, const std::string* right_doc,
                                   int64_t now_ms, JoinResult* out, TransformError* error) {
  joined_.assign("{\"left\":").append(left->doc).append(",\"right\":");
  joined_.append(right_doc != nullptr ? *right_doc : std::string("null")).append("}");
  SourceEvent event{left->topic, left->partition, left->offset, joined_};
  SignalRecord row;
  TransformOutcome outcome =
      transform_->Apply(event, std::max(now_ms, left->version + 1), &row, error);
  if (outcome == TransformOutcome::kEmitted) {
    left->version = row.version;
    out->records.push_back(std::move(row));
  }
  return outcome;
}

void LeftJoin::ProcessLeft(const JoinRecordRef& record, element doc, int64_t now_ms,
                           JoinState* state, JoinResult* out) {
  for (const auto& l : state->lefts) {
    if (l.topic == record.topic && l.partition == record.partition && l.offset == record.offset) {
      return;  // already joined (a replay)
    }
  }
  std::optional<element> time = side_time_.Resolve(doc);
  if (!time || time->type() == element_type::NULL_VALUE) {
    Bad(record, MakeError("missing_event_time", "no event time at " + side_time_.text()), now_ms,
        out);
    return;
  }
  Result<int64_t> t = ParseEventTime(*time);
  if (!t.ok()) {
    Bad(record,
        MakeError("bad_event_time",
                  "event time at " + side_time_.text() + ": " + t.status().message()),
        now_ms, out);
    return;
  }
  const int64_t window = signal_.spec.join_window_ms;
  JoinState::Left left;
  left.event_time = *t;
  left.topic.assign(record.topic);
  left.partition = record.partition;
  left.offset = record.offset;
  AppendElementJson(doc, &left.doc);
  left.expires_at = std::max(*t, now_ms) + window;

  // The best right: the latest by event time within the window.
  const JoinState::Right* best = nullptr;
  for (const auto& r : state->rights) {
    const int64_t distance = r.event_time > *t ? r.event_time - *t : *t - r.event_time;
    if (distance > window) continue;
    if (best == nullptr || r.event_time > best->event_time) best = &r;
  }
  if (best != nullptr) left.right_time = best->event_time;
  TransformError error;
  if (EmitRow(&left, best != nullptr ? &best->doc : nullptr, now_ms, out, &error) ==
      TransformOutcome::kFailed) {
    Bad(record, error, now_ms, out);
    return;  // a left without a row is not kept
  }
  out->timers.push_back(left.expires_at);
  state->lefts.push_back(std::move(left));
  DropEarliestExpiring(&state->lefts);
  out->state_changed = true;
}

void LeftJoin::ProcessRight(const JoinRecordRef& record, element doc, int64_t now_ms,
                            JoinState* state, JoinResult* out) {
  std::optional<element> time = side_time_.Resolve(doc);
  if (!time || time->type() == element_type::NULL_VALUE) {
    Bad(record, MakeError("missing_event_time", "no event time at " + side_time_.text()), now_ms,
        out);
    return;
  }
  Result<int64_t> t = ParseEventTime(*time);
  if (!t.ok()) {
    Bad(record,
        MakeError("bad_event_time",
                  "event time at " + side_time_.text() + ": " + t.status().message()),
        now_ms, out);
    return;
  }
  const int64_t window = signal_.spec.join_window_ms;
  JoinState::Right right;
  right.event_time = *t;
  AppendElementJson(doc, &right.doc);
  right.expires_at = std::max(*t, now_ms) + window;

  bool reported = false;
  for (auto& left : state->lefts) {
    const int64_t distance =
        left.event_time > *t ? left.event_time - *t : *t - left.event_time;
    if (distance > window) continue;
    if (left.right_time && *left.right_time >= *t) continue;  // its match is as late or later
    left.right_time = *t;
    TransformError error;
    if (EmitRow(&left, &right.doc, now_ms, out, &error) == TransformOutcome::kFailed &&
        !reported) {
      Bad(record, error, now_ms, out);
      reported = true;
    }
  }
  out->timers.push_back(right.expires_at);
  state->rights.push_back(std::move(right));
  DropEarliestExpiring(&state->rights);
  out->state_changed = true;
}

void LeftJoin::OnTimer(int64_t at_ms, JoinState* state, JoinResult* out) {
  const size_t before = state->lefts.size() + state->rights.size();
  std::erase_if(state->lefts, [at_ms](const JoinState::Left& l) { return l.expires_at <= at_ms; });
  std::erase_if(state->rights,
                [at_ms](const JoinState::Right& r) { return r.expires_at <= at_ms; });
  if (state->lefts.size() + state->rights.size() != before) out->state_changed = true;
}

}  // namespace usp
