// The worker loop against fakes: what it sends, what it commits and when.
#include "runtime/worker/signal_worker.h"

#include <gtest/gtest.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "core/murmur2.h"
#include "core/signal_record.h"
#include "runtime/worker/worker_test_fakes.h"

namespace usp {
namespace {

using testing::FakeClock;
using testing::FakeRecordSink;
using testing::FakeSourceReader;
using testing::MakeSignal;

constexpr char kTopic[] = "clicks";

std::string Event(const std::string& user, int64_t time_ms, const std::string& type = "click") {
  return nlohmann::json{{"user_id", user}, {"event_time", time_ms}, {"type", type}}.dump();
}

class SignalWorkerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    source_.partition_counts[kTopic] = 2;
    sink_.partition_counts["usp.signal.clicks"] = 8;
    sink_.partition_counts["usp.dlq.clicks"] = 1;
  }

  std::unique_ptr<SignalWorker> MakeWorker(const nlohmann::json& extra_spec = {},
                                           SignalWorkerOptions options = {}) {
    UserSignal signal =
        MakeSignal("clicks", kTopic, extra_spec.is_null() ? nlohmann::json::object() : extra_spec);
    auto transform = SignalTransform::Create(signal);
    EXPECT_TRUE(transform.ok()) << transform.status().ToString();
    options.commit_interval_ms = 200;
    auto worker = std::make_unique<SignalWorker>(signal, std::move(transform).value(), &source_,
                                                 &sink_, &metrics_, &clock_, options);
    Status s = worker->Start();
    EXPECT_TRUE(s.ok()) << s.ToString();
    return worker;
  }

  // Runs one iteration, then lets the commit interval pass and runs another.
  void RunAndCommit(SignalWorker* worker) {
    ASSERT_TRUE(worker->RunOnce().ok());
    clock_.now_ms += 1000;
    ASSERT_TRUE(worker->RunOnce().ok());
  }

  FakeSourceReader source_;
  FakeRecordSink sink_;
  FakeClock clock_;
  MetricsRegistry registry_;
  WorkerMetrics metrics_{&registry_, "UserSignal", "clicks"};
};

