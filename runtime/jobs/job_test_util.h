#pragma once
// Test-only helpers of runtime/jobs: resources from YAML and signal records
// with explicit event times.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "core/resource_loader.h"
#include "core/signal_record.h"

namespace usp::jobs_testing {

inline constexpr int64_t kSecond = 1000;
inline constexpr int64_t kMinute = 60 * kSecond;
inline constexpr int64_t kHour = 60 * kMinute;
inline constexpr int64_t kDay = 24 * kHour;

// The one resource of `yaml`; fails the test when it does not load.
inline LoadedResource Load(const std::string& yaml) {
  auto loaded = LoadResources(yaml, "test.yaml");
  EXPECT_TRUE(loaded.ok()) << loaded.status().ToString();
  if (!loaded.ok() || loaded->size() != 1) return LoadedResource{};
  EXPECT_TRUE(loaded->front().valid())
      << (loaded->front().errors.empty() ? "" : loaded->front().errors[0].ToString());
  return loaded->front();
}

// A serialized signal record, as a signal output topic carries it.
inline std::string SignalJson(const std::string& user, const std::string& signal,
                              int64_t event_time,
                              const nlohmann::json& attributes = nlohmann::json::object()) {
  SignalRecord r;
  r.user_id = user;
  r.signal = signal;
  r.event_time = event_time;
  r.event_id = signal + "-" + user + "-" + std::to_string(event_time);
  r.version = event_time;
  r.attributes_json = attributes.dump();
  return SerializeSignalRecord(r);
}

inline constexpr char kTripPlannerYaml[] = R"(apiVersion: usp.dev/v1alpha1
kind: UserSegment
metadata:
  name: trip-planner
spec:
  enter:
    signals: [searches]
  exit:
    signals: [bookings]
  expireAfter: 14d
)";

}  // namespace usp::jobs_testing
