#pragma once
// Wall-clock time behind an interface so leader election and status
// timestamps are testable, plus the two RFC 3339 forms the API uses.

#include <chrono>
#include <mutex>
#include <optional>
#include <string>

namespace usp::op {

using TimePoint = std::chrono::system_clock::time_point;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint Now() const = 0;
};

class SystemClock : public Clock {
 public:
  TimePoint Now() const override { return std::chrono::system_clock::now(); }
};

// A clock that moves only when told. Thread-safe.
class FakeClock : public Clock {
 public:
  explicit FakeClock(TimePoint start = TimePoint(std::chrono::seconds(1'700'000'000))) : now_(start) {}
  TimePoint Now() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return now_;
  }
  void Advance(std::chrono::milliseconds d) {
    std::lock_guard<std::mutex> lock(mu_);
    now_ += d;
  }

 private:
  mutable std::mutex mu_;
  TimePoint now_;
};

// metav1.Time: "2024-01-02T03:04:05Z".
std::string FormatTime(TimePoint t);
// metav1.MicroTime: "2024-01-02T03:04:05.123456Z".
std::string FormatMicroTime(TimePoint t);
// Parses either form (and offsets like +02:00). nullopt when malformed.
std::optional<TimePoint> ParseTime(const std::string& text);

}  // namespace usp::op