TEST_F(SignalWorkerTest, SendsRecordsKeyedByUserIdOnTheMurmur2Partition) {
  auto worker = MakeWorker();
  source_.Add(kTopic, 0, 0, Event("alice", 1000), 1500);
  source_.Add(kTopic, 1, 0, Event("bob", 2000), 2500);
  ASSERT_TRUE(worker->RunOnce().ok());

  ASSERT_EQ(sink_.sent.size(), 2u);
  for (const auto& r : sink_.sent) {
    EXPECT_EQ(r.topic, "usp.signal.clicks");
    EXPECT_EQ(r.partition, PartitionForKey(r.key, 8));
    auto record = ParseSignalRecord(r.value);
    ASSERT_TRUE(record.ok()) << record.status().ToString();
    EXPECT_EQ(record->user_id, r.key);
    EXPECT_EQ(record->signal, "clicks");
    EXPECT_EQ(record->event_time, r.timestamp_ms);
    EXPECT_EQ(record->version, clock_.now_ms);
  }
  EXPECT_EQ(sink_.sent[0].key, "alice");
  EXPECT_EQ(sink_.sent[0].timestamp_ms, 1000);
  EXPECT_EQ(sink_.sent[1].key, "bob");
  EXPECT_EQ(ParseSignalRecord(sink_.sent[1].value)->event_id, "clicks-1-0");

  std::string metrics = registry_.Serialize();
  EXPECT_NE(metrics.find(R"(usp_events_consumed_total{job="clicks",kind="UserSignal"} 2)"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find(R"(usp_events_written_total{job="clicks",kind="UserSignal"} 2)"),
            std::string::npos);
  EXPECT_NE(metrics.find(R"(usp_assigned_partitions{job="clicks",kind="UserSignal"} 2)"),
            std::string::npos);
  EXPECT_NE(metrics.find(R"(usp_standby_warm{job="clicks",kind="UserSignal"} 1)"),
            std::string::npos);
}

TEST_F(SignalWorkerTest, AssignsEveryPartitionFromTheCommittedOffsetOrTheGroupDefault) {
  source_.committed[{kTopic, 1}] = 42;
  auto worker = MakeWorker();
  ASSERT_EQ(source_.assigned.size(), 2u);
  EXPECT_EQ(source_.assigned[0], (TopicPartitionOffset{kTopic, 0, kOffsetCommitted}));
  EXPECT_EQ(source_.assigned[1], (TopicPartitionOffset{kTopic, 1, 42}));
  EXPECT_TRUE(worker->ready());
}

TEST_F(SignalWorkerTest, OwnsOnlyTheRequestedPartitionsThatExist) {
  SignalWorkerOptions options;
  options.partitions = {1, 5};
  auto worker = MakeWorker({}, options);
  ASSERT_EQ(source_.assigned.size(), 1u);
  EXPECT_EQ(source_.assigned[0].partition, 1);
}

TEST_F(SignalWorkerTest, AStandbyOwnsNothingButIsReady) {
  SignalWorkerOptions options;
  options.all_partitions = false;
  auto worker = MakeWorker({}, options);
  EXPECT_TRUE(source_.assigned.empty());
  EXPECT_TRUE(worker->ready());
  EXPECT_TRUE(worker->RunOnce().ok());
}

TEST_F(SignalWorkerTest, StartFailsWhenTheOutputTopicIsMissing) {
  sink_.partition_counts.erase("usp.signal.clicks");
  UserSignal signal = MakeSignal("clicks", kTopic);
  SignalWorker worker(signal, std::move(SignalTransform::Create(signal)).value(), &source_, &sink_,
                      &metrics_, &clock_, {});
  EXPECT_EQ(worker.Start().code(), Status::Code::kNotFound);
  EXPECT_FALSE(worker.ready());
}

TEST_F(SignalWorkerTest, CommitsOnlyOffsetsWhoseOutputsAreAcknowledged) {
  sink_.auto_ack = false;
  auto worker = MakeWorker();
  for (int i = 0; i < 3; ++i) source_.Add(kTopic, 0, i, Event("u" + std::to_string(i), 1000));
  RunAndCommit(worker.get());
  EXPECT_EQ(source_.CommittedOffset(kTopic, 0), kOffsetInvalid);

  sink_.Report(2);
  sink_.Report(1);
  clock_.now_ms += 1000;
  ASSERT_TRUE(worker->RunOnce().ok());
  EXPECT_EQ(source_.CommittedOffset(kTopic, 0), kOffsetInvalid);  // offset 0 still in flight

  sink_.Report(0);
  clock_.now_ms += 1000;
  ASSERT_TRUE(worker->RunOnce().ok());
  EXPECT_EQ(source_.CommittedOffset(kTopic, 0), 3);
}

TEST_F(SignalWorkerTest, CommitsAtMostOncePerInterval) {
  auto worker = MakeWorker();
  source_.Add(kTopic, 0, 0, Event("a", 1));
  ASSERT_TRUE(worker->RunOnce().ok());
  source_.batches.emplace_back();
  source_.Add(kTopic, 0, 1, Event("a", 1));
  clock_.now_ms += 50;
  ASSERT_TRUE(worker->RunOnce().ok());
  clock_.now_ms += 50;
  ASSERT_TRUE(worker->RunOnce().ok());
  EXPECT_TRUE(source_.commits.empty());
  clock_.now_ms += 200;
  ASSERT_TRUE(worker->RunOnce().ok());
  ASSERT_EQ(source_.commits.size(), 1u);
  EXPECT_EQ(source_.commits[0][0].offset, 2);
  clock_.now_ms += 200;
  ASSERT_TRUE(worker->RunOnce().ok());
  EXPECT_EQ(source_.commits.size(), 1u);  // nothing new to commit
}

TEST_F(SignalWorkerTest, ALostAsyncCommitIsCommittedAgainAndCounted) {
  auto worker = MakeWorker();
  source_.Add(kTopic, 0, 0, Event("a", 1));
  source_.batches.emplace_back();
  source_.Add(kTopic, 1, 0, Event("b", 1));
  RunAndCommit(worker.get());
  ASSERT_EQ(source_.commits.size(), 1u);
  ASSERT_EQ(source_.commits[0].size(), 2u);

  // The broker refused that commit; nothing new arrives (idle partitions).
  source_.commit_error = Status::Unavailable("async offset commit: Request timed out");
  source_.committed.clear();
  clock_.now_ms += 1000;
  ASSERT_TRUE(worker->RunOnce().ok());
  ASSERT_EQ(source_.commits.size(), 2u);
  EXPECT_EQ(source_.CommittedOffset(kTopic, 0), 1);
  EXPECT_EQ(source_.CommittedOffset(kTopic, 1), 1);
  EXPECT_NE(registry_.Serialize().find(
                R"(usp_kafka_errors_total{job="clicks",kind="UserSignal",op="commit"} 1)"),
            std::string::npos)
      << registry_.Serialize();

  clock_.now_ms += 1000;
  ASSERT_TRUE(worker->RunOnce().ok());
  EXPECT_EQ(source_.commits.size(), 2u);  // recommitted once, not on every interval
}

TEST_F(SignalWorkerTest, FilteredEventsAreCommittedWithoutOutput) {
  auto worker = MakeWorker({{"filter", {{"field", "/type"}, {"op", "eq"}, {"value", "click"}}}});
  source_.Add(kTopic, 0, 0, Event("a", 1, "view"));
  source_.Add(kTopic, 0, 1, Event("a", 1, "view"));
  RunAndCommit(worker.get());
  EXPECT_TRUE(sink_.sent.empty());
  EXPECT_EQ(source_.CommittedOffset(kTopic, 0), 2);
}

TEST_F(SignalWorkerTest, DeadLettersCarrySourcePositionErrorAndPayload) {
  sink_.auto_ack = false;
  auto worker = MakeWorker();
  source_.Add(kTopic, 1, 7, "not json {");
  RunAndCommit(worker.get());
  ASSERT_EQ(sink_.sent.size(), 1u);
  const auto& dl = sink_.sent[0];
  EXPECT_EQ(dl.topic, "usp.dlq.clicks");
  EXPECT_EQ(dl.key, "clicks-1-7");
  auto doc = nlohmann::json::parse(dl.value);
  EXPECT_EQ(doc["source_topic"], kTopic);
  EXPECT_EQ(doc["source_partition"], 1);
  EXPECT_EQ(doc["source_offset"], 7);
  EXPECT_EQ(doc["signal"], "clicks");
  EXPECT_EQ(doc["error"]["reason"], "not_json");
  EXPECT_TRUE(doc["error"]["message"].is_string());
  EXPECT_EQ(doc["payload"], "not json {");
  EXPECT_EQ(doc["time"], clock_.now_ms - 1000);
  // A dead letter must be delivered before its offset is committed.
  EXPECT_EQ(source_.CommittedOffset(kTopic, 1), kOffsetInvalid);
  sink_.Report(0);
  clock_.now_ms += 1000;
  ASSERT_TRUE(worker->RunOnce().ok());
  EXPECT_EQ(source_.CommittedOffset(kTopic, 1), 8);
  std::string metrics = registry_.Serialize();
  EXPECT_NE(metrics.find(R"(usp_events_dead_lettered_total{job="clicks",kind="UserSignal"} 1)"),
            std::string::npos);
  EXPECT_NE(metrics.find(
                R"(usp_events_failed_total{job="clicks",kind="UserSignal",reason="not_json"} 1)"),
            std::string::npos)
      << metrics;
}

// An event that is not UTF-8 is data we do not control: it fails with
// not_json, and its dead letter is still valid JSON (strict parsers accept
// it) carrying the payload with U+FFFD for each bad byte.
TEST_F(SignalWorkerTest, AnEventThatIsNotUtf8IsDeadLetteredAsValidJson) {
  auto worker = MakeWorker();
  source_.Add(kTopic, 0, 3, "{\"user_id\":\"u\xff\",\"event_time\":1,\"c\xc3\x28\":2}");
  RunAndCommit(worker.get());
  ASSERT_EQ(sink_.sent.size(), 1u);
  EXPECT_EQ(sink_.sent[0].topic, "usp.dlq.clicks");
  nlohmann::json doc;
  ASSERT_NO_THROW(doc = nlohmann::json::parse(sink_.sent[0].value)) << sink_.sent[0].value;
  EXPECT_EQ(doc["error"]["reason"], "not_json");
  EXPECT_EQ(doc["payload"],
            "{\"user_id\":\"u\xEF\xBF\xBD\",\"event_time\":1,\"c\xEF\xBF\xBD(\":2}");
  EXPECT_NO_THROW(doc.dump());
  EXPECT_EQ(source_.CommittedOffset(kTopic, 0), 4);
}

// Hostile input (e2e/hostile_input_e2e.py found it): a record the producer
// would refuse used to stop the worker, and its restart met the same record.
TEST_F(SignalWorkerTest, AnOversizedDeadLetterCarriesAPrefixOfThePayload) {
  sink_.max_bytes = 1000;
  SignalWorkerOptions options;
  options.max_record_bytes = 1000;
  options.dead_letter_payload_prefix = 100;
  auto worker = MakeWorker({}, options);
  std::string big = R"({"event_time": 5, "blob": ")" + std::string(5000, 'b') + "\"}";
  source_.Add(kTopic, 0, 0, big);
  source_.Add(kTopic, 0, 1, Event("a", 1));
  RunAndCommit(worker.get());
  ASSERT_EQ(sink_.sent.size(), 2u);
  EXPECT_EQ(sink_.sent[0].topic, "usp.dlq.clicks");
  EXPECT_LE(sink_.sent[0].key.size() + sink_.sent[0].value.size(), 1000u);
  auto doc = nlohmann::json::parse(sink_.sent[0].value);
  EXPECT_EQ(doc["error"]["reason"], "missing_user_id");
  EXPECT_EQ(doc["payload"], big.substr(0, 100));
  EXPECT_EQ(doc["payload_truncated"], true);
  EXPECT_EQ(doc["payload_bytes"], big.size());
  EXPECT_EQ(sink_.sent[1].key, "a");
  EXPECT_EQ(source_.CommittedOffset(kTopic, 0), 2);
}

