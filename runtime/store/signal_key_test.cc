#include "runtime/store/signal_key.h"

#include <gtest/gtest.h>

#include <limits>

namespace usp {
namespace {

SignalRecord Record(int64_t event_time, int64_t version) {
  SignalRecord r;
  r.user_id = "u1";
  r.signal = "search";
  r.event_time = event_time;
  r.event_id = "e1";
  r.version = version;
  r.attributes_json = "{}";
  return r;
}

TEST(SignalKey, SortsNewerEventTimesFirst) {
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  int64_t times[] = {kMax, 1700000000000, 1, 0, -1, kMin};
  for (size_t i = 0; i + 1 < std::size(times); ++i) {
    EXPECT_LT(EncodeRowKey(3, Record(times[i], 1)), EncodeRowKey(3, Record(times[i + 1], 1)))
        << times[i];
  }
}

TEST(SignalKey, SortsNewerVersionsOfAnIdentityFirst) {
  EXPECT_LT(EncodeRowKey(0, Record(10, 200)), EncodeRowKey(0, Record(10, 100)));
}

TEST(SignalKey, RoundTripsTheSuffix) {
  SignalRecord r = Record(-42, 77);
  r.signal = "a/b";
  r.event_id = std::string("x\0y", 3);
  std::string key = EncodeRowKey(5, r);
  size_t prefix = EncodeUserPrefix(5, r.user_id).size();
  ASSERT_TRUE(key.starts_with(EncodeUserPrefix(5, r.user_id)));
  auto suffix = DecodeRowKeySuffix(key, prefix);
  ASSERT_TRUE(suffix.has_value());
  EXPECT_EQ(suffix->event_time, -42);
  EXPECT_EQ(suffix->signal, "a/b");
  EXPECT_EQ(suffix->event_id, r.event_id);
  EXPECT_EQ(suffix->version, 77);
}

TEST(SignalKey, RejectsTruncatedKeys) {
  std::string key = EncodeRowKey(5, Record(1, 2));
  size_t prefix = EncodeUserPrefix(5, "u1").size();
  for (size_t n = prefix; n < key.size(); ++n) {
    EXPECT_FALSE(DecodeRowKeySuffix(key.substr(0, n), prefix).has_value()) << n;
  }
}

TEST(SignalKey, KeepsUsersWithPrefixIdsApart) {
  std::string u1 = EncodeUserPrefix(0, "u1");
  SignalRecord r = Record(1, 1);
  r.user_id = "u10";
  EXPECT_FALSE(EncodeRowKey(0, r).starts_with(u1));
}

TEST(SignalKey, StartsWithThePartition) {
  EXPECT_EQ(EncodeUserPrefix(0x01020304, "u").substr(0, 4), "\x01\x02\x03\x04");
}

TEST(SignalKey, RoundTripsTheValue) {
  SignalRecord r = Record(1, 1);
  r.attributes_json = R"({"q":"x"})";
  EXPECT_EQ(DecodeRowValue(EncodeRowValue(r)), std::optional<std::string_view>(R"({"q":"x"})"));
  EXPECT_FALSE(DecodeRowValue("").has_value());
  EXPECT_FALSE(DecodeRowValue("\x07{}").has_value());
}

TEST(SegmentKey, RoundTripsAndOrdersLatestStartThenNewestVersionFirst) {
  SegmentRecord r{"u1", "planner", true, 1000, 5000, 1100, SegmentReason::kEnter};
  std::string prefix = EncodeUserPrefix(3, "u1");
  std::string key = EncodeSegmentKey(3, r);
  ASSERT_TRUE(key.starts_with(prefix));
  SegmentRecord back;
  ASSERT_TRUE(DecodeSegmentRow(key, prefix.size(), EncodeSegmentValue(r), &back));
  back.user_id = "u1";
  EXPECT_EQ(back, r);

  SegmentRecord ended{"u1", "planner", false, 1000, std::nullopt, 1200, SegmentReason::kExit};
  ended.expiration = 1500;
  SegmentRecord open{"u1", "planner", true, 1000, std::nullopt, 1300, SegmentReason::kEnter};
  ASSERT_TRUE(
      DecodeSegmentRow(EncodeSegmentKey(3, open), prefix.size(), EncodeSegmentValue(open), &back));
  EXPECT_FALSE(back.expiration.has_value());
  // Newer version sorts first; a later start sorts before an earlier one.
  EXPECT_LT(EncodeSegmentKey(3, ended), EncodeSegmentKey(3, r));
  SegmentRecord later = r;
  later.start = 2000;
  later.version = 1;
  EXPECT_LT(EncodeSegmentKey(3, later), EncodeSegmentKey(3, r));
  EXPECT_FALSE(DecodeSegmentRow(key, prefix.size(), "\x01", &back));
  EXPECT_FALSE(
      DecodeSegmentRow(key.substr(0, key.size() - 1), prefix.size(), EncodeSegmentValue(r), &back));
}

TEST(SessionKey, RoundTripsAndOrdersNewestWindowEndFirst) {
  SessionRecord r{"u1", "engagement", 1000, 2000, R"({"n":3})", std::nullopt, 2100};
  std::string prefix = EncodeUserPrefix(1, "u1");
  SessionRecord back;
  ASSERT_TRUE(
      DecodeSessionRow(EncodeSessionKey(1, r), prefix.size(), EncodeSessionValue(r), &back));
  back.user_id = "u1";
  EXPECT_EQ(back, r);
  SessionRecord with_async = r;
  with_async.async_result_json = R"({"score":0.5})";
  with_async.version = 2200;
  ASSERT_TRUE(DecodeSessionRow(EncodeSessionKey(1, with_async), prefix.size(),
                               EncodeSessionValue(with_async), &back));
  back.user_id = "u1";
  EXPECT_EQ(back, with_async);
  // Same window: identical key up to the version, newer version first.
  std::string a = EncodeSessionKey(1, with_async), b = EncodeSessionKey(1, r);
  EXPECT_EQ(a.substr(0, a.size() - 8), b.substr(0, b.size() - 8));
  EXPECT_LT(a, b);
  SessionRecord newer_window = r;
  newer_window.window_start = 1500;
  newer_window.window_end = 2500;
  EXPECT_LT(EncodeSessionKey(1, newer_window), b);
  EXPECT_FALSE(DecodeSessionRow(b, prefix.size(), "\x01", &back));
}

}  // namespace
}  // namespace usp
