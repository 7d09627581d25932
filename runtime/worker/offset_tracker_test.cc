#include "runtime/worker/offset_tracker.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace usp {
namespace {

// One step of a scenario: begin, ack or fail an offset.
struct Step {
  char op;  // 'b' begin, 'a' ack, 'f' fail
  int64_t offset;
  bool accepted = true;  // expected return value
};

struct Case {
  std::string name;
  int64_t start;
  std::vector<Step> steps;
  int64_t committable;
  size_t in_flight;
};

TEST(PartitionOffsetTracker, CommittableOffsetFollowsTheTable) {
  const std::vector<Case> cases = {
      {"nothing consumed keeps the start offset", 7, {}, 7, 0},
      {"nothing known is -1", -1, {}, -1, 0},
      {"in-order acks advance one past the last",
       0,
       {{'b', 0}, {'b', 1}, {'b', 2}, {'a', 0}, {'a', 1}, {'a', 2}},
       3,
       0},
      {"an unacked head holds everything behind it",
       0,
       {{'b', 0}, {'b', 1}, {'b', 2}, {'a', 1}, {'a', 2}},
       0,
       3},
      {"out-of-order acks advance once the gap closes",
       0,
       {{'b', 0}, {'b', 1}, {'b', 2}, {'a', 2}, {'a', 1}, {'a', 0}},
       3,
       0},
      {"partial progress stops at the first in-flight",
       10,
       {{'b', 10}, {'b', 11}, {'b', 12}, {'a', 10}, {'a', 12}},
       11,
       2},
      {"filtered events are done at once", 0, {{'b', 0}, {'a', 0}, {'b', 1}, {'a', 1}}, 2, 0},
      {"gaps in offsets (compaction, markers) are fine",
       0,
       {{'b', 3}, {'b', 8}, {'a', 8}, {'a', 3}},
       9,
       0},
      {"a failure is never committed past",
       0,
       {{'b', 0}, {'b', 1}, {'b', 2}, {'a', 0}, {'f', 1}, {'a', 2}},
       1,
       2},
      {"a failed offset cannot be acked later", 0, {{'b', 0}, {'f', 0}, {'a', 0, false}}, 0, 1},
      {"a double ack is refused", 0, {{'b', 0}, {'a', 0}, {'a', 0, false}}, 1, 0},
      {"an unknown offset is refused", 0, {{'b', 0}, {'a', 5, false}, {'f', 6, false}}, 0, 1},
      {"a redelivered offset is not begun twice",
       0,
       {{'b', 0}, {'b', 1}, {'b', 1, false}, {'b', 0, false}, {'a', 0}, {'a', 1}},
       2,
       0},
      {"consumption may start past the committed offset (truncated log)",
       5,
       {{'b', 9}, {'a', 9}},
       10,
       0},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    PartitionOffsetTracker tracker(c.start);
    for (const Step& s : c.steps) {
      bool got = false;
      switch (s.op) {
        case 'b':
          got = tracker.Begin(s.offset);
          break;
        case 'a':
          got = tracker.Ack(s.offset);
          break;
        case 'f':
          got = tracker.Fail(s.offset);
          break;
      }
      EXPECT_EQ(got, s.accepted) << s.op << " " << s.offset;
    }
    EXPECT_EQ(tracker.CommittableOffset(), c.committable);
    EXPECT_EQ(tracker.in_flight(), c.in_flight);
  }
}

TEST(PartitionOffsetTracker, AckReturnsTheTimesGivenAtBegin) {
  PartitionOffsetTracker tracker(0);
  ASSERT_TRUE(tracker.Begin(0, {100, 200, 300}));
  InFlightTimes times;
  ASSERT_TRUE(tracker.Ack(0, &times));
  EXPECT_EQ(times.event_time_ms, 100);
  EXPECT_EQ(times.append_time_ms, 200);
  EXPECT_EQ(times.consumed_ms, 300);
}

TEST(PartitionOffsetTracker, NeedsCommitOnlyWhenTheCommittableOffsetAdvanced) {
  PartitionOffsetTracker tracker(4);
  tracker.MarkCommitted(4);
  EXPECT_FALSE(tracker.NeedsCommit());
  ASSERT_TRUE(tracker.Begin(4));
  EXPECT_FALSE(tracker.NeedsCommit());
  ASSERT_TRUE(tracker.Ack(4));
  EXPECT_TRUE(tracker.NeedsCommit());
  tracker.MarkCommitted(tracker.CommittableOffset());
  EXPECT_FALSE(tracker.NeedsCommit());
  EXPECT_EQ(tracker.committed(), 5);
}

TEST(PartitionOffsetTracker, RemembersAFailureAndTheConsumerPosition) {
  PartitionOffsetTracker tracker(0);
  EXPECT_EQ(tracker.next_offset(), -1);
  ASSERT_TRUE(tracker.Begin(0));
  ASSERT_TRUE(tracker.Begin(1));
  EXPECT_EQ(tracker.next_offset(), 2);
  EXPECT_FALSE(tracker.has_failure());
  ASSERT_TRUE(tracker.Fail(1));
  EXPECT_TRUE(tracker.has_failure());
}

}  // namespace
}  // namespace usp