TEST_F(SignalWorkerTest, ADeadLetterThatFitsKeepsTheWholePayload) {
  SignalWorkerOptions options;
  options.max_record_bytes = 1000;
  auto worker = MakeWorker({}, options);
  std::string payload = R"({"event_time": 5, "blob": ")" + std::string(200, 'b') + "\"}";
  source_.Add(kTopic, 0, 0, payload);
  RunAndCommit(worker.get());
  ASSERT_EQ(sink_.sent.size(), 1u);
  auto doc = nlohmann::json::parse(sink_.sent[0].value);
  EXPECT_EQ(doc["payload"], payload);
  EXPECT_FALSE(doc.contains("payload_truncated"));
}

TEST_F(SignalWorkerTest, ASignalRecordOverTheLimitIsDeadLetteredNotSent) {
  sink_.max_bytes = 1000;
  SignalWorkerOptions options;
  options.max_record_bytes = 1000;
  options.dead_letter_payload_prefix = 100;
  auto worker = MakeWorker({}, options);
  source_.Add(kTopic, 0, 0, Event("a", 1, std::string(2000, 't')));
  source_.Add(kTopic, 0, 1, Event("b", 2));
  RunAndCommit(worker.get());
  ASSERT_EQ(sink_.sent.size(), 2u);
  EXPECT_EQ(sink_.sent[0].topic, "usp.dlq.clicks");
  auto doc = nlohmann::json::parse(sink_.sent[0].value);
  EXPECT_EQ(doc["error"]["reason"], "output_too_large");
  EXPECT_EQ(doc["payload_truncated"], true);
  EXPECT_EQ(sink_.sent[1].topic, "usp.signal.clicks");
  EXPECT_EQ(source_.CommittedOffset(kTopic, 0), 2);
  std::string metrics = registry_.Serialize();
  EXPECT_NE(metrics.find(R"(reason="output_too_large"} 1)"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find(R"(usp_events_dead_lettered_total{job="clicks",kind="UserSignal"} 1)"),
            std::string::npos);
  EXPECT_NE(metrics.find(R"(usp_events_written_total{job="clicks",kind="UserSignal"} 1)"),
            std::string::npos);
}

TEST_F(SignalWorkerTest, SkipPolicyCountsTheErrorAndMovesOn) {
  auto worker = MakeWorker({{"onError", "skip"}});
  source_.Add(kTopic, 0, 0, R"({"event_time": 5})");
  source_.Add(kTopic, 0, 1, Event("a", 1));
  RunAndCommit(worker.get());
  ASSERT_EQ(sink_.sent.size(), 1u);
  EXPECT_EQ(sink_.sent[0].key, "a");
  EXPECT_EQ(source_.CommittedOffset(kTopic, 0), 2);
  EXPECT_NE(registry_.Serialize().find(R"(reason="missing_user_id"} 1)"), std::string::npos);
}

TEST_F(SignalWorkerTest, FailPolicyStopsWithoutCommittingTheBadOffset) {
  auto worker = MakeWorker({{"onError", "fail"}});
  source_.Add(kTopic, 0, 0, Event("a", 1));
  source_.Add(kTopic, 0, 1, "garbage");
  source_.Add(kTopic, 0, 2, Event("b", 1));
  Status s = worker->RunOnce();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("clicks[0]@1"), std::string::npos) << s.ToString();
  EXPECT_EQ(sink_.sent.size(), 1u);  // nothing after the bad event
  Status finished = worker->Finish();
  EXPECT_TRUE(finished.ok()) << finished.ToString();
  EXPECT_EQ(source_.CommittedOffset(kTopic, 0), 1);
}

