#include "core/session/window.h"

#include <gtest/gtest.h>

namespace usp {
namespace {

constexpr int64_t kMinute = 60 * 1000;
// 2023-11-14T22:00:00Z, a multiple of an hour.
constexpr int64_t kT0 = 1699999200000;

TEST(SlidingWindowsFor, AnEventIsInExactlyTwoTenMinuteWindowsSlidingByFive) {
  const int64_t t = kT0 + 12 * kMinute;
  EXPECT_EQ(SlidingWindowsFor(t, 10 * kMinute, 5 * kMinute),
            (std::vector<TimeWindow>{{kT0 + 5 * kMinute, kT0 + 15 * kMinute},
                                     {kT0 + 10 * kMinute, kT0 + 20 * kMinute}}));
}

TEST(SlidingWindowsFor, StartIsInclusiveAndEndExclusive) {
  // Exactly on a slide boundary: it starts [10m, 20m) and is not in [0, 10m).
  EXPECT_EQ(SlidingWindowsFor(kT0 + 10 * kMinute, 10 * kMinute, 5 * kMinute),
            (std::vector<TimeWindow>{{kT0 + 5 * kMinute, kT0 + 15 * kMinute},
                                     {kT0 + 10 * kMinute, kT0 + 20 * kMinute}}));
  // One millisecond earlier it is in [0, 10m) and [5m, 15m).
  EXPECT_EQ(SlidingWindowsFor(kT0 + 10 * kMinute - 1, 10 * kMinute, 5 * kMinute),
            (std::vector<TimeWindow>{{kT0, kT0 + 10 * kMinute},
                                     {kT0 + 5 * kMinute, kT0 + 15 * kMinute}}));
}

TEST(SlidingWindowsFor, WindowsAreAlignedToTheEpoch) {
  // 7 minutes after the epoch, 10m/5m: [-5m, 5m) does not hold it; [0, 10m) and [5m, 15m) do.
  EXPECT_EQ(SlidingWindowsFor(7 * kMinute, 10 * kMinute, 5 * kMinute),
            (std::vector<TimeWindow>{{0, 10 * kMinute}, {5 * kMinute, 15 * kMinute}}));
  // Right at the epoch the first window starts before it.
  EXPECT_EQ(SlidingWindowsFor(0, 10 * kMinute, 5 * kMinute),
            (std::vector<TimeWindow>{{-5 * kMinute, 5 * kMinute}, {0, 10 * kMinute}}));
}

TEST(SlidingWindowsFor, EqualSizeAndSlideAreTumblingWindows) {
  EXPECT_EQ(SlidingWindowsFor(kT0 + 7 * kMinute, 5 * kMinute, 5 * kMinute),
            (std::vector<TimeWindow>{{kT0 + 5 * kMinute, kT0 + 10 * kMinute}}));
}

TEST(SlidingWindowsFor, EveryEventIsInSizeOverSlideWindows) {
  for (int64_t t = kT0; t < kT0 + 3 * kMinute; t += 7919) {
    const std::vector<TimeWindow> windows = SlidingWindowsFor(t, 60 * kMinute, kMinute);
    ASSERT_EQ(windows.size(), 60u);
    for (const TimeWindow& w : windows) {
      EXPECT_LE(w.start_ms, t);
      EXPECT_LT(t, w.end_ms);
      EXPECT_EQ(w.start_ms % kMinute, 0);
    }
  }
}

TEST(FloorDiv, RoundsTowardNegativeInfinity) {
  EXPECT_EQ(FloorDiv(7, 5), 1);
  EXPECT_EQ(FloorDiv(5, 5), 1);
  EXPECT_EQ(FloorDiv(0, 5), 0);
  EXPECT_EQ(FloorDiv(-1, 5), -1);
  EXPECT_EQ(FloorDiv(-5, 5), -1);
  EXPECT_EQ(FloorDiv(-6, 5), -2);
}

TEST(SessionWindowFor, RunsFromTheEventToTheGap) {
  EXPECT_EQ(SessionWindowFor(kT0, 30 * kMinute), (TimeWindow{kT0, kT0 + 30 * kMinute}));
}

TEST(Overlaps, TouchingWindowsDoNotOverlap) {
  EXPECT_FALSE(Overlaps({0, 10}, {10, 20}));
  EXPECT_FALSE(Overlaps({10, 20}, {0, 10}));
  EXPECT_TRUE(Overlaps({0, 11}, {10, 20}));
  EXPECT_TRUE(Overlaps({0, 100}, {10, 20}));
}

}  // namespace
}  // namespace usp
