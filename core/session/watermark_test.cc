#include "core/session/watermark.h"

#include <gtest/gtest.h>

namespace usp {
namespace {

TEST(WatermarkTracker, HasNoWatermarkUntilEverySourceHasSeenAnEvent) {
  WatermarkTracker tracker(2);
  EXPECT_EQ(tracker.watermark(), kNoWatermark);
  tracker.Observe(0, 1000);
  EXPECT_EQ(tracker.watermark(), kNoWatermark);
  tracker.Observe(1, 500);
  EXPECT_EQ(tracker.watermark(), 500);
}

TEST(WatermarkTracker, IsTheMinimumOverSourcesOfTheMaximumEventTime) {
  WatermarkTracker tracker(2);
  tracker.Observe(0, 1000);
  tracker.Observe(1, 2000);
  EXPECT_EQ(tracker.watermark(), 1000);
  tracker.Observe(0, 900);  // out of order on source 0: its maximum stays 1000
  EXPECT_EQ(tracker.watermark(), 1000);
  tracker.Observe(0, 3000);
  EXPECT_EQ(tracker.watermark(), 2000);
}

TEST(WatermarkTracker, IdleSourcesDoNotHoldItBack) {
  WatermarkTracker tracker(3);
  tracker.Observe(0, 1000);
  tracker.Observe(1, 5000);
  tracker.SetIdle(2, true);  // never saw an event
  EXPECT_EQ(tracker.watermark(), 1000);
  tracker.SetIdle(0, true);
  EXPECT_EQ(tracker.watermark(), 5000);
  // Every source idle: the largest event time seen.
  tracker.SetIdle(1, true);
  EXPECT_EQ(tracker.watermark(), 5000);
}

TEST(WatermarkTracker, NeverGoesBack) {
  WatermarkTracker tracker(2);
  tracker.Observe(0, 1000);
  tracker.SetIdle(1, true);
  EXPECT_EQ(tracker.watermark(), 1000);
  tracker.Observe(1, 200);  // an idle source wakes up behind the watermark
  EXPECT_EQ(tracker.watermark(), 1000);
}

}  // namespace
}  // namespace usp
