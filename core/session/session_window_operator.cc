#include "core/session/session_window_operator.h"

#include <algorithm>
#include <iterator>
#include <limits>
#include <tuple>

#include "core/session/state_text.h"

namespace usp {

namespace session_internal {

WindowConfig::WindowConfig(const SessionJobSpec& spec)
    : aggregator(spec.aggregations),
      window(spec.window),
      lateness_ms(spec.allowed_lateness_ms),
      panes_per_window(spec.window.type == WindowType::kSliding && spec.window.slide_ms > 0
                           ? spec.window.size_ms / spec.window.slide_ms
                           : 1) {}

}  // namespace session_internal

namespace {

using nlohmann::json;
using session_internal::EmittedWindow;
using session_internal::kNoDeadline;

constexpr int kStateFormat = 1;

json StatsToJson(const SessionOperatorStats& s) {
  return {
      {"events_on_time", s.events_on_time},           {"events_late", s.events_late},
      {"events_dropped_late", s.events_dropped_late}, {"events_ignored", s.events_ignored},
      {"events_invalid", s.events_invalid},           {"sessions_merged", s.sessions_merged},
      {"results_emitted", s.results_emitted},         {"results_saturated", s.results_saturated}};
}

SessionOperatorStats StatsFromJson(const json& j) {  // throws json::exception
  SessionOperatorStats s;
  s.events_on_time = j.at("events_on_time").get<int64_t>();
  s.events_late = j.at("events_late").get<int64_t>();
  s.events_dropped_late = j.at("events_dropped_late").get<int64_t>();
  s.events_ignored = j.at("events_ignored").get<int64_t>();
  s.events_invalid = j.at("events_invalid").get<int64_t>();
  s.sessions_merged = j.at("sessions_merged").get<int64_t>();
  s.results_emitted = j.at("results_emitted").get<int64_t>();
  s.results_saturated = j.at("results_saturated").get<int64_t>();
  return s;
}

}  // namespace

SessionWindowOperator::SessionWindowOperator(SessionJob job)
    : job_(std::move(job)),
      config_(job_.spec),
      signals_(job_.spec.signals.begin(), job_.spec.signals.end()) {}

SessionWindowOperator::~SessionWindowOperator() = default;
SessionWindowOperator::SessionWindowOperator(SessionWindowOperator&&) noexcept = default;
SessionWindowOperator& SessionWindowOperator::operator=(SessionWindowOperator&&) noexcept = default;

std::unique_ptr<session_internal::UserWindows> SessionWindowOperator::NewWindows() const {
  return config_.window.type == WindowType::kSliding ? session_internal::NewSlidingWindows()
                                                     : session_internal::NewSessionWindows();
}

Result<AddOutcome> SessionWindowOperator::Add(std::string_view user_id, int64_t event_time_ms,
                                              const json& record) {
  if (user_id.empty()) {
    ++stats_.events_invalid;
    return Status::InvalidArgument("user id must not be empty");
  }
  if (event_time_ms < 0 || event_time_ms > kMaxEventTimeMs) {
    ++stats_.events_invalid;
    return Status::InvalidArgument("event time " + std::to_string(event_time_ms) +
                                   " out of range [0, " + std::to_string(kMaxEventTimeMs) + "]");
  }
  if (!record.is_object()) {
    ++stats_.events_invalid;
    return Status::InvalidArgument("signal record must be a JSON object");
  }
  auto signal = record.find("signal");
  if (signal == record.end() || !signal->is_string() ||
      !signals_.contains(signal->get_ref<const std::string&>())) {
    ++stats_.events_ignored;
    return AddOutcome::kIgnored;
  }
  auto it = users_.find(user_id);
  if (it == users_.end()) it = users_.emplace(std::string(user_id), User{NewWindows()}).first;
  const session_internal::AddResult result =
      it->second.windows->Add(config_, record, event_time_ms, watermark_);
  switch (result.outcome) {
    case AddOutcome::kOnTime:
      ++stats_.events_on_time;
      break;
    case AddOutcome::kLate:
      ++stats_.events_late;
      break;
    case AddOutcome::kDroppedLate:
      ++stats_.events_dropped_late;
      break;
    case AddOutcome::kIgnored:
      break;
  }
  stats_.sessions_merged += result.sessions_merged;
  if (result.outcome != AddOutcome::kDroppedLate) changed_.insert(it->first);
  Reschedule(it);
  return result.outcome;
}

Result<AddOutcome> SessionWindowOperator::AddJson(std::string_view user_id, int64_t event_time_ms,
                                                  std::string_view record_json) {
  json record = json::parse(record_json, nullptr, /*allow_exceptions=*/false);
  if (record.is_discarded()) {
    ++stats_.events_invalid;
    return Status::InvalidArgument("signal record is not valid JSON");
  }
  return Add(user_id, event_time_ms, record);
}

void SessionWindowOperator::Reschedule(UserMap::iterator it) {
  User& user = it->second;
  if (user.deadline != kNoDeadline) timers_.erase({user.deadline, it->first});
  if (user.windows->empty()) {
    users_.erase(it);
    return;
  }
  user.deadline = user.windows->Deadline(config_);
  if (user.deadline != kNoDeadline) timers_.emplace(user.deadline, it->first);
}

std::vector<SessionResult> SessionWindowOperator::Advance(int64_t watermark_ms,
                                                          int64_t processing_time_ms) {
  watermark_ = std::max(watermark_, watermark_ms);
  std::vector<std::string> due;
  for (auto t = timers_.begin(); t != timers_.end() && t->first <= watermark_; ++t) {
    due.push_back(t->second);
  }
  std::vector<SessionResult> results;
  std::vector<EmittedWindow> emitted;
  for (const std::string& name : due) {
    auto it = users_.find(name);
    emitted.clear();
    it->second.windows->Advance(config_, watermark_, &emitted);
    for (EmittedWindow& e : emitted) {
      if (config_.aggregator.Saturated(e.aggregates)) ++stats_.results_saturated;
      SessionResult result;
      result.record.user_id = name;
      result.record.job = job_.metadata.name;
      result.record.window_start = e.window.start_ms;
      result.record.window_end = e.window.end_ms;
      result.record.aggregations_json = config_.aggregator.ResultJson(e.aggregates);
      result.superseded = std::move(e.superseded);
      results.push_back(std::move(result));
    }
    changed_.insert(name);
    Reschedule(it);
  }
  std::sort(results.begin(), results.end(), [](const SessionResult& a, const SessionResult& b) {
    return std::tie(a.record.window_end, a.record.window_start, a.record.user_id) <
           std::tie(b.record.window_end, b.record.window_start, b.record.user_id);
  });
  for (SessionResult& result : results) {
    last_version_ = std::max(processing_time_ms, last_version_ + 1);
    result.record.version = last_version_;
  }
  stats_.results_emitted += static_cast<int64_t>(results.size());
  return results;
}

std::vector<std::string> SessionWindowOperator::TakeChangedUsers() {
  std::vector<std::string> out(changed_.begin(), changed_.end());
  changed_.clear();
  return out;
}

std::optional<json> SessionWindowOperator::UserStateJson(std::string_view user_id) const {
  auto it = users_.find(user_id);
  if (it == users_.end()) return std::nullopt;
  return json{{"format", kStateFormat},
              {"window", ToString(config_.window.type)},
              {"windows", it->second.windows->ToState(config_)}};
}

int64_t SessionWindowOperator::UserDeadline(std::string_view user_id) const {
  auto it = users_.find(user_id);
  return it == users_.end() ? kNoDeadline : it->second.deadline;
}

bool SessionWindowOperator::AppendUserState(std::string_view user_id, std::string* out) const {
  auto it = users_.find(user_id);
  if (it == users_.end()) return false;
  // Keys sorted: format, window, windows.
  out->append("{\"format\":");
  session_internal::AppendInt(kStateFormat, out);
  out->append(",\"window\":\"");
  out->append(ToString(config_.window.type));
  out->append("\",\"windows\":");
  it->second.windows->AppendState(config_, out);
  out->push_back('}');
  return true;
}

int64_t SessionWindowOperator::UserOldestStart(std::string_view user_id) const {
  auto it = users_.find(user_id);
  return it == users_.end() ? std::numeric_limits<int64_t>::max()
                            : it->second.windows->OldestStart(config_);
}

std::optional<std::string> SessionWindowOperator::SerializeUserState(
    std::string_view user_id) const {
  std::string out;
  if (!AppendUserState(user_id, &out)) return std::nullopt;
  return out;
}

Status SessionWindowOperator::RestoreUserState(std::string_view user_id, std::string_view state) {
  if (user_id.empty()) return Status::InvalidArgument("user id must not be empty");
  json doc = json::parse(state, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return Status::InvalidArgument("user state is not a JSON object");
  }
  auto format = doc.find("format");
  if (format == doc.end() || *format != kStateFormat) {
    return Status::InvalidArgument("user state: unsupported format");
  }
  auto window = doc.find("window");
  auto windows = doc.find("windows");
  if (window == doc.end() || *window != ToString(config_.window.type) || windows == doc.end()) {
    return Status::InvalidArgument(std::string("user state: not a ") +
                                   ToString(config_.window.type) + " window state");
  }
  Result<std::unique_ptr<session_internal::UserWindows>> restored =
      config_.window.type == WindowType::kSliding
          ? session_internal::SlidingWindowsFromState(config_, *windows)
          : session_internal::SessionWindowsFromState(config_, *windows);
  if (!restored.ok()) return restored.status();
  auto it = users_.find(user_id);
  if (it == users_.end()) {
    it = users_.emplace(std::string(user_id), User{}).first;
  } else if (it->second.deadline != kNoDeadline) {
    timers_.erase({it->second.deadline, it->first});
    it->second.deadline = kNoDeadline;
  }
  it->second.windows = std::move(restored.value());
  Reschedule(it);
  return Status::Ok();
}

json SessionWindowOperator::OperatorStateJson() const {
  return {{"format", kStateFormat},
          {"watermark", watermark_ == kNoWatermark ? json(nullptr) : json(watermark_)},
          {"last_version", last_version_},
          {"stats", StatsToJson(stats_)}};
}

void SessionWindowOperator::AppendOperatorState(std::string* out) const {
  using session_internal::AppendInt;
  using session_internal::AppendKey;
  // Keys sorted: format, last_version, stats (its keys sorted too), watermark.
  out->append("{\"format\":");
  AppendInt(kStateFormat, out);
  out->append(",\"last_version\":");
  AppendInt(last_version_, out);
  out->append(",\"stats\":{");
  const std::pair<const char*, int64_t> stats[] = {
      {"events_dropped_late", stats_.events_dropped_late},
      {"events_ignored", stats_.events_ignored},
      {"events_invalid", stats_.events_invalid},
      {"events_late", stats_.events_late},
      {"events_on_time", stats_.events_on_time},
      {"results_emitted", stats_.results_emitted},
      {"results_saturated", stats_.results_saturated},
      {"sessions_merged", stats_.sessions_merged},
  };
  for (size_t i = 0; i < std::size(stats); ++i) {
    if (i > 0) out->push_back(',');
    AppendKey(stats[i].first, out);
    AppendInt(stats[i].second, out);
  }
  out->append("},\"watermark\":");
  if (watermark_ == kNoWatermark) {
    out->append("null");
  } else {
    AppendInt(watermark_, out);
  }
  out->push_back('}');
}

std::string SessionWindowOperator::SerializeOperatorState() const {
  std::string out;
  AppendOperatorState(&out);
  return out;
}

Status SessionWindowOperator::RestoreOperatorState(std::string_view state) {
  json doc = json::parse(state, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return Status::InvalidArgument("operator state is not a JSON object");
  }
  try {
    if (doc.at("format") != kStateFormat) {
      return Status::InvalidArgument("operator state: unsupported format");
    }
    const json& watermark = doc.at("watermark");
    const int64_t restored_watermark =
        watermark.is_null() ? kNoWatermark : watermark.get<int64_t>();
    const int64_t restored_version = doc.at("last_version").get<int64_t>();
    stats_ = StatsFromJson(doc.at("stats"));
    watermark_ = std::max(watermark_, restored_watermark);
    last_version_ = std::max(last_version_, restored_version);
  } catch (const json::exception& e) {
    return Status::InvalidArgument(std::string("bad operator state: ") + e.what());
  }
  return Status::Ok();
}

}  // namespace usp
