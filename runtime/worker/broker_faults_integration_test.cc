// Broker faults under load, on a 3-broker embedded cluster: a SignalWorker
// runs its loop while the test produces keyed bursts and injects, in turn,
// Produce errors, Fetch errors, OffsetCommit errors, 500 ms of latency, the
// output leader's broker down, and the source leader's broker down with its
// partitions moved to another broker. After each fault the worker must catch
// up (every source offset committed, lag 0) without exiting; at the end every
// produced event id is on the output topic (duplicates are allowed: storage
// is idempotent; they are counted and reported). Metrics and logs must say
// what happened.
//
// Layout: source partitions led by broker 1, output partitions by broker 2,
// so per-broker error pushes reach exactly the worker's fetches (broker 1) or
// the worker's produces (broker 2). The cluster, the phases and their checks
// are broker_faults_harness.h, shared with the stateful worker's test.
#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "core/signal_record.h"
#include "runtime/worker/broker_faults_harness.h"
#include "runtime/worker/kafka_io.h"
#include "runtime/worker/signal_worker.h"
#include "runtime/worker/worker_test_fakes.h"

namespace usp {
namespace {

using namespace broker_faults;  // NOLINT

constexpr char kSource[] = "bf-src";
constexpr char kOutput[] = "usp.signal.bf";
constexpr int32_t kPartitions = 4;
constexpr int32_t kSourceBroker = 1;
constexpr int32_t kOutputBroker = 2;
constexpr int32_t kSpareBroker = 3;
constexpr int kBurst = 200;  // events produced while each fault is on

class BrokerFaultsIntegrationTest : public BrokerFaultsHarness {
 protected:
  void SetUp() override {
    BrokerFaultsHarness::SetUp();
    if (HasFatalFailure()) return;
    CreateTopic(kSource, kPartitions, kSourceBroker);
    CreateTopic(kOutput, kPartitions, kOutputBroker);
    signal_ = testing::MakeSignal("bf", kSource, {{"attributes", {{"id", "/id"}}}});
  }

  void TearDown() override {
    (void)StopLoop();
    BrokerFaultsHarness::TearDown();
  }

  // `kBurst` keyed events, not waiting for their acks.
  void ProduceBurst() override {
    for (int k = 0; k < kBurst; ++k) {
      int id = next_id_++;
      std::string payload = nlohmann::json{{"user_id", "user-" + std::to_string(id % 7)},
                                           {"event_time", 1'700'000'000'000 + id},
                                           {"id", "e" + std::to_string(id)}}
                                .dump();
      ProduceInput(kSource, id % kPartitions, "", payload);
    }
  }

  // Every source offset committed and the worker's lag 0.
  bool CaughtUp() override {
    if (ends_at_ != next_id_) {  // end offsets move only when the test produces
      ends_ = EndOffsets(kSource, kPartitions);
      ends_at_ = next_id_;
    }
    WorkerSnapshot snap = worker_->Snapshot();
    if (snap.lag != 0 || snap.committed.size() != ends_.size()) return false;
    for (const auto& c : snap.committed) {
      if (c.offset != ends_[c.partition]) return false;
    }
    return true;
  }

  void StartWorker() {
    auto source = KafkaSourceReader::Create({kafka_->bootstrap(), "usp.UserSignal.bf", "worker",
                                             "earliest", {}});
    ASSERT_TRUE(source.ok()) << source.status().ToString();
    ProducerOptions popts;
    popts.bootstrap = kafka_->bootstrap();
    popts.linger_ms = 1;
    auto sink = KafkaRecordSink::Create(popts);
    ASSERT_TRUE(sink.ok()) << sink.status().ToString();
    source_ = std::move(source).value();
    sink_ = std::move(sink).value();
    SignalWorkerOptions options;
    options.commit_interval_ms = 100;
    worker_ = std::make_unique<SignalWorker>(signal_,
                                             std::move(SignalTransform::Create(signal_)).value(),
                                             source_.get(), sink_.get(), &metrics_, SystemClock(),
                                             options);
    ASSERT_TRUE(worker_->Start().ok());
    StartLoop([this] { return worker_->RunOnce(); });
  }

