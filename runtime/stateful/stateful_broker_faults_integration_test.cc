// Broker faults under a stateful job, on a 3-broker embedded cluster: a
// StatefulWorker runs the trip-planner UserSegment (state in RocksDB, its
// changelog, the real segment processor) while the test produces keyed
// bursts of `searches` records and injects, in turn: Produce errors on the
// output leader and on the changelog leader, Fetch errors, OffsetCommit
// errors, 500 ms of latency, the output leader down, the changelog leader
// down with its partitions moved, and the source leader down with its
// partitions moved. After each fault the worker must catch up (every source
// offset committed, which needs every output and changelog record
// acknowledged; lag 0) without exiting. At the end:
//  - every expected segment row is on the output topic exactly once by
//    identity (user, expiration), with the right membership start; a row
//    re-sent by a producer retry is byte-identical (same version), so the
//    idempotent store keeps one; those are counted and reported;
//  - the changelog holds the final state: a fresh store restored from it
//    equals the worker's store, key by key (state envelopes and timers);
//  - metrics and logs say what happened.
//
// Layout: sources led by broker 1, the output by broker 2, the changelog by
// broker 3, so per-broker error pushes reach exactly the worker's fetches,
// output produces or changelog produces.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>

#include "core/murmur2.h"
#include "core/segment/segment_record.h"
#include "runtime/common/metrics.h"
#include "runtime/jobs/job_factory.h"
#include "runtime/jobs/job_test_util.h"
#include "runtime/state/changelog_reader.h"
#include "runtime/state/state_store.h"
#include "runtime/stateful/stateful_worker.h"
#include "runtime/worker/broker_faults_harness.h"
#include "runtime/worker/kafka_io.h"
#include "runtime/worker/worker_metrics.h"

namespace usp {
namespace {

namespace fs = std::filesystem;
using namespace broker_faults;     // NOLINT
using namespace jobs_testing;      // NOLINT

constexpr char kSearches[] = "usp.signal.searches";
constexpr char kBookings[] = "usp.signal.bookings";
constexpr char kOutput[] = "usp.segment.trip-planner";
constexpr char kChangelog[] = "usp.changelog.usersegment.trip-planner";
constexpr int32_t kPartitions = 4;
constexpr int32_t kSourceBroker = 1;
constexpr int32_t kOutputBroker = 2;
constexpr int32_t kChangelogBroker = 3;
constexpr int kBurst = 150;  // records produced while each fault is on
constexpr int kUsers = 13;
constexpr int64_t kT0 = 1'700'000'000'000;

// Wall-clock time moved back to kT0 when the test starts: commit intervals
// and versions advance as in production, while the 14-day expiry timers of
// the memberships never come due during the test.
class ShiftedClock : public Clock {
 public:
  int64_t NowMs() override {
    return kT0 + std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - start_)
                     .count();
  }

 private:
  const SteadyClock::time_point start_ = SteadyClock::now();
};

class StatefulBrokerFaultsIntegrationTest : public BrokerFaultsHarness {
 protected:
  void SetUp() override {
    BrokerFaultsHarness::SetUp();
    if (HasFatalFailure()) return;
    std::string tmpl = (fs::temp_directory_path() / "usp-stateful-bf-XXXXXX").string();
    dir_ = mkdtemp(tmpl.data());
    CreateTopic(kSearches, kPartitions, kSourceBroker);
    CreateTopic(kBookings, kPartitions, kSourceBroker);
    CreateTopic(kOutput, kPartitions, kOutputBroker);
    CreateTopic(kChangelog, kPartitions, kChangelogBroker);
  }

