#include "core/segment/segment_record.h"

#include <gtest/gtest.h>

#include <limits>

#include "core/segment/segment_state.h"

namespace usp {
namespace {

SegmentRecord Entered() {
  return {"u1", "active-trip-planner", true, 1000, 1000 + 14LL * 86400000,
          5000, SegmentReason::kEnter};
}

TEST(SegmentRecord, SerializesCanonicallyInTheDocumentedKeyOrder) {
  EXPECT_EQ(SerializeSegmentRecord(Entered()),
            R"({"user_id":"u1","segment":"active-trip-planner","in_segment":true,"start":1000,)"
            R"("expiration":1209601000,"version":5000,"reason":"enter"})");
  SegmentRecord open = Entered();
  open.expiration.reset();
  EXPECT_EQ(SerializeSegmentRecord(open),
            R"({"user_id":"u1","segment":"active-trip-planner","in_segment":true,"start":1000,)"
            R"("expiration":null,"version":5000,"reason":"enter"})");
}

TEST(SegmentRecord, RoundTripsEveryReason) {
  SegmentRecord exited = Entered();
  exited.in_segment = false;
  exited.expiration = 2000;
  exited.reason = SegmentReason::kExit;
  SegmentRecord expired = exited;
  expired.reason = SegmentReason::kExpired;
  SegmentRecord open = Entered();
  open.expiration.reset();
  SegmentRecord odd = Entered();
  odd.user_id = "quote\" back\\slash \n ü";
  odd.start = -5;
  odd.version = std::numeric_limits<int64_t>::max();
  for (const SegmentRecord& record : {Entered(), exited, expired, open, odd}) {
    Result<SegmentRecord> parsed = ParseSegmentRecord(SerializeSegmentRecord(record));
    ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
    EXPECT_EQ(*parsed, record);
  }
}

TEST(SegmentRecord, ParsesAnyKeyOrderAndIgnoresUnknownKeys) {
  Result<SegmentRecord> parsed = ParseSegmentRecord(
      R"({"reason":"expired","version":9,"expiration":50,"start":10,"in_segment":false,)"
      R"("segment":"s","user_id":"u","extra":[1]})");
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(*parsed, (SegmentRecord{"u", "s", false, 10, 50, 9, SegmentReason::kExpired}));
}

TEST(SegmentRecord, RejectsMalformedAndSelfContradictoryRecords) {
  auto error = [](const std::string& json) {
    Result<SegmentRecord> r = ParseSegmentRecord(json);
    return r.ok() ? std::string("ok") : r.status().message();
  };
  const std::string tail = R"(,"version":9,"reason":"enter"})";
  const std::string head = R"({"user_id":"u","segment":"s","in_segment":true,"start":10)";
  EXPECT_EQ(error(head + R"(,"expiration":50)" + tail), "ok");
  EXPECT_EQ(error("not json").substr(0, 31), "segment record is not valid JSO");
  EXPECT_EQ(error("[1]"), "segment record must be a JSON object");
  EXPECT_EQ(error(head + tail), "expiration: required");
  EXPECT_EQ(error(head + R"(,"expiration":"50")" + tail), "expiration: must be an integer or null");
  EXPECT_EQ(error(head + R"(,"expiration":5.5)" + tail), "expiration: must be an integer or null");
  EXPECT_EQ(
      error(R"({"user_id":"u","segment":"s","in_segment":1,"start":10,"expiration":50)" + tail),
      "in_segment: must be a boolean");
  EXPECT_EQ(
      error(R"({"user_id":"u","segment":"s","in_segment":true,"start":1.5,"expiration":50)" + tail),
      "start: must be an integer");
  EXPECT_EQ(error(head + R"(,"expiration":50,"version":9,"reason":"left"})"),
            "reason: must be one of enter, exit, expired, got \"left\"");
  EXPECT_EQ(error(head + R"(,"expiration":50,"version":9,"reason":"exit"})"),
            "reason: exit contradicts in_segment true");
  EXPECT_EQ(error(R"({"user_id":"u","segment":"s","in_segment":false,"start":10,)"
                  R"("expiration":null,"version":9,"reason":"expired"})"),
            "expiration: required when in_segment is false");
}

TEST(SegmentState, RoundTripsThroughItsByteEncoding) {
  SegmentState fresh;
  SegmentState in{true, true, 1000, 2000, 1500, SegmentReason::kEnter, 77};
  SegmentState open{true, true, 1000, std::nullopt, 1500, SegmentReason::kEnter, 78};
  SegmentState ended{true, false, 1000, 1800, 1500, SegmentReason::kExit, 79};
  for (const SegmentState& state : {fresh, in, open, ended}) {
    const std::string bytes = SerializeSegmentState(state);
    Result<SegmentState> parsed = ParseSegmentState(bytes);
    ASSERT_TRUE(parsed.ok()) << bytes << ": " << parsed.status().ToString();
    EXPECT_EQ(*parsed, state) << bytes;
  }
  EXPECT_EQ(SerializeSegmentState(in),
            R"({"format":1,"has_membership":true,"in_segment":true,"start":1000,)"
            R"("expiration":2000,"last_enter_time":1500,"reason":"enter","version":77})");
}

TEST(SegmentState, RejectsOtherFormatsAndContradictions) {
  auto error = [](const std::string& json) {
    Result<SegmentState> r = ParseSegmentState(json);
    return r.ok() ? std::string("ok") : r.status().message();
  };
  EXPECT_EQ(error(R"({"format":2})"),
            "format: unsupported segment state format 2 (this version reads 1)");
  EXPECT_EQ(error(R"({"has_membership":true})"), "format: required");
  EXPECT_EQ(error(R"({"format":1,"has_membership":false,"in_segment":true,"start":0,)"
                  R"("expiration":null,"last_enter_time":0,"reason":"enter","version":0})"),
            "in_segment: true without a membership");
  EXPECT_EQ(error(R"({"format":1,"has_membership":true,"in_segment":false,"start":0,)"
                  R"("expiration":null,"last_enter_time":0,"reason":"exit","version":0})"),
            "expiration: required when a membership has ended");
}

TEST(SegmentReason, MatchesTheRecordSpelling) {
  EXPECT_STREQ(ToString(SegmentReason::kEnter), "enter");
  EXPECT_STREQ(ToString(SegmentReason::kExit), "exit");
  EXPECT_STREQ(ToString(SegmentReason::kExpired), "expired");
  EXPECT_EQ(ParseSegmentReason("expired"), SegmentReason::kExpired);
  EXPECT_EQ(ParseSegmentReason("Enter"), std::nullopt);
}

}  // namespace
}  // namespace usp
