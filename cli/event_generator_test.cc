#include "cli/event_generator.h"

#include <map>

#include <gtest/gtest.h>

#include "core/resource_loader.h"
#include "core/signal_transform.h"

namespace usp {
namespace {

// The generator and the example resources must agree: every synthetic event
// for an example's topic is a good event for it (emitted or filtered, never
// failed), and most are emitted.
TEST(EventGenerator, ProducesEventsTheExampleSignalsAccept) {
  auto loaded = LoadResourcesFromPath(USP_EXAMPLES_DIR);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  std::mt19937_64 rng(7);
  int simple = 0;
  for (const auto& r : *loaded) {
    ASSERT_TRUE(r.valid()) << r.source;
    // The simple signals read raw events; segments, session jobs and joins
    // read other records (and joins combine two streams).
    if (!r.user_signal || r.user_signal->spec.type != SignalType::kSimple) continue;
    ++simple;
    auto transform = SignalTransform::Create(*r.user_signal);
    ASSERT_TRUE(transform.ok()) << transform.status().ToString();
    const std::string topic = r.user_signal->SourceTopics().front();
    std::map<TransformOutcome, int> outcomes;
    for (int i = 0; i < 200; ++i) {
      std::string payload = MakeSyntheticEvent(topic, "u" + std::to_string(i % 7),
                                               1795341700000 + i, static_cast<uint64_t>(i), rng);
      SignalRecord record;
      TransformError error;
      TransformOutcome outcome = (*transform)->Apply(
          SourceEvent{topic, 0, i, payload}, 1, &record, &error);
      ASSERT_NE(outcome, TransformOutcome::kFailed) << r.name << ": " << error.message;
      if (outcome == TransformOutcome::kEmitted) {
        EXPECT_EQ(record.user_id, "u" + std::to_string(i % 7));
        EXPECT_EQ(record.event_time, 1795341700000 + i);
        EXPECT_EQ(record.event_id, topic + "-" + std::to_string(i));
      }
      ++outcomes[outcome];
    }
    EXPECT_GT(outcomes[TransformOutcome::kEmitted], 100) << r.name;
  }
  EXPECT_EQ(simple, 3) << "searches, home-views, bookings";
}

TEST(EventGenerator, ShapesFollowTheTopicName) {
  std::mt19937_64 rng(1);
  EXPECT_NE(MakeSyntheticEvent("app.search", "u1", 0, 1, rng).find("\"query\""), std::string::npos);
  EXPECT_NE(MakeSyntheticEvent("listing_views", "u1", 0, 1, rng).find("\"listing\""),
            std::string::npos);
  EXPECT_NE(MakeSyntheticEvent("bookings", "u1", 0, 1, rng).find("\"total_price\""),
            std::string::npos);
  EXPECT_NE(MakeSyntheticEvent("clicks", "u1", 0, 1, rng).find("\"generic\""), std::string::npos);
}

}  // namespace
}  // namespace usp