  void TearDown() override {
    (void)StopLoop();
    worker_.reset();
    follower_.reset();
    store_.reset();
    BrokerFaultsHarness::TearDown();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  static std::string User(int id) { return "user-" + std::to_string(id % kUsers); }
  static int64_t EventTime(int id) { return kT0 + int64_t{id} * 1000; }

  // `kBurst` searches, each one a segment row: a user's first enters the
  // segment, every later one extends the membership to its time + 14 days.
  void ProduceBurst() override {
    for (int k = 0; k < kBurst; ++k) {
      const int id = next_id_++;
      const std::string user = User(id);
      ProduceInput(kSearches, PartitionForKey(user, kPartitions), user,
                   SignalJson(user, "searches", EventTime(id)), EventTime(id));
    }
  }

  // Every source offset committed (so every output and changelog record
  // acknowledged) and the worker's lag 0.
  bool CaughtUp() override {
    if (ends_at_ != next_id_) {  // end offsets move only when the test produces
      ends_ = EndOffsets(kSearches, kPartitions);
      ends_at_ = next_id_;
    }
    const StatefulSnapshot stats = worker_->Stats();
    if (stats.lag != 0) return false;
    int searches = 0;
    for (const auto& c : stats.committed) {
      if (c.topic != kSearches) continue;  // bookings stay empty
      ++searches;
      if (c.offset != ends_[c.partition]) return false;
    }
    return searches == kPartitions;
  }

  void StartWorker() {
    auto store = StateStore::Open((dir_ / "worker").string());
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
    StatefulJobOptions job_options;
    job_options.clock = &clock_;
    job_options.source_partitions = kPartitions;
    auto plan = MakeStatefulJob(Load(kTripPlannerYaml), job_options);
    ASSERT_TRUE(plan.ok()) << plan.status().ToString();
    plan_ = std::move(plan).value();
    ASSERT_EQ(plan_.job.changelog_topic, kChangelog);
    auto follower = ChangelogReader::Create(kafka_->bootstrap(), kChangelog, store_.get());
    ASSERT_TRUE(follower.ok()) << follower.status().ToString();
    follower_ = std::move(follower).value();
    auto source = KafkaSourceReader::Create(
        {kafka_->bootstrap(), "usp.UserSegment.trip-planner", "worker", "earliest", {}});
    ASSERT_TRUE(source.ok()) << source.status().ToString();
    source_ = std::move(source).value();
    ProducerOptions popts;
    popts.bootstrap = kafka_->bootstrap();
    popts.linger_ms = 1;
    auto sink = KafkaRecordSink::Create(popts);
    ASSERT_TRUE(sink.ok()) << sink.status().ToString();
    sink_ = std::move(sink).value();
    StatefulWorkerOptions options;
    for (int32_t p = 0; p < kPartitions; ++p) options.partitions.push_back(p);
    options.poll_timeout_ms = 50;
    options.commit_interval_ms = 100;
    options.metrics = &metrics_;
    worker_ = std::make_unique<StatefulWorker>(plan_.job, plan_.processor.get(), source_.get(),
                                               sink_.get(), store_.get(), follower_.get(), &clock_,
                                               options);
    Status s = worker_->Start();
    ASSERT_TRUE(s.ok()) << s.ToString();
    StartLoop([this] { return worker_->RunOnce(); });
  }

  // Every key of every partition of `store` (state envelopes and timers).
  static std::map<std::pair<int32_t, std::string>, std::string> Contents(const StateStore& store) {
    std::map<std::pair<int32_t, std::string>, std::string> out;
    for (int32_t p = 0; p < kPartitions; ++p) {
      Status s = store.Scan(p, "", [&](std::string_view key, std::string_view value) {
        out[{p, std::string(key)}] = std::string(value);
        return true;
      });
      EXPECT_TRUE(s.ok()) << s.ToString();
    }
    return out;
  }

  fs::path dir_;
  ShiftedClock clock_;
  MetricsRegistry registry_;
  WorkerMetrics metrics_{&registry_, "UserSegment", "trip-planner"};
  int next_id_ = 0;
  int ends_at_ = -1;
  std::map<int32_t, int64_t> ends_;

  std::unique_ptr<StateStore> store_;
  StatefulJobPlan plan_;
  std::unique_ptr<ChangelogReader> follower_;
  std::unique_ptr<KafkaSourceReader> source_;
  std::unique_ptr<KafkaRecordSink> sink_;
  std::unique_ptr<StatefulWorker> worker_;
};

TEST_F(StatefulBrokerFaultsIntegrationTest, SegmentRowsAndStateSurviveEveryFault) {
  StartWorker();
  ProduceBurst();
  FlushInput();
  ASSERT_TRUE(WaitFor([&] { return CaughtUp(); }, kCatchUpMs))
      << "the worker did not process the healthy warm-up: processed "
      << worker_->Stats().processed << ", lag " << worker_->Stats().lag << ", loop exited "
      << exited();

  ProduceErrorsPhase("produce errors on the output leader", kOutputBroker);
  ProduceErrorsPhase("produce errors on the changelog leader", kChangelogBroker);
  FetchErrorsPhase("fetch errors on the source leader", kSourceBroker);
  CommitErrorsPhase("offset commit errors", [&] {
    return MetricValue(registry_.Serialize(), "usp_kafka_errors_total", "op=\"commit\"");
  });
  LatencyPhase("500 ms broker latency", 500);
  BrokerDownPhase("output leader broker down 2 s", kOutputBroker);
  LeaderDownAndMovedPhase("changelog leader down, leadership moved", kChangelogBroker, kChangelog,
                          kPartitions, kOutputBroker);
  LeaderDownAndMovedPhase("source leader down, leadership moved", kSourceBroker, kSearches,
                          kPartitions, kChangelogBroker);

  Status loop = StopLoop();
  ASSERT_TRUE(loop.ok()) << "the worker loop failed: " << loop.ToString();
  ASSERT_TRUE(worker_->Finish().ok());
  const StatefulSnapshot stats = worker_->Stats();
  const int produced = next_id_;
  EXPECT_EQ(stats.processed, produced);
  EXPECT_EQ(stats.invalid, 0);

  // Every segment row exactly once by identity (user, expiration), right.
  std::map<std::string, int64_t> first_time;  // user -> membership start
  std::set<std::pair<std::string, int64_t>> expected;
  for (int id = 0; id < produced; ++id) {
    first_time.emplace(User(id), EventTime(id));
    expected.insert({User(id), EventTime(id) + 14 * kDay});
  }
  std::map<std::pair<std::string, int64_t>, std::set<std::string>> rows;  // identity -> payloads
  int records = 0;
  for (const TopicRecord& r : ReadTopic(kOutput, kPartitions, static_cast<size_t>(produced))) {
    auto row = ParseSegmentRecord(r.payload);
    EXPECT_TRUE(row.ok()) << r.payload;
    if (!row.ok()) continue;
    ++records;
    EXPECT_EQ(r.key, row->user_id);
    EXPECT_EQ(r.partition, PartitionForKey(row->user_id, kPartitions));
    EXPECT_TRUE(row->in_segment);
    EXPECT_EQ(row->reason, SegmentReason::kEnter);
    EXPECT_EQ(row->start, first_time[row->user_id]) << r.payload;
    rows[{row->user_id, row->expiration.value_or(-1)}].insert(r.payload);
  }
  int missing = 0;
  for (const auto& identity : expected) {
    auto it = rows.find(identity);
    if (it == rows.end()) {
      ++missing;
      ADD_FAILURE() << "no segment row for " << identity.first << " expiring at "
                    << identity.second;
    } else {
      EXPECT_EQ(it->second.size(), 1u)
          << identity.first << ": one row applied twice (different versions)";
    }
  }
  EXPECT_EQ(missing, 0);
  EXPECT_EQ(rows.size(), expected.size()) << "rows nobody asked for";
  const int duplicates = records - static_cast<int>(rows.size());
  std::printf("[result] %d faults, %d records in, %zu distinct rows out, %d missing, %d "
              "byte-identical re-sends\n",
              phases(), produced, rows.size(), missing, duplicates);
  RecordProperty("duplicates", duplicates);

  // The changelog holds the final state: a store restored from it alone
  // equals the worker's, key by key.
  auto restored = StateStore::Open((dir_ / "restored").string());
  ASSERT_TRUE(restored.ok()) << restored.status().ToString();
  {
    auto reader = ChangelogReader::Create(kafka_->bootstrap(), kChangelog, restored->get());
    ASSERT_TRUE(reader.ok()) << reader.status().ToString();
    for (int32_t p = 0; p < kPartitions; ++p) {
      Status s = (*reader)->CatchUp(p, kCatchUpMs);
      ASSERT_TRUE(s.ok()) << s.ToString();
    }
  }
  const auto want = Contents(*store_);
  const auto got = Contents(**restored);
  EXPECT_EQ(want.size(), static_cast<size_t>(2 * kUsers)) << "a state and a timer per user";
  EXPECT_TRUE(want == got) << "the restored store differs: " << want.size() << " keys vs "
                           << got.size();

  // Metrics and logs say what happened.
  const std::string metrics = registry_.Serialize();
  EXPECT_GE(MetricValue(metrics, "usp_kafka_errors_total", "op=\"commit\""), 1) << metrics;
  EXPECT_GE(stats.commit_errors, 1);
  const std::string logs = Logs();
  EXPECT_NE(logs.find("offset commit failed"), std::string::npos);
  EXPECT_NE(logs.find("Connection refused"), std::string::npos)
      << "no log line names the broker that went down";
}

}  // namespace
}  // namespace usp
