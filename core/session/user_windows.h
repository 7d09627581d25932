#pragma once
// Internal to core/session/: one user's open windows and their aggregates,
// for either window type. SessionWindowOperator owns one UserWindows per user
// and drives it with the partition's watermark; the per-type rules live in
// sliding_windows.cc and session_windows.cc.

#include <cstdint>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/session/aggregator.h"
#include "core/session/session_job.h"
#include "core/session/window.h"
#include "core/status.h"

namespace usp::session_internal {

inline constexpr int64_t kNoDeadline = std::numeric_limits<int64_t>::max();

// The job's window rules, shared by every user of an operator.
struct WindowConfig {
  explicit WindowConfig(const SessionJobSpec& spec);

  Aggregator aggregator;
  WindowSpec window;
  int64_t lateness_ms = 0;
  int64_t panes_per_window = 1;  // sliding: size / slide
};

struct EmittedWindow {
  TimeWindow window;
  Aggregates aggregates;
  std::vector<TimeWindow> superseded;  // earlier results this one replaces (sessions)
};

struct AddResult {
  AddOutcome outcome = AddOutcome::kOnTime;
  int64_t sessions_merged = 0;  // session windows folded into another by this event
};

class UserWindows {
 public:
  virtual ~UserWindows() = default;

  // Applies one event, judged against `watermark` (the operator's current
  // one, kNoWatermark before the first).
  virtual AddResult Add(const WindowConfig& config, const nlohmann::json& record,
                        int64_t event_time_ms, int64_t watermark) = 0;

  // Appends every window due at `watermark` that has not been emitted in its
  // current form (complete windows, and windows changed by late events), then
  // drops the state of windows finalized at `watermark` (end + lateness <=
  // watermark).
  virtual void Advance(const WindowConfig& config, int64_t watermark,
                       std::vector<EmittedWindow>* out) = 0;

  // The smallest watermark at which Advance has something to do (emit or
  // drop); kNoDeadline when nothing. After Advance(w) it is > w unless an
  // Add since then made a window due.
  virtual int64_t Deadline(const WindowConfig& config) const = 0;

  // No state left: the operator forgets the user.
  virtual bool empty() const = 0;

  virtual nlohmann::json ToState(const WindowConfig& config) const = 0;
  // The same as compact JSON text: the bytes of ToState(config).dump()
  // (state_text.h).
  virtual void AppendState(const WindowConfig& config, std::string* out) const = 0;

  // The earliest event time any window held covers (sliding: the first
  // pane's start; session: the first session's start); INT64_MAX when none.
  virtual int64_t OldestStart(const WindowConfig& config) const = 0;
};

std::unique_ptr<UserWindows> NewSlidingWindows();
std::unique_ptr<UserWindows> NewSessionWindows();
Result<std::unique_ptr<UserWindows>> SlidingWindowsFromState(const WindowConfig& config,
                                                             const nlohmann::json& state);
Result<std::unique_ptr<UserWindows>> SessionWindowsFromState(const WindowConfig& config,
                                                             const nlohmann::json& state);

}  // namespace usp::session_internal