TEST_F(SignalWorkerTest, ADeliveryFailureIsFatalAndNeverCommittedPast) {
  sink_.auto_ack = false;
  auto worker = MakeWorker();
  for (int i = 0; i < 3; ++i) source_.Add(kTopic, 0, i, Event("u", 1));
  ASSERT_TRUE(worker->RunOnce().ok());
  sink_.Report(0);
  sink_.Report(1, Status::Unavailable("message timed out"));
  sink_.Report(2);
  clock_.now_ms += 1000;
  Status s = worker->RunOnce();
  EXPECT_EQ(s.code(), Status::Code::kUnavailable);
  EXPECT_FALSE(worker->Finish().ok());
  EXPECT_EQ(source_.CommittedOffset(kTopic, 0), 1);
}

TEST_F(SignalWorkerTest, AFullProducerQueueIsRetriedAfterServingAcks) {
  auto worker = MakeWorker();
  sink_.queue_full_times = 3;
  source_.Add(kTopic, 0, 0, Event("a", 1));
  ASSERT_TRUE(worker->RunOnce().ok());
  EXPECT_EQ(sink_.sent.size(), 1u);
  EXPECT_GE(sink_.polls, 3);
}

TEST_F(SignalWorkerTest, RedeliveredOffsetsAreNotProcessedTwice) {
  auto worker = MakeWorker();
  source_.Add(kTopic, 0, 0, Event("a", 1));
  source_.Add(kTopic, 0, 1, Event("a", 1));
  source_.Add(kTopic, 0, 1, Event("a", 1));
  ASSERT_TRUE(worker->RunOnce().ok());
  EXPECT_EQ(sink_.sent.size(), 2u);
}

