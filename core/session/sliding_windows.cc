// Sliding windows of one user, kept as panes (see window.h).
//
// Invariant after Advance(w) (and after Add catches `through_` up to the
// operator's watermark): every non-empty window ending at or before
// `through_` has been emitted in its current form, except the windows in
// `pending_`, which late events changed. Because the operator advances every
// user whose Deadline() is reached, a user it did not visit at watermark w
// has no non-empty window ending in (through_, w]; that is what lets Add move
// `through_` forward without emitting.

#include <algorithm>
#include <limits>
#include <map>
#include <set>

#include "core/session/state_text.h"
#include "core/session/user_windows.h"
#include "core/session/watermark.h"

namespace usp::session_internal {
namespace {

using nlohmann::json;

class SlidingWindows : public UserWindows {
 public:
  AddResult Add(const WindowConfig& config, const json& record, int64_t t,
                int64_t watermark) override {
    through_ = std::max(through_, watermark);
    const int64_t slide = config.window.slide_ms;
    const int64_t pane = PaneOf(t, slide);
    // The windows holding pane p end at (p + 1) * slide ... (p + m) * slide.
    // Those ending after the watermark are open; the others are due: still
    // updatable while end + lateness > watermark, finalized after.
    bool applies = (pane + config.panes_per_window) * slide > through_;
    bool late = false;
    for (int64_t end = (pane + 1) * slide;
         end <= through_ && end <= (pane + config.panes_per_window) * slide; end += slide) {
      if (end + config.lateness_ms <= watermark) continue;  // finalized
      pending_.insert(end - config.window.size_ms);
      applies = late = true;
    }
    if (!applies) return {AddOutcome::kDroppedLate};
    auto it = panes_.find(pane);
    if (it == panes_.end()) it = panes_.emplace(pane, config.aggregator.Empty()).first;
    config.aggregator.Add(record, t, &it->second);
    return {late ? AddOutcome::kLate : AddOutcome::kOnTime};
  }

  void Advance(const WindowConfig& config, int64_t watermark,
               std::vector<EmittedWindow>* out) override {
    const int64_t slide = config.window.slide_ms;
    const int64_t m = config.panes_per_window;
    for (int64_t start : pending_) Emit(config, start, out);
    pending_.clear();
    // Newly complete windows, skipping stretches without panes.
    for (int64_t end = FirstEndAfter(through_, slide); end <= watermark; end += slide) {
      auto it = panes_.lower_bound(end / slide - m);
      if (it == panes_.end()) break;
      end = std::max(end, (it->first + 1) * slide);
      if (end > watermark) break;
      Emit(config, end - config.window.size_ms, out);
    }
    through_ = std::max(through_, watermark);
    // A pane goes once the last window holding it is finalized.
    while (!panes_.empty() &&
           (panes_.begin()->first + m) * slide + config.lateness_ms <= watermark) {
      panes_.erase(panes_.begin());
    }
  }

  int64_t Deadline(const WindowConfig& config) const override {
    if (!pending_.empty()) return *pending_.begin() + config.window.size_ms;
    if (panes_.empty()) return kNoDeadline;
    const int64_t slide = config.window.slide_ms;
    const int64_t m = config.panes_per_window;
    int64_t deadline = (panes_.begin()->first + m) * slide + config.lateness_ms;
    const int64_t first_end = FirstEndAfter(through_, slide);
    auto it = panes_.lower_bound(first_end / slide - m);
    if (it != panes_.end()) {
      deadline = std::min(deadline, std::max(first_end, (it->first + 1) * slide));
    }
    return deadline;
  }

  bool empty() const override { return panes_.empty() && pending_.empty(); }

  json ToState(const WindowConfig& config) const override {
    json panes = json::array();
    for (const auto& [pane, aggregates] : panes_) {
      panes.push_back({pane, config.aggregator.ToState(aggregates)});
    }
    return {{"through", through_ == kNoWatermark ? json(nullptr) : json(through_)},
            {"pending", pending_},
            {"panes", std::move(panes)}};
  }

  void AppendState(const WindowConfig& config, std::string* out) const override {
    // Keys sorted: panes, pending, through.
    out->append("{\"panes\":[");
    bool first = true;
    for (const auto& [pane, aggregates] : panes_) {
      if (!first) out->push_back(',');
      first = false;
      out->push_back('[');
      AppendInt(pane, out);
      out->push_back(',');
      config.aggregator.AppendState(aggregates, out);
      out->push_back(']');
    }
    out->append("],\"pending\":[");
    first = true;
    for (int64_t start : pending_) {
      if (!first) out->push_back(',');
      first = false;
      AppendInt(start, out);
    }
    out->append("],\"through\":");
    if (through_ == kNoWatermark) {
      out->append("null");
    } else {
      AppendInt(through_, out);
    }
    out->push_back('}');
  }

  int64_t OldestStart(const WindowConfig& config) const override {
    if (panes_.empty()) return std::numeric_limits<int64_t>::max();
    return panes_.begin()->first * config.window.slide_ms;
  }

  Status Restore(const WindowConfig& config, const json& state) {
    try {
      const json& through = state.at("through");
      through_ = through.is_null() ? kNoWatermark : through.get<int64_t>();
      pending_ = state.at("pending").get<std::set<int64_t>>();
      for (const json& item : state.at("panes")) {
        Result<Aggregates> aggregates = config.aggregator.FromState(item.at(1));
        if (!aggregates.ok()) return aggregates.status();
        panes_.emplace(item.at(0).get<int64_t>(), std::move(aggregates.value()));
      }
    } catch (const json::exception& e) {
      return Status::InvalidArgument(std::string("bad sliding window state: ") + e.what());
    }
    return Status::Ok();
  }

 private:
  // The first window end (a multiple of slide) strictly after `time`.
  // Event times are in [0, kMaxEventTimeMs], so every window ends in
  // (0, kMaxEventTimeMs + size]; clamping keeps the arithmetic in range.
  static int64_t FirstEndAfter(int64_t time, int64_t slide) {
    const int64_t clamped = std::clamp<int64_t>(time, -1, kMaxEventTimeMs + kMaxWindowDurationMs);
    return (FloorDiv(clamped, slide) + 1) * slide;
  }

  void Emit(const WindowConfig& config, int64_t start, std::vector<EmittedWindow>* out) const {
    const int64_t first = start / config.window.slide_ms;  // start is a multiple of slide
    auto it = panes_.lower_bound(first);
    if (it == panes_.end() || it->first >= first + config.panes_per_window) return;  // empty
    Aggregates merged = config.aggregator.Empty();
    for (; it != panes_.end() && it->first < first + config.panes_per_window; ++it) {
      config.aggregator.Merge(it->second, &merged);
    }
    out->push_back({{start, start + config.window.size_ms}, std::move(merged), {}});
  }

  std::map<int64_t, Aggregates> panes_;  // pane index -> aggregates of its events
  std::set<int64_t> pending_;            // starts of due windows changed by late events
  int64_t through_ = kNoWatermark;       // see the invariant above
};

}  // namespace

std::unique_ptr<UserWindows> NewSlidingWindows() { return std::make_unique<SlidingWindows>(); }

Result<std::unique_ptr<UserWindows>> SlidingWindowsFromState(const WindowConfig& config,
                                                             const json& state) {
  auto windows = std::make_unique<SlidingWindows>();
  USP_RETURN_IF_ERROR(windows->Restore(config, state));
  return std::unique_ptr<UserWindows>(std::move(windows));
}

}  // namespace usp::session_internal
