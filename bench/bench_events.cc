#include "bench/bench_events.h"

#include <cstdio>

#include "core/event_time.h"

namespace usp::bench {
namespace {

constexpr int64_t kDayMs = 24LL * 3600 * 1000;

const char* kCities[] = {"Lisbon",      "Tokyo", "Paris", "New York", "Cape Town",
                         "Mexico City", "Seoul", "Rome",  "Sydney",   "Reykjavik"};
const char* kPlatforms[] = {"ios", "android", "web"};
const char* kLocales[] = {"en-US", "fr-FR", "ja-JP", "pt-PT", "de-DE", "es-MX"};
const char* kUserAgents[] = {"Airbnb/24.47.1 (iPhone15,2; iOS 17.1.2; Scale/3.00)",
                             "Airbnb/24.46.0 (Android 14; Pixel 8; Build/UQ1A.240105.004)",
                             ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) AppleWebKit/605.1.15 "
                              "Version/17.1 Safari/605.1.15")};
const char* kExperiments[] = {"search_ranker_v7",    "map_pins_b",   "flex_dates_c",
                              "price_display_total", "photo_tour_a", "wishlist_nudge_b"};
const char* kRoomTypes[] = {"entire_home", "private_room", "hotel_room", "shared_room"};
const char* kSources[] = {"search_results", "map", "wishlist", "home_feed"};
const char* kPayments[] = {"card", "paypal", "apple_pay", "google_pay"};

struct JsonWriter {
  std::string out;
  bool first = true;
  void Open() {
    out.push_back('{');
    first = true;
  }
  void Close() {
    out.push_back('}');
    first = false;
  }
  void Key(const char* key) {
    if (!first) out.push_back(',');
    first = false;
    out.push_back('"');
    out.append(key);
    out.append("\":");
  }
  // Values here never need escaping: they come from the tables above.
  void Str(const char* key, std::string_view value) {
    Key(key);
    out.push_back('"');
    out.append(value);
    out.push_back('"');
  }
  void Int(const char* key, int64_t value) {
    Key(key);
    out.append(std::to_string(value));
  }
  void Bool(const char* key, bool value) {
    Key(key);
    out.append(value ? "true" : "false");
  }
  void Raw(const char* key, std::string_view json) {
    Key(key);
    out.append(json);
  }
};

std::string Hex(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string Date(int64_t ms) { return FormatRfc3339Ms(ms).substr(0, 10); }

}  // namespace

const char* ShapeName(EventShape shape) {
  switch (shape) {
    case EventShape::kSearch:
      return "search";
    case EventShape::kListingView:
      return "listing_view";
    case EventShape::kBooking:
      return "booking";
  }
  return "unknown";
}

std::string MakeEvent(EventShape shape, std::string_view user_id, int64_t time_ms,
                      uint64_t sequence, std::mt19937_64& rng) {
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<uint64_t>(n)); };
  const char* city = kCities[pick(10)];
  const int platform = pick(3);
  const int64_t checkin = time_ms + (7 + pick(90)) * kDayMs;
  const int nights = 1 + pick(10);
  const int guests = 1 + pick(5);

  JsonWriter w;
  w.out.reserve(640);
  w.Open();
  w.Str("event_id", std::string(ShapeName(shape)) + "-" + std::to_string(sequence));
  w.Str("user_id", user_id);
  if (shape == EventShape::kListingView) {
    w.Int("event_time", time_ms);
  } else {
    w.Str("event_time", FormatRfc3339Ms(time_ms));
  }
  w.Str("event_type", ShapeName(shape));
  switch (shape) {
    case EventShape::kSearch: {
      w.Key("query");
      w.Open();
      w.Str("destination", city);
      w.Str("checkin", Date(checkin));
      w.Str("checkout", Date(checkin + nights * kDayMs));
      w.Int("guests", guests);
      w.Bool("flexible_dates", pick(4) == 0);
      w.Int("price_max", 100 + 50 * pick(10));
      w.Close();
      w.Key("results");
      w.Open();
      w.Int("count", 20 + pick(900));
      w.Int("page", 1 + pick(3));
      w.Close();
      break;
    }
    case EventShape::kListingView: {
      w.Key("listing");
      w.Open();
      w.Str("id", "l-" + std::to_string(pick(50000)));
      w.Str("city", city);
      w.Int("price_per_night", 40 + pick(400));
      w.Str("room_type", kRoomTypes[pick(4)]);
      w.Int("rating_x100", 380 + pick(120));
      w.Int("reviews", pick(800));
      w.Close();
      w.Int("duration_ms", 500 + pick(30000));
      w.Str("source", kSources[pick(4)]);
      w.Int("position", pick(40));
      break;
    }
    case EventShape::kBooking: {
      const int price = 40 + pick(400);
      w.Str("listing_id", "l-" + std::to_string(pick(50000)));
      w.Str("checkin", Date(checkin));
      w.Str("checkout", Date(checkin + nights * kDayMs));
      w.Int("nights", nights);
      w.Int("guests", guests);
      w.Key("total_price");
      w.Open();
      w.Int("amount", price * nights);
      w.Str("currency", "EUR");
      w.Int("fees", price * nights / 10);
      w.Close();
      w.Str("payment_method", kPayments[pick(4)]);
      w.Str("status", pick(10) == 0 ? "cancelled" : "confirmed");
      break;
    }
  }
  w.Key("context");
  w.Open();
  w.Str("platform", kPlatforms[platform]);
  w.Str("app_version", platform == 2 ? "web-2024.11.20" : "24.47.1");
  w.Str("locale", kLocales[pick(6)]);
  w.Str("session_id", "s-" + std::string(user_id) + "-" + std::to_string(time_ms / 1800000));
  w.Str("request_id", Hex(rng()) + Hex(rng()));
  w.Raw("experiments",
        std::string("[\"") + kExperiments[pick(6)] + "\",\"" + kExperiments[pick(6)] + "\"]");
  w.Str("user_agent", kUserAgents[platform]);
  w.Close();
  w.Close();
  return std::move(w.out);
}

const std::vector<Attribute>& ShapeAttributes(EventShape shape) {
  static const std::vector<Attribute> kSearch = {{"destination", "/query/destination"},
                                                 {"checkin", "/query/checkin"},
                                                 {"checkout", "/query/checkout"},
                                                 {"guests", "/query/guests"},
                                                 {"platform", "/context/platform"}};
  static const std::vector<Attribute> kView = {{"listing_id", "/listing/id"},
                                               {"city", "/listing/city"},
                                               {"price", "/listing/price_per_night"},
                                               {"duration_ms", "/duration_ms"}};
  static const std::vector<Attribute> kBooking = {{"listing_id", "/listing_id"},
                                                  {"nights", "/nights"},
                                                  {"total_price", "/total_price"},
                                                  {"status", "/status"}};
  switch (shape) {
    case EventShape::kSearch:
      return kSearch;
    case EventShape::kListingView:
      return kView;
    case EventShape::kBooking:
      return kBooking;
  }
  return kSearch;
}

}  // namespace usp::bench
