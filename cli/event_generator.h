#pragma once
// Synthetic user activity for `uspctl local --generate-events RATE`: searches,
// listing views and bookings with realistic shapes, produced to the source
// topics of the loaded resources at a steady total rate. The shape follows
// the topic name (search / view / booking); other topics get a generic event.

#include <atomic>
#include <cstdint>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "core/status.h"

struct rd_kafka_s;

namespace usp {

struct EventGeneratorOptions {
  std::string bootstrap;
  std::vector<std::string> topics;
  double events_per_second = 10;
  int users = 1000;  // user ids "u0".."u<users-1>"
  uint64_t seed = 42;
};

// Builds one event of the shape that fits `topic`. Exposed for tests.
std::string MakeSyntheticEvent(const std::string& topic, const std::string& user_id,
                               int64_t now_ms, uint64_t sequence, std::mt19937_64& rng);

class EventGenerator {
 public:
  explicit EventGenerator(EventGeneratorOptions options) : options_(std::move(options)) {}
  ~EventGenerator() { Stop(); }
  Status Start();
  void Stop();
  uint64_t produced() const { return produced_.load(); }

 private:
  void Run();
  EventGeneratorOptions options_;
  rd_kafka_s* producer_ = nullptr;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> produced_{0};
};

}  // namespace usp
