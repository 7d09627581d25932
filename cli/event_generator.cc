// clang's -Wpedantic rejects librdkafka's RD_KAFKA_V_* argument type checks
// (GNU statement expressions); g++ builds keep them.
#if defined(__clang__) && !defined(LIBRDKAFKA_TYPECHECKS)
#define LIBRDKAFKA_TYPECHECKS 0
#endif
#include "cli/event_generator.h"

#include <chrono>

#include <librdkafka/rdkafka.h>
#include <nlohmann/json.hpp>

#include "core/event_time.h"

namespace usp {

namespace {

const char* kCities[] = {"Lisbon", "Tokyo", "Paris", "New York", "Cape Town", "Mexico City",
                         "Seoul", "Rome", "Sydney", "Reykjavik"};
const char* kPlatforms[] = {"ios", "android", "web"};

std::string Date(int64_t ms) { return FormatRfc3339Ms(ms).substr(0, 10); }

bool Contains(const std::string& s, const char* word) { return s.find(word) != std::string::npos; }

}  // namespace

std::string MakeSyntheticEvent(const std::string& topic, const std::string& user_id,
                               int64_t now_ms, uint64_t sequence, std::mt19937_64& rng) {
  constexpr int64_t kDay = 24LL * 3600 * 1000;
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<uint64_t>(n)); };
  const char* city = kCities[pick(10)];
  nlohmann::json context = {{"platform", kPlatforms[pick(3)]},
                            {"session_id", "s-" + user_id + "-" + std::to_string(now_ms / 1800000)}};
  nlohmann::json e;
  e["event_id"] = topic + "-" + std::to_string(sequence);
  e["user_id"] = user_id;
  int64_t checkin = now_ms + (7 + pick(90)) * kDay;
  int nights = 1 + pick(10);
  if (Contains(topic, "search")) {
    e["event_time"] = FormatRfc3339Ms(now_ms);
    e["event_type"] = "search";
    e["query"] = {{"destination", city},
                  {"checkin", Date(checkin)},
                  {"checkout", Date(checkin + nights * kDay)},
                  {"guests", 1 + pick(5)}};
    e["context"] = context;
  } else if (Contains(topic, "view")) {
    e["event_time"] = now_ms;
    e["event_type"] = "listing_view";
    e["listing"] = {{"id", "l-" + std::to_string(pick(5000))},
                    {"city", city},
                    {"price_per_night", 40 + pick(400)}};
    e["duration_ms"] = 500 + pick(30000);
    e["context"] = context;
  } else if (Contains(topic, "booking")) {
    int price = 40 + pick(400);
    e["event_time"] = FormatRfc3339Ms(now_ms);
    e["event_type"] = "booking";
    e["listing_id"] = "l-" + std::to_string(pick(5000));
    e["checkin"] = Date(checkin);
    e["checkout"] = Date(checkin + nights * kDay);
    e["nights"] = nights;
    e["total_price"] = {{"amount", price * nights}, {"currency", "EUR"}};
    e["status"] = pick(10) == 0 ? "cancelled" : "confirmed";
  } else {
    e["event_time"] = now_ms;
    e["event_type"] = "generic";
    e["value"] = pick(1000);
  }
  return e.dump();
}

Status EventGenerator::Start() {
  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  const std::pair<const char*, const char*> props[] = {
      {"bootstrap.servers", options_.bootstrap.c_str()},
      {"partitioner", "murmur2_random"},  // same as Java producers: by user id
      {"linger.ms", "5"},
      {"log_level", "3"}};
  for (const auto& [k, v] : props) {
    if (rd_kafka_conf_set(conf, k, v, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      return Status::InvalidArgument(std::string(k) + ": " + errstr);
    }
  }
  producer_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
  if (producer_ == nullptr) return Status::Internal(errstr);
  thread_ = std::thread([this] { Run(); });
  return Status::Ok();
}

void EventGenerator::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (producer_ != nullptr) {
    rd_kafka_flush(producer_, 5000);
    rd_kafka_destroy(producer_);
    producer_ = nullptr;
  }
}

void EventGenerator::Run() {
  std::mt19937_64 rng(options_.seed);
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const double rate = options_.events_per_second > 0 ? options_.events_per_second : 1;
  uint64_t sequence = 0;
  while (!stop_.load()) {
    // Produce what the rate allows by now, then sleep a little: a steady
    // stream without a timer per event.
    double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    auto due = static_cast<uint64_t>(elapsed * rate);
    while (sequence < due && !stop_.load()) {
      const std::string& topic = options_.topics[sequence % options_.topics.size()];
      // Appended, not "u" + std::to_string(...): GCC 12 at -O3 reports a
      // false -Wrestrict on operator+(const char*, string&&).
      std::string user = "u";
      user += std::to_string(rng() % static_cast<uint64_t>(options_.users));
      int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
      std::string payload = MakeSyntheticEvent(topic, user, now_ms, sequence, rng);
      rd_kafka_resp_err_t err = rd_kafka_producev(
          producer_, RD_KAFKA_V_TOPIC(topic.c_str()),
          RD_KAFKA_V_KEY(user.data(), user.size()),
          RD_KAFKA_V_VALUE(payload.data(), payload.size()),
          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
      if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        rd_kafka_poll(producer_, 50);
        continue;
      }
      ++sequence;
      produced_.fetch_add(1);
    }
    rd_kafka_poll(producer_, 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

}  // namespace usp