TEST_F(SignalWorkerTest, RunFlushesAndCommitsWhenStopped) {
  sink_.auto_ack = false;
  auto worker = MakeWorker();
  source_.Add(kTopic, 0, 0, Event("a", 1));
  source_.Add(kTopic, 1, 3, Event("b", 1));
  int iterations = 0;
  sink_.auto_ack = false;
  Status s = worker->Run([&] {
    if (iterations == 1) sink_.auto_ack = true;  // Flush() acknowledges
    return iterations++ == 1;
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_FALSE(worker->ready());
  EXPECT_EQ(source_.CommittedOffset(kTopic, 0), 1);
  EXPECT_EQ(source_.CommittedOffset(kTopic, 1), 4);
}

TEST_F(SignalWorkerTest, ASourceErrorStopsTheLoop) {
  auto worker = MakeWorker();
  source_.poll_error = Status::Internal("fatal");
  EXPECT_EQ(worker->RunOnce().code(), Status::Code::kInternal);
}

TEST_F(SignalWorkerTest, HeartbeatIsTheTimeOfTheLatestIteration) {
  auto worker = MakeWorker();
  EXPECT_EQ(worker->last_heartbeat_ms(), 0);
  ASSERT_TRUE(worker->RunOnce().ok());
  EXPECT_EQ(worker->last_heartbeat_ms(), clock_.now_ms);
}

}  // namespace
}  // namespace usp
