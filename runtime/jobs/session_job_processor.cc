#include "runtime/jobs/session_job_processor.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <limits>
#include <nlohmann/json.hpp>
#include <utility>

#include "core/murmur2.h"
#include "core/segment/segment_logic.h"  // ParseSignalView
#include "core/session/session_record.h"
#include "core/session/state_text.h"
#include "core/session/user_windows.h"

namespace usp {

namespace {

using nlohmann::json;
constexpr int kStateFormat = 1;

}  // namespace

SessionJobProcessor::SessionJobProcessor(const SessionJob& job, Clock* clock,
                                         SessionJobProcessorOptions options)
    : job_(job),
      clock_(clock),
      options_(options),
      config_(std::make_unique<session_internal::WindowConfig>(job.spec)) {
  for (size_t i = 0; i < job_.spec.signals.size(); ++i) {
    source_of_signal_.emplace(job_.spec.signals[i], i);
  }
}

SessionJobProcessor::~SessionJobProcessor() = default;

Result<std::unique_ptr<SessionJobProcessor>> SessionJobProcessor::Create(
    const SessionJob& job, Clock* clock, SessionJobProcessorOptions options) {
  if (options.source_partitions <= 0) {
    return Status::InvalidArgument("source_partitions must be positive");
  }
  if (options.recheck_ms <= 0) return Status::InvalidArgument("recheck_ms must be positive");
  if (job.spec.signals.empty()) return Status::InvalidArgument("spec.signals: must not be empty");
  return std::unique_ptr<SessionJobProcessor>(new SessionJobProcessor(job, clock, options));
}

Result<std::string> SessionJobProcessor::KeyOf(std::string_view record) {
  auto view = ParseSignalView(record, &parser_);
  if (!view.ok()) {
    ++stats_.invalid;
    return view.status();
  }
  if (view->user_id.empty()) {
    ++stats_.invalid;
    return Status::InvalidArgument("user_id: must not be empty");
  }
  return std::string(view->user_id);
}

SessionJobProcessor::PartitionTime& SessionJobProcessor::Partition(int32_t partition, int64_t now) {
  auto it = partitions_.find(partition);
  if (it == partitions_.end()) {
    it = partitions_.emplace(partition, PartitionTime(job_.spec.signals.size())).first;
    it->second.since = now;
  }
  return it->second;
}

int64_t SessionJobProcessor::Watermark(PartitionTime& p, int64_t now) {
  if (options_.idle_timeout_ms <= 0) return p.tracker.watermark();
  if (p.behind) {
    for (size_t i = 0; i < p.last_seen.size(); ++i) p.tracker.SetIdle(i, false);
    return p.tracker.watermark();
  }
  const int64_t idle = options_.idle_timeout_ms;
  const int64_t since = p.since;
  for (size_t i = 0; i < p.last_seen.size(); ++i) {
    const int64_t seen = p.last_seen[i] >= 0 ? p.last_seen[i] : since;
    p.tracker.SetIdle(i, now - seen >= idle);
  }
  int64_t w = p.tracker.watermark();
  const int64_t last = p.last_record >= 0 ? p.last_record : p.since;
  if (now - last >= idle) w = std::max(w, now - idle);  // a quiet partition follows the clock
  return w;
}

int64_t SessionJobProcessor::PartitionWatermark(int32_t partition) {
  const int64_t now = clock_->NowMs();
  return Watermark(Partition(partition, now), now);
}

Result<SessionJobProcessor::Loaded> SessionJobProcessor::Load(
    std::string_view key, const std::optional<std::string>& state) const {
  Loaded loaded{SessionWindowOperator(job_), std::nullopt, {}};
  if (!state.has_value()) return loaded;
  json doc = json::parse(*state, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object() || doc.value("format", 0) != kStateFormat) {
    return Status::Internal("stored session state: not a format 1 object");
  }
  auto op = doc.find("operator");
  if (op != doc.end() && op->is_object()) {
    USP_RETURN_IF_ERROR(loaded.op.RestoreOperatorState(op->dump()));
  }
  auto windows = doc.find("windows");
  if (windows != doc.end() && windows->is_object()) {
    USP_RETURN_IF_ERROR(loaded.op.RestoreUserState(key, windows->dump()));
  }
  auto timer = doc.find("timer");
  if (timer != doc.end() && timer->is_number_integer()) loaded.timer = timer->get<int64_t>();
  auto seen = doc.find("seen");
  if (seen != doc.end() && seen->is_object()) {
    for (const auto& [id, t] : seen->items()) {
      if (t.is_number_integer()) loaded.seen.emplace(id, t.get<int64_t>());
    }
  }
  return loaded;
}

Result<std::unique_ptr<SessionJobProcessor::Loaded>> SessionJobProcessor::Acquire(
    std::string_view key, int32_t partition, const std::optional<std::string>& state) {
  if (auto it = cache_.find(key); it != cache_.end() && it->second.loaded != nullptr) {
    std::unique_ptr<Loaded> cached = std::move(it->second.loaded);
    if (state.has_value() && it->second.partition == partition && it->second.state == *state) {
      ++stats_.cache_hits;
      return cached;
    }
  }
  ++stats_.cache_misses;
  auto loaded = Load(key, state);
  if (!loaded.ok()) return loaded.status();
  return std::make_unique<Loaded>(std::move(loaded).value());
}

void SessionJobProcessor::Keep(std::string_view key, int32_t partition,
                               std::unique_ptr<Loaded> loaded,
                               const std::optional<std::string>& state) {
  auto it = cache_.find(key);
  if (!state.has_value() || options_.cache_users == 0) {
    if (it != cache_.end()) cache_.erase(it);
    return;
  }
  if (it == cache_.end()) {
    if (cache_.size() >= options_.cache_users) cache_.clear();
    it = cache_.emplace(std::string(key), CacheEntry{}).first;
  }
  it->second.partition = partition;
  it->second.state = *state;
  it->second.loaded = std::move(loaded);
}

void SessionJobProcessor::SetSourceBehind(int32_t partition, bool behind) {
  auto it = partitions_.find(partition);
  if (it == partitions_.end() && !behind) return;  // idleness counts from the first call
  Partition(partition, clock_->NowMs()).behind = behind;
}

void SessionJobProcessor::ForgetPartitions(const std::vector<int32_t>& partitions) {
  for (auto it = cache_.begin(); it != cache_.end();) {
    if (std::find(partitions.begin(), partitions.end(), it->second.partition) != partitions.end()) {
      it = cache_.erase(it);
    } else {
      ++it;
    }
  }
}

Status SessionJobProcessor::Finish(std::string_view key, Loaded* loaded,
                                   std::vector<SessionResult> results, int64_t now,
                                   ProcessorEffects* out) {
  for (const SessionResult& r : results) {
    out->outputs.push_back({r.record.user_id, SerializeSessionRecord(r.record), r.record.version});
  }
  stats_.results += static_cast<int64_t>(results.size());

  // Written as text directly (core/session/state_text.h): the same bytes
  // the nlohmann document gave, without building it.
  std::optional<int64_t> timer;
  windows_text_.clear();
  if (loaded->op.AppendUserState(key, &windows_text_)) {
    // The user's next deadline (an event-time watermark value). A timer
    // already set at or before where it would go now is kept: firing early
    // only re-checks and re-arms, and an active user's records do not move
    // it (each move is a store write and two changelog records).
    const int64_t deadline = loaded->op.UserDeadline(key);
    if (deadline != session_internal::kNoDeadline) {
      const int64_t wanted = std::max(deadline, now + options_.recheck_ms);
      timer = loaded->timer.has_value() && *loaded->timer <= wanted ? *loaded->timer : wanted;
    }
    // Identities older than every window left cannot be counted twice.
    const int64_t oldest = loaded->op.UserOldestStart(key);
    std::erase_if(loaded->seen, [&](const auto& entry) { return entry.second < oldest; });
    std::string state;
    state.reserve(windows_text_.size() + 256 + 32 * loaded->seen.size());
    // Keys sorted, as the document had them: format, operator, seen, timer,
    // windows.
    state.append("{\"format\":");
    session_internal::AppendInt(kStateFormat, &state);
    state.append(",\"operator\":");
    loaded->op.AppendOperatorState(&state);
    state.append(",\"seen\":{");
    bool first = true;
    for (const auto& [id, t] : loaded->seen) {
      if (!first) state.push_back(',');
      first = false;
      session_internal::AppendString(id, &state);
      state.push_back(':');
      session_internal::AppendInt(t, &state);
    }
    state.append("},\"timer\":");
    if (timer.has_value()) {
      session_internal::AppendInt(*timer, &state);
    } else {
      state.append("null");
    }
    state.append(",\"windows\":");
    state.append(windows_text_);
    state.push_back('}');
    out->state = std::move(state);
  } else {
    out->state.reset();  // every window finalized: nothing left for this user
  }
  out->state_changed = true;
  if (loaded->timer != timer) {
    if (loaded->timer.has_value()) out->timers_to_cancel.push_back(*loaded->timer);
    if (timer.has_value()) out->timers_to_set.push_back(*timer);
  }
  loaded->timer = timer;  // as a Load of the new state would read it
  return Status::Ok();
}

Status SessionJobProcessor::Process(std::string_view key, std::string_view record,
                                    const std::optional<std::string>& state,
                                    ProcessorEffects* out) {
  auto view = ParseSignalView(record, &parser_);
  if (!view.ok()) return Status::Ok();  // KeyOf rejected it already
  auto source = source_of_signal_.find(view->signal);
  if (source == source_of_signal_.end()) {
    ++stats_.ignored;
    return Status::Ok();
  }
  const int64_t event_time = view->event_time;
  const int64_t now = clock_->NowMs();
  const int32_t partition = PartitionForKey(key, options_.source_partitions);
  PartitionTime& p = Partition(partition, now);
  // The watermark this record is judged against excludes the record itself.
  const int64_t before = Watermark(p, now);

  auto acquired = Acquire(key, partition, state);
  if (!acquired.ok()) return acquired.status();
  std::unique_ptr<Loaded> loaded = std::move(acquired).value();
  std::vector<SessionResult> results;
  if (before != kNoWatermark) results = loaded->op.Advance(before, now);

  std::string identity;
  if (auto id = view->record["event_id"].get_string(); !id.error()) {
    identity.append(view->signal).append("/").append(id.value());
  }
  if (!identity.empty() && loaded->seen.count(identity) > 0) {
    ++stats_.duplicates;  // applied before: a replay of the signal job upstream
    return Status::Ok();
  }
  // Only what the aggregations read, converted from the simdjson parse
  // (not a third parse of the record, by nlohmann).
  fields_ = json::object();
  config_->aggregator.ExtractFields(view->record, &fields_);
  fields_["signal"] = view->signal;
  auto outcome = loaded->op.Add(key, event_time, fields_);
  if (outcome.ok() && !identity.empty() &&
      (*outcome == AddOutcome::kOnTime || *outcome == AddOutcome::kLate)) {
    loaded->seen.emplace(std::move(identity), event_time);
  }
  if (!outcome.ok()) {
    ++stats_.invalid;
    spdlog::warn("SessionJob/{}: record of {} not applied: {}", job_.metadata.name, key,
                 outcome.status().message());
  } else {
    switch (*outcome) {
      case AddOutcome::kOnTime:
        ++stats_.on_time;
        break;
      case AddOutcome::kLate:
        ++stats_.late;
        break;
      case AddOutcome::kDroppedLate:
        ++stats_.dropped_late;
        spdlog::debug("SessionJob/{}: event of {} at {} is beyond allowedLateness (watermark {})",
                      job_.metadata.name, key, event_time, loaded->op.watermark());
        break;
      case AddOutcome::kIgnored:
        ++stats_.ignored;
        break;
    }
  }

  p.last_record = now;
  p.last_seen[source->second] = now;
  p.tracker.Observe(source->second, event_time);
  const int64_t after = Watermark(p, now);
  if (after != kNoWatermark) {
    for (SessionResult& r : loaded->op.Advance(after, now)) results.push_back(std::move(r));
  }
  USP_RETURN_IF_ERROR(Finish(key, loaded.get(), std::move(results), now, out));
  Keep(key, partition, std::move(loaded), out->state);
  return Status::Ok();
}

Status SessionJobProcessor::OnTimer(std::string_view key, int64_t at_ms,
                                    const std::optional<std::string>& state,
                                    ProcessorEffects* out) {
  ++stats_.timers;
  if (!state.has_value()) return Status::Ok();
  const int64_t now = std::max(clock_->NowMs(), at_ms);
  const int32_t partition = PartitionForKey(key, options_.source_partitions);
  auto acquired = Acquire(key, partition, state);
  if (!acquired.ok()) return acquired.status();
  std::unique_ptr<Loaded> loaded = std::move(acquired).value();
  // The worker removes the fired timer itself.
  if (loaded->timer == at_ms) loaded->timer.reset();
  const int64_t w = Watermark(Partition(partition, now), now);
  std::vector<SessionResult> results;
  if (w != kNoWatermark) results = loaded->op.Advance(w, now);
  USP_RETURN_IF_ERROR(Finish(key, loaded.get(), std::move(results), now, out));
  Keep(key, partition, std::move(loaded), out->state);
  return Status::Ok();
}

}  // namespace usp
