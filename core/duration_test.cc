#include "core/duration.h"

#include <gtest/gtest.h>

namespace usp {
namespace {

TEST(ParseDurationMs, AcceptsEveryUnitAndSums) {
  const struct {
    const char* text;
    int64_t ms;
  } cases[] = {
      {"500ms", 500},      {"10s", 10000},     {"10m", 600000},     {"2h", 7200000},
      {"14d", 1209600000}, {"1h30m", 5400000}, {"1m30s", 90000},    {"1d2h3m4s5ms", 93784005},
      {"0s", 0},           {"0", 0},           {"30d", 2592000000}, {"1s500ms", 1500},
  };
  for (const auto& c : cases) {
    Result<int64_t> ms = ParseDurationMs(c.text);
    ASSERT_TRUE(ms.ok()) << c.text << ": " << ms.status().ToString();
    EXPECT_EQ(*ms, c.ms) << c.text;
  }
}

TEST(ParseDurationMs, RejectsMalformedText) {
  const struct {
    const char* text;
    const char* message_part;
  } cases[] = {
      {"", "empty"},
      {"5x", "unknown unit \"x\""},
      {"10", "missing unit"},
      {"ms", "expected a number"},
      {"-5s", "expected a number"},
      {"1.5h", "unknown unit"},
      {"5 s", "unknown unit"},
      {"10S", "unknown unit"},
      {"99999999999999999999ms", "out of range"},
      {"9999999999999999d", "out of range"},
  };
  for (const auto& c : cases) {
    Result<int64_t> ms = ParseDurationMs(c.text);
    ASSERT_FALSE(ms.ok()) << c.text;
    EXPECT_NE(ms.status().message().find(c.message_part), std::string::npos)
        << c.text << " -> " << ms.status().message();
  }
}

TEST(FormatDurationMs, GivesTheShortestExactForm) {
  EXPECT_EQ(FormatDurationMs(1209600000), "14d");
  EXPECT_EQ(FormatDurationMs(90000), "1m30s");
  EXPECT_EQ(FormatDurationMs(0), "0s");
  EXPECT_EQ(FormatDurationMs(500), "500ms");
  EXPECT_EQ(FormatDurationMs(86400000), "1d");
  EXPECT_EQ(FormatDurationMs(129600000), "1d12h");
  EXPECT_EQ(FormatDurationMs(1001), "1s1ms");
}

TEST(FormatDurationMs, RoundTripsThroughParse) {
  for (int64_t ms : {1LL, 999LL, 1000LL, 61001LL, 3600000LL, 93784005LL, 2592000000LL}) {
    Result<int64_t> back = ParseDurationMs(FormatDurationMs(ms));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, ms);
  }
}

}  // namespace
}  // namespace usp
