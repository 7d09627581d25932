// A UserSegment job on the embedded Kafka-protocol broker: the stateful
// worker with the segment processor reads signal records, writes segment
// records, keeps the membership in RocksDB and its changelog; a warm standby
// following the changelog takes the partitions over and keeps the
// membership (a re-enter keeps the original start).
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "core/murmur2.h"
#include "core/segment/segment_record.h"
#include "core/segment/segment_state.h"
#include "runtime/jobs/job_factory.h"
#include "runtime/jobs/job_test_util.h"
#include "runtime/kafka/embedded_kafka.h"
#include "runtime/kafka/kafka_client.h"
#include "runtime/state/changelog_reader.h"
#include "runtime/state/state_store.h"
#include "runtime/worker/kafka_io.h"
#include "runtime/worker/worker_test_fakes.h"

namespace usp {
namespace {

namespace fs = std::filesystem;
using namespace jobs_testing;  // NOLINT

constexpr int32_t kPartitions = 4;
constexpr int kTimeoutMs = 20000;
constexpr int64_t kT0 = 1'700'000'000'000;

// One worker process's worth of objects: store, changelog follower, Kafka
// source and sink, processor and the stateful loop.
struct Node {
  std::unique_ptr<StateStore> store;
  std::unique_ptr<ChangelogReader> follower;
  std::unique_ptr<KafkaSourceReader> source;
  std::unique_ptr<KafkaRecordSink> sink;
  StatefulJobPlan plan;
  std::unique_ptr<StatefulWorker> worker;
};

class StatefulJobsIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "usp-jobs-it-XXXXXX").string();
    dir_ = mkdtemp(tmpl.data());
    auto kafka = EmbeddedKafka::Start();
    ASSERT_TRUE(kafka.ok()) << kafka.status().ToString();
    kafka_ = std::move(kafka).value();
    resource_ = Load(kTripPlannerYaml);
    for (const char* t : {"usp.signal.searches", "usp.signal.bookings", "usp.segment.trip-planner",
                          "usp.changelog.usersegment.trip-planner"}) {
      ASSERT_TRUE(kafka_->CreateTopic(t, kPartitions).ok());
    }
    ProducerOptions po;
    po.bootstrap = kafka_->bootstrap();
    po.linger_ms = 1;
    auto producer = KafkaProducer::Create(po, [this](const DeliveryReport& r) {
      if (!r.status.ok()) ++failed_;
    });
    ASSERT_TRUE(producer.ok());
    producer_ = std::move(producer).value();
  }
  void TearDown() override {
    nodes_.clear();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  void Produce(const std::string& user, const std::string& signal, int64_t t) {
    ASSERT_TRUE(producer_
                    ->Produce("usp.signal." + signal, PartitionForKey(user, kPartitions), user,
                              SignalJson(user, signal, t), t, 0)
                    .ok());
    ASSERT_TRUE(producer_->Flush(kTimeoutMs).ok());
    ASSERT_EQ(failed_, 0);
  }

  Node* Start(const std::string& name, std::vector<int32_t> partitions) {
    auto node = std::make_unique<Node>();
    auto store = StateStore::Open((dir_ / name).string());
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    node->store = std::move(store).value();
    StatefulJobOptions options;
    options.clock = &clock_;
    auto plan = MakeStatefulJob(resource_, options);
    EXPECT_TRUE(plan.ok()) << plan.status().ToString();
    node->plan = std::move(plan).value();
    auto follower = ChangelogReader::Create(kafka_->bootstrap(), node->plan.job.changelog_topic,
                                            node->store.get());
    EXPECT_TRUE(follower.ok()) << follower.status().ToString();
    node->follower = std::move(follower).value();
    auto source = KafkaSourceReader::Create(
        {kafka_->bootstrap(), "usp.UserSegment.trip-planner", "it-" + name, "earliest", {}});
    EXPECT_TRUE(source.ok()) << source.status().ToString();
    node->source = std::move(source).value();
    ProducerOptions po;
    po.bootstrap = kafka_->bootstrap();
    po.linger_ms = 1;
    auto sink = KafkaRecordSink::Create(po);
    EXPECT_TRUE(sink.ok()) << sink.status().ToString();
    node->sink = std::move(sink).value();
    StatefulWorkerOptions wo;
    wo.partitions = std::move(partitions);
    wo.poll_timeout_ms = 20;
    wo.commit_interval_ms = 0;
    node->worker = std::make_unique<StatefulWorker>(
        node->plan.job, node->plan.processor.get(), node->source.get(), node->sink.get(),
        node->store.get(), node->follower.get(), &clock_, wo);
    Status s = node->worker->Start();
    EXPECT_TRUE(s.ok()) << s.ToString();
    nodes_.push_back(std::move(node));
    return nodes_.back().get();
  }

  // Runs every node's loop until `done` or the timeout.
  bool RunUntil(const std::function<bool()>& done) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kTimeoutMs);
    while (std::chrono::steady_clock::now() < deadline) {
      for (auto& n : nodes_) {
        Status s = n->worker->RunOnce();
        EXPECT_TRUE(s.ok()) << s.ToString();
        if (!s.ok()) return false;
      }
      if (done()) return true;
    }
    return false;
  }

  // The segment records on the output topic, once there are `want` of
  // them (or the timeout), in version order.
  std::vector<SegmentRecord> Outputs(size_t want) {
    ConsumerOptions co;
    co.bootstrap = kafka_->bootstrap();
    co.group_id = "reader";
    auto consumer = KafkaConsumer::Create(co);
    EXPECT_TRUE(consumer.ok());
    std::vector<TopicPartitionOffset> assign;
    for (int32_t p = 0; p < kPartitions; ++p) {
      assign.push_back({"usp.segment.trip-planner", p, kOffsetBeginning});
    }
    EXPECT_TRUE((*consumer)->Assign(assign).ok());
    std::vector<SegmentRecord> out;
    std::vector<ConsumedMessage> batch;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kTimeoutMs);
    while (out.size() < want && std::chrono::steady_clock::now() < deadline) {
      for (auto& n : nodes_) EXPECT_TRUE(n->worker->RunOnce().ok());  // deliveries
      EXPECT_TRUE((*consumer)->Poll(500, 50, &batch).ok());
      for (const auto& m : batch) {
        auto r = ParseSegmentRecord(m.payload);
        EXPECT_TRUE(r.ok()) << m.payload;
        EXPECT_EQ(m.key, r->user_id);
        EXPECT_EQ(m.partition, PartitionForKey(r->user_id, kPartitions));
        out.push_back(*r);
      }
    }
    EXPECT_TRUE((*consumer)->Poll(500, 200, &batch).ok());  // no more than wanted
    EXPECT_TRUE(batch.empty()) << batch.size() << " records more than expected";
    std::stable_sort(out.begin(), out.end(), [](const SegmentRecord& a, const SegmentRecord& b) {
      return std::tie(a.user_id, a.version) < std::tie(b.user_id, b.version);
    });
    return out;
  }

  static std::optional<SegmentState> Membership(StateStore* store, const std::string& user) {
    auto stored = store->Get(PartitionForKey(user, kPartitions), "s/" + user);
    if (!stored.ok() || !stored->has_value()) return std::nullopt;
    auto envelope = DecodeStateEnvelope(**stored);
    if (!envelope.ok() || !envelope->state.has_value()) return std::nullopt;
    auto state = ParseSegmentState(*envelope->state);
    return state.ok() ? std::optional<SegmentState>(*state) : std::nullopt;
  }

  fs::path dir_;
  std::unique_ptr<EmbeddedKafka> kafka_;
  std::unique_ptr<KafkaProducer> producer_;
  int failed_ = 0;
  LoadedResource resource_;
  testing::FakeClock clock_;
  std::vector<std::unique_ptr<Node>> nodes_;
};

