#pragma once
// Test-only: signal records as SignalViews, with explicit event times.

#include <gtest/gtest.h>
#include <simdjson.h>

#include <deque>
#include <nlohmann/json.hpp>
#include <string>

#include "core/segment/segment_logic.h"
#include "core/segment/user_segment.h"
#include "core/signal_record.h"

namespace usp::segment_testing {

inline constexpr int64_t kSecond = 1000;
inline constexpr int64_t kMinute = 60 * kSecond;
inline constexpr int64_t kHour = 60 * kMinute;
inline constexpr int64_t kDay = 24 * kHour;

// Keeps one parser per view so that every view it made stays valid.
class TestSignals {
 public:
  // A signal record of `user` for UserSignal `signal` at `event_time`, with
  // `attributes` (a JSON object), serialized and parsed back as the worker would.
  SignalView Make(const std::string& user, const std::string& signal, int64_t event_time,
                  const nlohmann::json& attributes = nlohmann::json::object()) {
    SignalRecord record;
    record.user_id = user;
    record.signal = signal;
    record.event_time = event_time;
    record.event_id = signal + "-" + std::to_string(event_time);
    record.version = event_time;
    record.attributes_json = attributes.dump();
    parsers_.emplace_back();
    Result<SignalView> view = ParseSignalView(SerializeSignalRecord(record), &parsers_.back());
    EXPECT_TRUE(view.ok()) << view.status().ToString();
    return view.ok() ? *view : SignalView{};
  }

 private:
  std::deque<simdjson::dom::parser> parsers_;
};

// Parses a UserSegment document; fails the test when it is invalid.
inline UserSegment SegmentFrom(const std::string& json_text) {
  FieldErrors errors;
  std::optional<UserSegment> segment = ParseUserSegment(nlohmann::json::parse(json_text), &errors);
  EXPECT_TRUE(segment.has_value()) << (errors.empty() ? "" : errors[0].ToString());
  return segment.value_or(UserSegment{});
}

// The active trip planner: enter on searches, exit on bookings, 14 days of
// inactivity.
inline UserSegment TripPlanner() {
  return SegmentFrom(R"({
    "apiVersion": "usp.dev/v1alpha1", "kind": "UserSegment",
    "metadata": {"name": "active-trip-planner"},
    "spec": {"enter": {"signals": ["searches"]}, "exit": {"signals": ["bookings"]},
             "expireAfter": "14d"}})");
}

}  // namespace usp::segment_testing
