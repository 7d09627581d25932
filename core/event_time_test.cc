#include "core/event_time.h"

#include <gtest/gtest.h>

namespace usp {
namespace {

TEST(ParseRfc3339Ms, AcceptsUtcOffsetsAndFractions) {
  const struct {
    const char* text;
    int64_t ms;
  } cases[] = {
      {"1970-01-01T00:00:00Z", 0},
      {"2026-11-22T10:00:00Z", 1795341600000},
      {"2026-11-22T10:00:00.123Z", 1795341600123},
      {"2026-11-22T10:00:00.1Z", 1795341600100},
      {"2026-11-22T10:00:00.123456789Z", 1795341600123},  // truncated to ms
      {"2026-11-22T10:00:00.123+01:00", 1795338000123},
      {"2026-11-22T10:00:00-05:30", 1795361400000},
      {"2026-11-22t10:00:00z", 1795341600000},
      {"2026-11-22 10:00:00Z", 1795341600000},
      {"2024-02-29T00:00:00Z", 1709164800000},
      {"2000-03-01T00:00:00+00:00", 951868800000},
      {"1969-12-31T23:59:59Z", -1000},
  };
  for (const auto& c : cases) {
    Result<int64_t> ms = ParseRfc3339Ms(c.text);
    ASSERT_TRUE(ms.ok()) << c.text << ": " << ms.status().message();
    EXPECT_EQ(*ms, c.ms) << c.text;
  }
}

TEST(ParseRfc3339Ms, RejectsMalformedTimes) {
  for (const char* text :
       {"", "2026-11-22", "2026-11-22T10:00:00", "2026-11-22T10:00Z", "2026-13-01T00:00:00Z",
        "2026-00-01T00:00:00Z", "2026-02-29T00:00:00Z", "2026-04-31T00:00:00Z",
        "2026-11-22T24:00:00Z", "2026-11-22T10:60:00Z", "2026-11-22T10:00:00.Z",
        "2026-11-22T10:00:00+0100", "2026-11-22T10:00:00+01", "2026-11-22T10:00:00Zjunk",
        "26-11-22T10:00:00Z", "2026/11/22T10:00:00Z", "now", "1795341600000"}) {
    EXPECT_FALSE(ParseRfc3339Ms(text).ok()) << text;
  }
}

TEST(FormatRfc3339Ms, WritesUtcWithMillisecondsOnlyWhenNeeded) {
  EXPECT_EQ(FormatRfc3339Ms(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(FormatRfc3339Ms(1795341600000), "2026-11-22T10:00:00Z");
  EXPECT_EQ(FormatRfc3339Ms(1795341600123), "2026-11-22T10:00:00.123Z");
  EXPECT_EQ(FormatRfc3339Ms(1709164800005), "2024-02-29T00:00:00.005Z");
  EXPECT_EQ(FormatRfc3339Ms(-1), "1969-12-31T23:59:59.999Z");
}

TEST(FormatRfc3339Ms, RoundTripsThroughParse) {
  for (int64_t ms : {0LL, 1LL, 951868800000LL, 1795341600123LL, 4102444799999LL}) {
    EXPECT_EQ(*ParseRfc3339Ms(FormatRfc3339Ms(ms)), ms);
  }
}

class ParseEventTimeTest : public ::testing::Test {
 protected:
  Result<int64_t> Parse(const std::string& json_value) {
    doc_ = parser_.parse(json_value);
    return ParseEventTime(doc_);
  }
  simdjson::dom::parser parser_;
  simdjson::dom::element doc_;
};

TEST_F(ParseEventTimeTest, AcceptsEpochMsAndRfc3339Strings) {
  EXPECT_EQ(*Parse("1795341600123"), 1795341600123);
  EXPECT_EQ(*Parse("0"), 0);
  EXPECT_EQ(*Parse("1795341600123.0"), 1795341600123);
  EXPECT_EQ(*Parse("1.7e12"), 1700000000000);
  EXPECT_EQ(*Parse(R"("2026-11-22T10:00:00.123Z")"), 1795341600123);
}

TEST_F(ParseEventTimeTest, RejectsOtherTypesNegativesAndFractions) {
  const struct {
    const char* json;
    const char* message_part;
  } cases[] = {
      {"true", "got bool"},
      {"null", "got null"},
      {"{}", "got object"},
      {"[1]", "got array"},
      {"-1", "negative"},
      {"-1.0", "negative"},
      {"1.5", "whole number"},
      {"18446744073709551615", "out of range"},
      {"1e300", "out of range"},
      {R"("yesterday")", "invalid RFC 3339"},
      {R"("1795341600123")", "invalid RFC 3339"},
      {R"("1969-12-31T23:59:59Z")", "before 1970"},
  };
  for (const auto& c : cases) {
    Result<int64_t> ms = Parse(c.json);
    ASSERT_FALSE(ms.ok()) << c.json;
    EXPECT_NE(ms.status().message().find(c.message_part), std::string::npos)
        << c.json << " -> " << ms.status().message();
  }
}

}  // namespace
}  // namespace usp