TEST_F(StatefulJobsIntegrationTest, SignalsInSegmentsOutStateInRocksDbAndAStandbyTakesOver) {
  clock_.now_ms = kT0;
  Node* active = Start("active", {0, 1, 2, 3});
  Node* standby = Start("standby", {});
  ASSERT_TRUE(active->worker->ready());

  Produce("u1", "searches", kT0);
  Produce("u2", "searches", kT0 + 1000);
  Produce("u2", "bookings", kT0 + 2000);
  ASSERT_TRUE(RunUntil([&] { return active->worker->Stats().processed == 3; }));
  ASSERT_TRUE(active->worker->Finish().ok());  // flush + commit, as on SIGTERM

  std::vector<SegmentRecord> out = Outputs(3);  // by user, then version
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].user_id, "u1");
  EXPECT_EQ(out[0].reason, SegmentReason::kEnter);
  EXPECT_EQ(out[0].start, kT0);
  EXPECT_EQ(out[0].expiration, kT0 + 14 * kDay);
  EXPECT_EQ(out[1].user_id, "u2");
  EXPECT_EQ(out[1].reason, SegmentReason::kEnter);
  EXPECT_EQ(out[2].user_id, "u2");
  EXPECT_EQ(out[2].reason, SegmentReason::kExit);
  EXPECT_EQ(out[2].expiration, kT0 + 2000);

  // State in the active's RocksDB.
  auto u1 = Membership(active->store.get(), "u1");
  ASSERT_TRUE(u1.has_value());
  EXPECT_TRUE(u1->in_segment);
  EXPECT_EQ(u1->start, kT0);
  EXPECT_FALSE(Membership(active->store.get(), "u2")->in_segment);

  // The standby followed the changelog: it already has the membership.
  ASSERT_TRUE(RunUntil([&] {
    auto s = Membership(standby->store.get(), "u1");
    return s.has_value() && s->in_segment;
  }));
  EXPECT_EQ(DueTimers(*standby->store, PartitionForKey("u1", kPartitions), INT64_MAX)->size(), 1u)
      << "the expiry timer travels with the state";

  // The active dies; the standby takes every partition over.
  nodes_.erase(nodes_.begin());
  AssignmentOutcome outcome = standby->worker->ApplyAssignment(1, {0, 1, 2, 3});
  ASSERT_EQ(outcome.result, AssignmentResult::kApplied) << outcome.message;

  // A re-enter of u1 extends the membership it kept (same start).
  clock_.now_ms = kT0 + kDay;
  Produce("u1", "searches", kT0 + kDay);
  ASSERT_TRUE(RunUntil([&] { return standby->worker->Stats().processed == 1; }));
  EXPECT_EQ(standby->worker->Stats().replayed, 0) << "resumed from the committed offsets";
  out = Outputs(4);
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[1].user_id, "u1");
  EXPECT_EQ(out[1].reason, SegmentReason::kEnter);
  EXPECT_EQ(out[1].start, kT0) << "the membership survived the takeover";
  EXPECT_EQ(out[1].expiration, kT0 + 15 * kDay);

  // And the expiry timer fires on the new owner at the exact time.
  clock_.now_ms = kT0 + 15 * kDay;
  ASSERT_TRUE(RunUntil([&] { return standby->worker->Stats().timers_fired >= 1; }));
  out = Outputs(5);
  ASSERT_EQ(out.size(), 5u);
  EXPECT_EQ(out[2].user_id, "u1");
  EXPECT_EQ(out[2].reason, SegmentReason::kExpired);
  EXPECT_FALSE(out[2].in_segment);
  EXPECT_EQ(out[2].expiration, kT0 + 15 * kDay);
}

}  // namespace
}  // namespace usp
