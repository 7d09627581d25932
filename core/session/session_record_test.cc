#include "core/session/session_record.h"

#include <gtest/gtest.h>

namespace usp {
namespace {

SessionRecord Example() {
  SessionRecord r;
  r.user_id = "u-1";
  r.job = "recent-engagement";
  r.window_start = 1699999200000;
  r.window_end = 1699999800000;
  r.aggregations_json = R"({"events":3,"top_cities":[{"value":"Paris","count":2}],"avg":2.5})";
  r.version = 1700000000123;
  return r;
}

TEST(SessionRecord, SerializesInCanonicalKeyOrder) {
  EXPECT_EQ(SerializeSessionRecord(Example()),
            R"({"user_id":"u-1","job":"recent-engagement","window_start":1699999200000,)"
            R"("window_end":1699999800000,"aggregations":{"events":3,"top_cities":)"
            R"([{"value":"Paris","count":2}],"avg":2.5},"version":1700000000123})");
}

TEST(SessionRecord, WritesAsyncResultOnlyWhenPresent) {
  SessionRecord r = Example();
  r.aggregations_json = "{}";
  r.async_result_json = R"({"score":0.75})";
  EXPECT_EQ(SerializeSessionRecord(r),
            R"({"user_id":"u-1","job":"recent-engagement","window_start":1699999200000,)"
            R"("window_end":1699999800000,"aggregations":{},"async_result":{"score":0.75},)"
            R"("version":1700000000123})");
}

TEST(SessionRecord, EscapesStrings) {
  SessionRecord r = Example();
  r.user_id = "a\"b\n";
  r.aggregations_json = "{}";
  EXPECT_EQ(SerializeSessionRecord(r).substr(0, 22), R"({"user_id":"a\"b\n","j)");
}

TEST(SessionRecord, RoundTrips) {
  SessionRecord r = Example();
  Result<SessionRecord> parsed = ParseSessionRecord(SerializeSessionRecord(r));
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(*parsed, r);
  r.async_result_json = R"([1,"x",null])";
  parsed = ParseSessionRecord(SerializeSessionRecord(r));
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(*parsed, r);
}

TEST(SessionRecord, ParseAcceptsAnyKeyOrder) {
  Result<SessionRecord> parsed =
      ParseSessionRecord(R"({"version":7,"aggregations":{"n":1},"window_end":20,"window_start":10,)"
                         R"("job":"j","user_id":"u","extra":true})");
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->user_id, "u");
  EXPECT_EQ(parsed->window_start, 10);
  EXPECT_EQ(parsed->window_end, 20);
  EXPECT_EQ(parsed->aggregations_json, R"({"n":1})");
  EXPECT_FALSE(parsed->async_result_json.has_value());
  EXPECT_EQ(parsed->version, 7);
}

TEST(SessionRecord, ParseReportsTheBadField) {
  EXPECT_EQ(ParseSessionRecord("[]").status().message(), "session record must be a JSON object");
  EXPECT_EQ(
      ParseSessionRecord(R"({"user_id":"u","job":"j","window_start":"x"})").status().message(),
      "window_start: must be an integer");
  EXPECT_EQ(
      ParseSessionRecord(R"({"user_id":"u","job":"j","window_start":1,"window_end":2,"version":3})")
          .status()
          .message(),
      "aggregations: required");
  EXPECT_EQ(ParseSessionRecord(R"({"user_id":"u","job":"j","window_start":1,"window_end":2,)"
                               R"("version":3,"aggregations":[]})")
                .status()
                .message(),
            "aggregations: must be an object");
}

}  // namespace
}  // namespace usp
