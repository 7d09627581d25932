#pragma once
// Progress of a long backfill phase. On a terminal: one line on stderr,
// rewritten in place ("reading  12.3k events  8.1k/s  41%  ETA 7s"). Not on
// a terminal (a Kubernetes Job's log): a plain log line every few seconds.

#include <chrono>
#include <cstdint>
#include <string>

namespace usp {

class Progress {
 public:
  // `tty`: whether stderr is a terminal (IsStderrTty()).
  // `unit`: what is counted ("events", "rows").
  Progress(std::string phase, bool tty, std::string unit = "events", int log_interval_ms = 5000);
  // `done` of `total` (bytes, offsets, records) after `events` counted;
  // total <= 0: unknown (no % or ETA).
  void Update(int64_t events, int64_t done, int64_t total);
  // Ends the line (terminal) or logs the final state.
  void Done(int64_t events);

 private:
  std::string Line(int64_t events, int64_t done, int64_t total) const;
  std::string phase_;
  bool tty_;
  std::string unit_;
  int log_interval_ms_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_;
  bool shown_ = false;
};

bool IsStderrTty();

}  // namespace usp
