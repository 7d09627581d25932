#include "runtime/batch/progress.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdio>

namespace usp {

bool IsStderrTty() { return isatty(STDERR_FILENO) == 1; }

Progress::Progress(std::string phase, bool tty, std::string unit, int log_interval_ms)
    : phase_(std::move(phase)),
      tty_(tty),
      unit_(std::move(unit)),
      log_interval_ms_(log_interval_ms),
      start_(std::chrono::steady_clock::now()),
      last_(start_) {}

std::string Progress::Line(int64_t events, int64_t done, int64_t total) const {
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = secs > 0 ? static_cast<double>(events) / secs : 0;
  std::string line = phase_ + ": " + std::to_string(events) + " " + unit_ + ", " +
                     std::to_string(static_cast<int64_t>(rate)) + " " + unit_ + "/s";
  if (total > 0) {
    const double fraction = std::min(1.0, static_cast<double>(done) / static_cast<double>(total));
    char buf[64];
    std::snprintf(buf, sizeof(buf), ", %.0f%%", fraction * 100);
    line += buf;
    if (fraction > 0 && fraction < 1) {
      std::snprintf(buf, sizeof(buf), ", ETA %.0fs", secs * (1 - fraction) / fraction);
      line += buf;
    }
  }
  return line;
}

void Progress::Update(int64_t events, int64_t done, int64_t total) {
  const auto now = std::chrono::steady_clock::now();
  const int interval = tty_ ? 200 : log_interval_ms_;
  if (std::chrono::duration_cast<std::chrono::milliseconds>(now - last_).count() < interval) return;
  last_ = now;
  if (tty_) {
    std::fprintf(stderr, "\r\033[K%s", Line(events, done, total).c_str());
    std::fflush(stderr);
    shown_ = true;
  } else {
    spdlog::info("{}", Line(events, done, total));
  }
}

void Progress::Done(int64_t events) {
  if (tty_) {
    std::fprintf(stderr, "\r\033[K%s\n", Line(events, 1, 1).c_str());
    std::fflush(stderr);
  } else {
    spdlog::info("{} done", Line(events, 1, 1));
  }
}

}  // namespace usp