  // Event id -> times it is on the output topic.
  std::map<std::string, int> OutputIds(size_t expected) {
    std::map<std::string, int> ids;
    for (const TopicRecord& r : ReadTopic(kOutput, kPartitions, expected)) {
      auto record = ParseSignalRecord(r.payload);
      EXPECT_TRUE(record.ok()) << r.payload;
      if (!record.ok()) continue;
      ++ids[nlohmann::json::parse(record->attributes_json)["id"].get<std::string>()];
    }
    return ids;
  }

  UserSignal signal_;
  MetricsRegistry registry_;
  WorkerMetrics metrics_{&registry_, "UserSignal", "bf"};
  int next_id_ = 0;
  int ends_at_ = -1;
  std::map<int32_t, int64_t> ends_;

  std::unique_ptr<KafkaSourceReader> source_;
  std::unique_ptr<KafkaRecordSink> sink_;
  std::unique_ptr<SignalWorker> worker_;
};

TEST_F(BrokerFaultsIntegrationTest, NothingIsLostAndTheWorkerRecoversFromEveryFault) {
  StartWorker();
  ProduceBurst();
  FlushInput();
  ASSERT_TRUE(WaitFor([&] { return CaughtUp(); }, kCatchUpMs))
      << "the worker did not process the healthy warm-up";

  // (1) Produce errors on the output leader: retried by the producer.
  ProduceErrorsPhase("produce errors", kOutputBroker);
  // (2) Fetch errors on the source leader: the consumer retries.
  FetchErrorsPhase("fetch errors", kSourceBroker);
  // (3) OffsetCommit errors (any broker: the coordinator): counted, and the
  // lost commits are made again.
  CommitErrorsPhase("offset commit errors", [&] {
    return MetricValue(registry_.Serialize(), "usp_kafka_errors_total", "op=\"commit\"");
  });
  // (4) 500 ms on every response: slower, never stuck.
  LatencyPhase("500 ms broker latency", 500);
  // (5) The output leader's broker down, then back.
  BrokerDownPhase("output leader broker down 2 s", kOutputBroker);
  // (6) The source leader's broker down; its partitions move to another
  // broker while it is down; it comes back as a follower.
  LeaderDownAndMovedPhase("source leader down, leadership moved", kSourceBroker, kSource,
                          kPartitions, kSpareBroker);

  Status loop = StopLoop();
  ASSERT_TRUE(loop.ok()) << "the worker loop failed: " << loop.ToString();
  ASSERT_TRUE(worker_->Finish().ok());

  // Nothing lost: the set of ids on the output topic is the set produced.
  const int produced = next_id_;
  std::map<std::string, int> ids = OutputIds(static_cast<size_t>(produced));
  int missing = 0;
  int duplicates = 0;
  for (int i = 0; i < produced; ++i) {
    auto it = ids.find("e" + std::to_string(i));
    if (it == ids.end()) {
      ++missing;
      ADD_FAILURE() << "event e" << i << " is not on the output topic";
    } else {
      duplicates += it->second - 1;
    }
  }
  EXPECT_EQ(ids.size(), static_cast<size_t>(produced)) << "unexpected ids on the output topic";
  EXPECT_EQ(missing, 0);
  std::printf("[result] produced %d events, %zu distinct on output, %d duplicates\n", produced,
              ids.size(), duplicates);
  RecordProperty("duplicates", duplicates);

  // Metrics and logs say what happened.
  std::string metrics = registry_.Serialize();
  EXPECT_GE(MetricValue(metrics, "usp_kafka_errors_total", "op=\"commit\""), 1) << metrics;
  EXPECT_GE(MetricValue(metrics, "usp_events_written_total", "job=\"bf\""), produced) << metrics;
  std::string logs = Logs();
  EXPECT_NE(logs.find("offset commit failed"), std::string::npos);
  EXPECT_NE(logs.find("Connection refused"), std::string::npos)
      << "no log line names the broker that went down";
}

}  // namespace
}  // namespace usp
