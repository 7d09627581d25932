#include "runtime/jobs/segment_job_processor.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>

#include "core/murmur2.h"
#include "core/segment/segment_record.h"
#include "core/segment/segment_state.h"
#include "runtime/jobs/job_test_util.h"
#include "runtime/worker/worker_test_fakes.h"

namespace usp {
namespace {

using namespace jobs_testing;  // NOLINT
using testing::FakeClock;

class SegmentJobProcessorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    resource_ = Load(kTripPlannerYaml);
    ASSERT_TRUE(resource_.user_segment.has_value());
    auto p = SegmentJobProcessor::Create(*resource_.user_segment, &clock_);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    processor_ = std::move(p).value();
  }

  // Feeds one record of `user` through KeyOf + Process with the stored state.
  ProcessorEffects Feed(const std::string& user, const std::string& signal, int64_t t) {
    std::string record = SignalJson(user, signal, t);
    auto key = processor_->KeyOf(record);
    EXPECT_TRUE(key.ok()) << key.status().ToString();
    EXPECT_EQ(*key, user);
    ProcessorEffects effects;
    Status s = processor_->Process(*key, record, states_[user], &effects);
    EXPECT_TRUE(s.ok()) << s.ToString();
    if (effects.state_changed) states_[user] = effects.state;
    return effects;
  }
  ProcessorEffects Fire(const std::string& user, int64_t at) {
    ProcessorEffects effects;
    Status s = processor_->OnTimer(user, at, states_[user], &effects);
    EXPECT_TRUE(s.ok()) << s.ToString();
    if (effects.state_changed) states_[user] = effects.state;
    return effects;
  }
  static SegmentRecord Record(const ProcessorOutput& o) {
    auto r = ParseSegmentRecord(o.value);
    EXPECT_TRUE(r.ok()) << r.status().ToString() << " " << o.value;
    EXPECT_EQ(o.key, r.ok() ? r->user_id : "");
    return r.ok() ? *r : SegmentRecord{};
  }

  FakeClock clock_;
  LoadedResource resource_;
  std::unique_ptr<SegmentJobProcessor> processor_;
  std::map<std::string, std::optional<std::string>> states_;
};

constexpr int64_t kT0 = 1'700'000'000'000;

TEST_F(SegmentJobProcessorTest, EnterPutsTheUserInAndSetsATimerAtTheExactExpiration) {
  ProcessorEffects e = Feed("u1", "searches", kT0);
  ASSERT_EQ(e.outputs.size(), 1u);
  SegmentRecord r = Record(e.outputs[0]);
  EXPECT_EQ(r.segment, "trip-planner");
  EXPECT_TRUE(r.in_segment);
  EXPECT_EQ(r.reason, SegmentReason::kEnter);
  EXPECT_EQ(r.start, kT0);
  EXPECT_EQ(r.expiration, kT0 + 14 * kDay);
  EXPECT_EQ(e.timers_to_set, std::vector<int64_t>{kT0 + 14 * kDay});
  EXPECT_TRUE(e.timers_to_cancel.empty());
  ASSERT_TRUE(states_["u1"].has_value());
  EXPECT_TRUE(ParseSegmentState(*states_["u1"])->in_segment);
}

TEST_F(SegmentJobProcessorTest, ReEnterKeepsTheStartAndMovesTheTimerLater) {
  Feed("u1", "searches", kT0);
  ProcessorEffects e = Feed("u1", "searches", kT0 + 3 * kDay);
  ASSERT_EQ(e.outputs.size(), 1u);
  SegmentRecord r = Record(e.outputs[0]);
  EXPECT_EQ(r.reason, SegmentReason::kEnter);
  EXPECT_EQ(r.start, kT0);
  EXPECT_EQ(r.expiration, kT0 + 17 * kDay);
  EXPECT_EQ(e.timers_to_cancel, std::vector<int64_t>{kT0 + 14 * kDay});
  EXPECT_EQ(e.timers_to_set, std::vector<int64_t>{kT0 + 17 * kDay});
  // An older enter does not move anything (and no timer churn).
  ProcessorEffects older = Feed("u1", "searches", kT0 + kDay);
  EXPECT_TRUE(older.outputs.empty());
  EXPECT_TRUE(older.timers_to_set.empty());
  EXPECT_TRUE(older.timers_to_cancel.empty());
}

TEST_F(SegmentJobProcessorTest, ExitTakesTheUserOutAndCancelsTheTimer) {
  Feed("u1", "searches", kT0);
  ProcessorEffects e = Feed("u1", "bookings", kT0 + kHour);
  ASSERT_EQ(e.outputs.size(), 1u);
  SegmentRecord r = Record(e.outputs[0]);
  EXPECT_FALSE(r.in_segment);
  EXPECT_EQ(r.reason, SegmentReason::kExit);
  EXPECT_EQ(r.start, kT0);
  EXPECT_EQ(r.expiration, kT0 + kHour);
  EXPECT_EQ(e.timers_to_cancel, std::vector<int64_t>{kT0 + 14 * kDay});
  EXPECT_TRUE(e.timers_to_set.empty());
}

