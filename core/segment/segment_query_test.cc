#include "core/segment/segment_query.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

namespace usp {
namespace {

constexpr int64_t kDay = 24LL * 3600 * 1000;
constexpr int64_t T0 = 1'700'000'000'000;

SegmentRecord Record(const std::string& segment, bool in, int64_t start,
                     std::optional<int64_t> expiration, int64_t version, SegmentReason reason) {
  return {"u1", segment, in, start, expiration, version, reason};
}

// One trip-planner membership: entered day 0, extended on day 3, expired day 17.
std::vector<SegmentRecord> EnteredExtendedExpired() {
  return {
      Record("planner", true, T0, T0 + 14 * kDay, T0 + 1, SegmentReason::kEnter),
      Record("planner", true, T0, T0 + 17 * kDay, T0 + 3 * kDay + 1, SegmentReason::kEnter),
      Record("planner", false, T0, T0 + 17 * kDay, T0 + 17 * kDay, SegmentReason::kExpired),
  };
}

TEST(SegmentsAt, AnswersBeforeWithinAndAfterAMembership) {
  const std::vector<SegmentRecord> records = EnteredExtendedExpired();
  EXPECT_TRUE(SegmentsAt(records, T0 - 1).empty()) << "no history yet: left out";
  const SegmentMembership in{"planner", true, T0, T0 + 17 * kDay};
  EXPECT_EQ(SegmentsAt(records, T0), std::vector<SegmentMembership>{in}) << "start is inclusive";
  EXPECT_EQ(SegmentsAt(records, T0 + 2 * kDay), std::vector<SegmentMembership>{in})
      << "the membership's latest known expiration, not the one known on day 2";
  EXPECT_EQ(SegmentsAt(records, T0 + 17 * kDay - 1), std::vector<SegmentMembership>{in});
  const SegmentMembership out{"planner", false, T0, T0 + 17 * kDay};
  EXPECT_EQ(SegmentsAt(records, T0 + 17 * kDay), std::vector<SegmentMembership>{out})
      << "expiration is exclusive";
  EXPECT_EQ(SegmentsAt(records, T0 + 400 * kDay), std::vector<SegmentMembership>{out});
}

TEST(SegmentsAt, TakesTheNewestVersionOfEachMembershipWhateverTheOrder) {
  std::vector<SegmentRecord> records = EnteredExtendedExpired();
  records.push_back(records[0]);  // a duplicate, as replays produce
  std::mt19937 rng(42);
  for (int i = 0; i < 20; ++i) {
    std::shuffle(records.begin(), records.end(), rng);
    EXPECT_EQ(SegmentsAt(records, T0 + 15 * kDay),
              (std::vector<SegmentMembership>{{"planner", true, T0, T0 + 17 * kDay}}));
    EXPECT_EQ(SegmentsAt(records, T0 + 18 * kDay),
              (std::vector<SegmentMembership>{{"planner", false, T0, T0 + 17 * kDay}}));
  }
}

TEST(SegmentsAt, PicksTheMembershipThatStartedLastBeforeAt) {
  const std::vector<SegmentRecord> records = {
      Record("planner", true, T0, T0 + 14 * kDay, 1, SegmentReason::kEnter),
      Record("planner", false, T0, T0 + 5 * kDay, 2, SegmentReason::kExit),
      Record("planner", true, T0 + 10 * kDay, T0 + 24 * kDay, 3, SegmentReason::kEnter),
  };
  EXPECT_EQ(SegmentsAt(records, T0 + 4 * kDay),
            (std::vector<SegmentMembership>{{"planner", true, T0, T0 + 5 * kDay}}));
  EXPECT_EQ(SegmentsAt(records, T0 + 7 * kDay),
            (std::vector<SegmentMembership>{{"planner", false, T0, T0 + 5 * kDay}}))
      << "between memberships: out, with the last one's start and end";
  EXPECT_EQ(SegmentsAt(records, T0 + 10 * kDay),
            (std::vector<SegmentMembership>{{"planner", true, T0 + 10 * kDay, T0 + 24 * kDay}}));
}

TEST(SegmentsAt, AnswersEverySegmentSortedByName) {
  const std::vector<SegmentRecord> records = {
      Record("zeta", true, T0, std::nullopt, 1, SegmentReason::kEnter),
      Record("alpha", true, T0 + kDay, T0 + 2 * kDay, 2, SegmentReason::kEnter),
      Record("mid", true, T0 + 5 * kDay, T0 + 6 * kDay, 3, SegmentReason::kEnter),
  };
  EXPECT_EQ(SegmentsAt(records, T0 + 3 * kDay),
            (std::vector<SegmentMembership>{{"alpha", false, T0 + kDay, T0 + 2 * kDay},
                                            {"zeta", true, T0, std::nullopt}}));
}

TEST(SegmentsAt, AMembershipWithoutExpiryLastsUntilItsExit) {
  std::vector<SegmentRecord> records = {
      Record("searched", true, T0, std::nullopt, 1, SegmentReason::kEnter)};
  EXPECT_EQ(SegmentsAt(records, T0 + 1000 * kDay),
            (std::vector<SegmentMembership>{{"searched", true, T0, std::nullopt}}));
  records.push_back(Record("searched", false, T0, T0 + 9 * kDay, 2, SegmentReason::kExit));
  EXPECT_EQ(SegmentsAt(records, T0 + 9 * kDay),
            (std::vector<SegmentMembership>{{"searched", false, T0, T0 + 9 * kDay}}));
}

TEST(SegmentsNow, TreatsAPassedExpirationAsOutBeforeTheExpiredRecordIsWritten) {
  std::vector<SegmentRecord> records = EnteredExtendedExpired();
  records.pop_back();  // the timer's `expired` record has not been written yet
  EXPECT_EQ(SegmentsNow(records, T0 + 17 * kDay - 1),
            (std::vector<SegmentMembership>{{"planner", true, T0, T0 + 17 * kDay}}));
  EXPECT_EQ(SegmentsNow(records, T0 + 17 * kDay),
            (std::vector<SegmentMembership>{{"planner", false, T0, T0 + 17 * kDay}}));
}

TEST(SegmentsAt, IsEmptyForAUserWithNoRecords) {
  EXPECT_TRUE(SegmentsAt({}, T0).empty());
  EXPECT_TRUE(SegmentsNow({}, T0).empty());
}

TEST(SegmentMembership, WritesTheApiObject) {
  std::string out;
  AppendSegmentMembershipJson({"planner", true, 10, 20}, &out);
  EXPECT_EQ(out, R"({"segment":"planner","in_segment":true,"start":10,"expiration":20})");
  out.clear();
  AppendSegmentMembershipJson({"searched", true, 10, std::nullopt}, &out);
  EXPECT_EQ(out, R"({"segment":"searched","in_segment":true,"start":10,"expiration":null})");
}

}  // namespace
}  // namespace usp
