// Session windows of one user: disjoint sessions [start, last + gap), sorted
// by start. An event joins every session whose window overlaps its own
// [t, t + gap); when it overlaps two or more, they merge into one (the
// bridging event). Merging or extending a session that was already emitted
// changes its window, so the new result lists the windows it supersedes.

#include <algorithm>
#include <limits>

#include "core/session/state_text.h"
#include "core/session/user_windows.h"

namespace usp::session_internal {
namespace {

using nlohmann::json;

struct Session {
  int64_t start = 0;
  int64_t last = 0;  // the latest event time
  Aggregates aggregates;
  bool pending = true;  // changed since it was last emitted (or never emitted)
  // Windows already emitted for the events of this session whose rows are
  // still current (a merge collects those of every part).
  std::vector<TimeWindow> emitted;

  int64_t End(int64_t gap) const { return last + gap; }
};

class SessionWindows : public UserWindows {
 public:
  AddResult Add(const WindowConfig& config, const json& record, int64_t t,
                int64_t watermark) override {
    const int64_t gap = config.window.gap_ms;
    const TimeWindow own = SessionWindowFor(t, gap);
    // Sessions are disjoint and sorted, so the overlapping ones are adjacent.
    auto first = std::find_if(sessions_.begin(), sessions_.end(), [&](const Session& s) {
      return Overlaps({s.start, s.End(gap)}, own);
    });
    auto last = std::find_if(first, sessions_.end(), [&](const Session& s) {
      return !Overlaps({s.start, s.End(gap)}, own);
    });
    if (first == last) {
      // Live sessions are never finalized, so only a new one can be too late.
      if (own.end_ms + config.lateness_ms <= watermark) return {AddOutcome::kDroppedLate};
      Session session{t, t, config.aggregator.Empty(), true, {}};
      config.aggregator.Add(record, t, &session.aggregates);
      auto pos = std::upper_bound(sessions_.begin(), sessions_.end(), t,
                                  [](int64_t time, const Session& s) { return time < s.start; });
      sessions_.insert(pos, std::move(session));
      return {own.end_ms <= watermark ? AddOutcome::kLate : AddOutcome::kOnTime};
    }
    Session& merged = *first;
    bool touched_emitted = !merged.emitted.empty();
    for (auto it = std::next(first); it != last; ++it) {
      config.aggregator.Merge(it->aggregates, &merged.aggregates);
      merged.last = std::max(merged.last, it->last);
      touched_emitted = touched_emitted || !it->emitted.empty();
      merged.emitted.insert(merged.emitted.end(), it->emitted.begin(), it->emitted.end());
    }
    const int64_t folded = std::distance(first, last) - 1;
    sessions_.erase(std::next(first), last);
    merged.start = std::min(merged.start, t);
    merged.last = std::max(merged.last, t);
    merged.pending = true;
    config.aggregator.Add(record, t, &merged.aggregates);
    const bool late = touched_emitted || merged.End(gap) <= watermark;
    return {late ? AddOutcome::kLate : AddOutcome::kOnTime, folded};
  }

  void Advance(const WindowConfig& config, int64_t watermark,
               std::vector<EmittedWindow>* out) override {
    const int64_t gap = config.window.gap_ms;
    for (Session& s : sessions_) {
      if (!s.pending || s.End(gap) > watermark) continue;
      const TimeWindow window{s.start, s.End(gap)};
      EmittedWindow emitted{window, s.aggregates, {}};
      for (const TimeWindow& old : s.emitted) {
        if (old != window) emitted.superseded.push_back(old);
      }
      std::sort(emitted.superseded.begin(), emitted.superseded.end());
      out->push_back(std::move(emitted));
      s.emitted = {window};
      s.pending = false;
    }
    std::erase_if(sessions_, [&](const Session& s) {
      return !s.pending && s.End(gap) + config.lateness_ms <= watermark;
    });
  }

  int64_t Deadline(const WindowConfig& config) const override {
    int64_t deadline = kNoDeadline;
    for (const Session& s : sessions_) {
      const int64_t end = s.End(config.window.gap_ms);
      deadline = std::min(deadline, s.pending ? end : end + config.lateness_ms);
    }
    return deadline;
  }

  bool empty() const override { return sessions_.empty(); }

  json ToState(const WindowConfig& config) const override {
    json sessions = json::array();
    for (const Session& s : sessions_) {
      json emitted = json::array();
      for (const TimeWindow& w : s.emitted) emitted.push_back({w.start_ms, w.end_ms});
      sessions.push_back({{"start", s.start},
                          {"last", s.last},
                          {"pending", s.pending},
                          {"emitted", std::move(emitted)},
                          {"aggregates", config.aggregator.ToState(s.aggregates)}});
    }
    return {{"sessions", std::move(sessions)}};
  }

  void AppendState(const WindowConfig& config, std::string* out) const override {
    // Keys sorted: aggregates, emitted, last, pending, start.
    out->append("{\"sessions\":[");
    bool first = true;
    for (const Session& s : sessions_) {
      if (!first) out->push_back(',');
      first = false;
      out->append("{\"aggregates\":");
      config.aggregator.AppendState(s.aggregates, out);
      out->append(",\"emitted\":[");
      for (size_t i = 0; i < s.emitted.size(); ++i) {
        if (i > 0) out->push_back(',');
        out->push_back('[');
        AppendInt(s.emitted[i].start_ms, out);
        out->push_back(',');
        AppendInt(s.emitted[i].end_ms, out);
        out->push_back(']');
      }
      out->append("],\"last\":");
      AppendInt(s.last, out);
      out->append(",\"pending\":");
      AppendBool(s.pending, out);
      out->append(",\"start\":");
      AppendInt(s.start, out);
      out->push_back('}');
    }
    out->append("]}");
  }

  int64_t OldestStart(const WindowConfig& config) const override {
    int64_t oldest = std::numeric_limits<int64_t>::max();
    for (const Session& s : sessions_) oldest = std::min(oldest, s.start);
    return oldest;
  }

  Status Restore(const WindowConfig& config, const json& state) {
    try {
      for (const json& item : state.at("sessions")) {
        Result<Aggregates> aggregates = config.aggregator.FromState(item.at("aggregates"));
        if (!aggregates.ok()) return aggregates.status();
        Session s{item.at("start").get<int64_t>(),
                  item.at("last").get<int64_t>(),
                  std::move(aggregates.value()),
                  item.at("pending").get<bool>(),
                  {}};
        for (const json& w : item.at("emitted")) {
          s.emitted.push_back({w.at(0).get<int64_t>(), w.at(1).get<int64_t>()});
        }
        if (s.last < s.start ||
            (!sessions_.empty() && sessions_.back().End(config.window.gap_ms) > s.start)) {
          return Status::InvalidArgument("bad session window state: sessions overlap");
        }
        sessions_.push_back(std::move(s));
      }
    } catch (const json::exception& e) {
      return Status::InvalidArgument(std::string("bad session window state: ") + e.what());
    }
    return Status::Ok();
  }

 private:
  std::vector<Session> sessions_;  // by start; disjoint
};

}  // namespace

std::unique_ptr<UserWindows> NewSessionWindows() { return std::make_unique<SessionWindows>(); }

Result<std::unique_ptr<UserWindows>> SessionWindowsFromState(const WindowConfig& config,
                                                             const json& state) {
  auto windows = std::make_unique<SessionWindows>();
  USP_RETURN_IF_ERROR(windows->Restore(config, state));
  return std::unique_ptr<UserWindows>(std::move(windows));
}

}  // namespace usp::session_internal