TEST_F(SegmentJobProcessorTest, TheTimerEmitsExpiredAtTheExpiration) {
  Feed("u1", "searches", kT0);
  clock_.now_ms = kT0 + 14 * kDay;
  ProcessorEffects e = Fire("u1", kT0 + 14 * kDay);
  ASSERT_EQ(e.outputs.size(), 1u);
  SegmentRecord r = Record(e.outputs[0]);
  EXPECT_FALSE(r.in_segment);
  EXPECT_EQ(r.reason, SegmentReason::kExpired);
  EXPECT_EQ(r.expiration, kT0 + 14 * kDay);
  EXPECT_TRUE(e.timers_to_set.empty());
  // A second (stale) firing emits nothing.
  EXPECT_TRUE(Fire("u1", kT0 + 14 * kDay).outputs.empty());
}

TEST_F(SegmentJobProcessorTest, OtherSignalsAndBadRecordsChangeNothing) {
  ProcessorEffects e = Feed("u2", "views", kT0);
  EXPECT_TRUE(e.outputs.empty());
  EXPECT_FALSE(e.state_changed);
  EXPECT_FALSE(processor_->KeyOf("{}").ok());
  EXPECT_FALSE(processor_->KeyOf("not json").ok());
  EXPECT_EQ(processor_->stats().invalid, 2);
}

// The processor on the stateful worker loop (fakes for Kafka): the expiry
// timer fires exactly at the expiration, not before, and once.
TEST(SegmentJobOnStatefulWorker, ExpiryFiresAtTheExactTimeWithReasonExpired) {
  namespace fs = std::filesystem;
  std::string tmpl = (fs::temp_directory_path() / "usp-jobs-XXXXXX").string();
  fs::path dir = mkdtemp(tmpl.data());
  {
    auto store = StateStore::Open((dir / "db").string());
    ASSERT_TRUE(store.ok());
    LoadedResource resource = Load(kTripPlannerYaml);
    FakeClock clock;
    clock.now_ms = kT0;
    auto processor = SegmentJobProcessor::Create(*resource.user_segment, &clock);
    ASSERT_TRUE(processor.ok());
    testing::FakeSourceReader source;
    testing::FakeRecordSink sink;
    const std::string out = "usp.segment.trip-planner";
    const std::string changelog = "usp.changelog.usersegment.trip-planner";
    source.partition_counts["usp.signal.searches"] = 2;
    source.partition_counts["usp.signal.bookings"] = 2;
    sink.partition_counts[out] = 2;
    sink.partition_counts[changelog] = 2;
    StatefulWorkerOptions options;
    options.partitions = {0, 1};
    options.commit_interval_ms = 0;
    StatefulWorker worker({"UserSegment",
                           "trip-planner",
                           {"usp.signal.searches", "usp.signal.bookings"},
                           out,
                           changelog},
                          processor->get(), &source, &sink, store->get(), nullptr, &clock, options);
    ASSERT_TRUE(worker.Start().ok());
    const int32_t p = PartitionForKey("u1", 2);
    source.Add("usp.signal.searches", p, 0, SignalJson("u1", "searches", kT0));
    source.Add("usp.signal.searches", p, 1, SignalJson("u1", "searches", kT0 + kDay));
    ASSERT_TRUE(worker.RunOnce().ok());
    auto outputs = [&] {
      std::vector<SegmentRecord> records;
      for (const auto& r : sink.sent) {
        if (r.topic == out) records.push_back(*ParseSegmentRecord(r.value));
      }
      return records;
    };
    ASSERT_EQ(outputs().size(), 2u);
    const int64_t expiration = kT0 + 15 * kDay;
    EXPECT_EQ(outputs()[1].expiration, expiration);
    clock.now_ms = kT0 + 14 * kDay;  // the first, cancelled expiration: nothing
    ASSERT_TRUE(worker.RunOnce().ok());
    clock.now_ms = expiration - 1;
    ASSERT_TRUE(worker.RunOnce().ok());
    EXPECT_EQ(outputs().size(), 2u) << "fired early";
    clock.now_ms = expiration;
    ASSERT_TRUE(worker.RunOnce().ok());
    ASSERT_EQ(outputs().size(), 3u);
    EXPECT_EQ(outputs()[2].reason, SegmentReason::kExpired);
    EXPECT_FALSE(outputs()[2].in_segment);
    EXPECT_EQ(outputs()[2].expiration, expiration);
    EXPECT_EQ(outputs()[2].start, kT0);
    clock.now_ms = expiration + kDay;
    ASSERT_TRUE(worker.RunOnce().ok());
    EXPECT_EQ(outputs().size(), 3u) << "fired twice";
    EXPECT_EQ(worker.Stats().timers_fired, 1);
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
}

}  // namespace
}  // namespace usp
