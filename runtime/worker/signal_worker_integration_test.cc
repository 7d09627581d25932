// The worker end to end on the embedded broker: real consumer, producer,
// commits; a second worker resumes from the first one's committed offsets.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "core/murmur2.h"
#include "core/signal_record.h"
#include "runtime/kafka/embedded_kafka.h"
#include "runtime/kafka/kafka_client.h"
#include "runtime/worker/kafka_io.h"
#include "runtime/worker/signal_worker.h"
#include "runtime/worker/worker_test_fakes.h"

namespace usp {
namespace {

constexpr char kSource[] = "page-views";
constexpr char kOutput[] = "usp.signal.views";
constexpr char kDeadLetters[] = "usp.dlq.views";
constexpr int32_t kSourcePartitions = 3;
constexpr int32_t kOutputPartitions = 4;
constexpr int kTimeoutMs = 15000;

struct Output {
  int32_t partition;
  std::string key;
  std::string value;
  int64_t timestamp_ms;
};

class SignalWorkerIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto kafka = EmbeddedKafka::Start();
    ASSERT_TRUE(kafka.ok()) << kafka.status().ToString();
    kafka_ = std::move(kafka).value();
    ASSERT_TRUE(kafka_->CreateTopic(kSource, kSourcePartitions).ok());
    ASSERT_TRUE(kafka_->CreateTopic(kOutput, kOutputPartitions).ok());
    ASSERT_TRUE(kafka_->CreateTopic(kDeadLetters, 1).ok());
    signal_ = testing::MakeSignal("views", kSource, {{"attributes", {{"page", "/page"}}}});
  }

  // Produces `payloads[i]` to partition i % kSourcePartitions.
  void ProduceSource(const std::vector<std::string>& payloads) {
    ProducerOptions options;
    options.bootstrap = kafka_->bootstrap();
    int failures = 0;
    auto producer = KafkaProducer::Create(options, [&](const DeliveryReport& r) {
      if (!r.status.ok()) ++failures;
    });
    ASSERT_TRUE(producer.ok());
    for (size_t i = 0; i < payloads.size(); ++i) {
      ASSERT_TRUE(
          (*producer)
              ->Produce(kSource, static_cast<int32_t>(i % kSourcePartitions), "", payloads[i], 0, i)
              .ok());
    }
    ASSERT_TRUE((*producer)->Flush(kTimeoutMs).ok());
    ASSERT_EQ(failures, 0);
  }

  std::map<int32_t, int64_t> EndOffsets(KafkaConsumer* consumer, const std::string& topic,
                                        int32_t partitions) {
    std::map<int32_t, int64_t> ends;
    for (int32_t p = 0; p < partitions; ++p) {
      auto w = consumer->QueryWatermarks(topic, p, kTimeoutMs);
      EXPECT_TRUE(w.ok()) << w.status().ToString();
      ends[p] = w.ok() ? w->high : -1;
    }
    return ends;
  }

  std::unique_ptr<KafkaConsumer> MakeConsumer(const std::string& group) {
    ConsumerOptions options;
    options.bootstrap = kafka_->bootstrap();
    options.group_id = group;
    auto consumer = KafkaConsumer::Create(options);
    EXPECT_TRUE(consumer.ok());
    return std::move(consumer).value();
  }

  // Runs a worker in-process until its committable offsets reach the source
  // end offsets, then shuts it down as on SIGTERM (flush, commit).
  void RunWorkerUntilCaughtUp() {
    auto source = KafkaSourceReader::Create(
        {kafka_->bootstrap(), "usp.UserSignal.views", "test-worker", "earliest", {}});
    ASSERT_TRUE(source.ok()) << source.status().ToString();
    ProducerOptions popts;
    popts.bootstrap = kafka_->bootstrap();
    popts.linger_ms = 1;
    auto sink = KafkaRecordSink::Create(popts);
    ASSERT_TRUE(sink.ok()) << sink.status().ToString();
    auto transform = SignalTransform::Create(signal_);
    ASSERT_TRUE(transform.ok());
    SignalWorker worker(signal_, std::move(transform).value(), source->get(), sink->get(),
                        &metrics_, SystemClock(), {});
    ASSERT_TRUE(worker.Start().ok());

    auto probe = MakeConsumer("probe");
    std::map<int32_t, int64_t> ends = EndOffsets(probe.get(), kSource, kSourcePartitions);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kTimeoutMs);
    auto caught_up = [&] {
      auto offsets = worker.CommittableOffsets();
      if (offsets.size() != ends.size()) return false;
      for (const auto& o : offsets) {
        if (o.offset != ends[o.partition]) return false;
      }
      return true;
    };
    Status s =
        worker.Run([&] { return caught_up() || std::chrono::steady_clock::now() > deadline; });
    ASSERT_TRUE(s.ok()) << s.ToString();
    ASSERT_TRUE(caught_up()) << "worker did not catch up in time";
  }

  std::vector<Output> ReadAll(const std::string& topic, int32_t partitions, size_t expected) {
    auto consumer = MakeConsumer("reader");
    std::vector<TopicPartitionOffset> assign;
    for (int32_t p = 0; p < partitions; ++p) assign.push_back({topic, p, kOffsetBeginning});
    EXPECT_TRUE(consumer->Assign(assign).ok());
    std::vector<Output> out;
    std::vector<ConsumedMessage> batch;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kTimeoutMs);
    while (out.size() < expected && std::chrono::steady_clock::now() < deadline) {
      EXPECT_TRUE(consumer->Poll(500, 100, &batch).ok());
      for (const auto& m : batch) {
        out.push_back({m.partition, std::string(m.key), std::string(m.payload), m.timestamp_ms});
      }
    }
    // Anything beyond `expected` would be a duplicate: give it a moment.
    EXPECT_TRUE(consumer->Poll(500, 300, &batch).ok());
    for (const auto& m : batch) {
      out.push_back({m.partition, std::string(m.key), std::string(m.payload), m.timestamp_ms});
    }
    return out;
  }

  void ExpectCommittedAtEnd() {
    auto consumer = MakeConsumer("usp.UserSignal.views");
    std::map<int32_t, int64_t> ends = EndOffsets(consumer.get(), kSource, kSourcePartitions);
    std::vector<TopicPartition> parts;
    for (int32_t p = 0; p < kSourcePartitions; ++p) parts.push_back({kSource, p});
    auto committed = consumer->Committed(parts, kTimeoutMs);
    ASSERT_TRUE(committed.ok()) << committed.status().ToString();
    for (const auto& c : *committed) {
      EXPECT_EQ(c.offset, ends[c.partition]) << "partition " << c.partition;
    }
  }

  static std::string View(int i) {
    return nlohmann::json{{"user_id", "user-" + std::to_string(i % 7)},
                          {"event_time", 1'700'000'000'000 + i},
                          {"page", "/p/" + std::to_string(i)}}
        .dump();
  }

  std::unique_ptr<EmbeddedKafka> kafka_;
  UserSignal signal_;
  MetricsRegistry registry_;
  WorkerMetrics metrics_{&registry_, "UserSignal", "views"};
};

TEST_F(SignalWorkerIntegrationTest, WritesRecordsDeadLettersAndCommitsEndOffsets) {
  std::vector<std::string> payloads;
  for (int i = 0; i < 30; ++i) payloads.push_back(View(i));
  payloads[4] = "{broken";
  payloads[11] = R"({"event_time": 1})";  // no user id
  ProduceSource(payloads);

  RunWorkerUntilCaughtUp();

  std::vector<Output> out = ReadAll(kOutput, kOutputPartitions, 28);
  ASSERT_EQ(out.size(), 28u);
  std::set<std::string> pages;
  for (const Output& o : out) {
    EXPECT_EQ(o.partition, PartitionForKey(o.key, kOutputPartitions)) << o.key;
    auto record = ParseSignalRecord(o.value);
    ASSERT_TRUE(record.ok()) << o.value;
    EXPECT_EQ(record->user_id, o.key);
    EXPECT_EQ(record->signal, "views");
    EXPECT_EQ(record->event_time, o.timestamp_ms);
    pages.insert(nlohmann::json::parse(record->attributes_json)["page"].get<std::string>());
  }
  EXPECT_EQ(pages.size(), 28u);

  std::vector<Output> dead = ReadAll(kDeadLetters, 1, 2);
  ASSERT_EQ(dead.size(), 2u);
  std::map<std::string, nlohmann::json> by_reason;
  for (const Output& d : dead) {
    auto doc = nlohmann::json::parse(d.value);
    by_reason[doc["error"]["reason"]] = doc;
  }
  ASSERT_TRUE(by_reason.count("not_json"));
  ASSERT_TRUE(by_reason.count("missing_user_id"));
  // Payload 4 went to partition 1 at offset 1; payload 11 to partition 2 at offset 3.
  EXPECT_EQ(by_reason["not_json"]["source_topic"], kSource);
  EXPECT_EQ(by_reason["not_json"]["source_partition"], 1);
  EXPECT_EQ(by_reason["not_json"]["source_offset"], 1);
  EXPECT_EQ(by_reason["not_json"]["payload"], "{broken");
  EXPECT_EQ(by_reason["missing_user_id"]["source_partition"], 2);
  EXPECT_EQ(by_reason["missing_user_id"]["source_offset"], 3);

  ExpectCommittedAtEnd();
}

TEST_F(SignalWorkerIntegrationTest, ARestartedWorkerResumesFromCommittedOffsetsWithoutLoss) {
  std::vector<std::string> first;
  for (int i = 0; i < 12; ++i) first.push_back(View(i));
  ProduceSource(first);
  RunWorkerUntilCaughtUp();
  ExpectCommittedAtEnd();

  std::vector<std::string> second;
  for (int i = 12; i < 24; ++i) second.push_back(View(i));
  ProduceSource(second);
  RunWorkerUntilCaughtUp();
  ExpectCommittedAtEnd();

  std::vector<Output> out = ReadAll(kOutput, kOutputPartitions, 24);
  std::multiset<std::string> pages;
  for (const Output& o : out) {
    auto record = ParseSignalRecord(o.value);
    ASSERT_TRUE(record.ok());
    pages.insert(nlohmann::json::parse(record->attributes_json)["page"].get<std::string>());
  }
  // Everything once: nothing lost, and the restart replayed nothing.
  EXPECT_EQ(out.size(), 24u);
  for (int i = 0; i < 24; ++i) EXPECT_EQ(pages.count("/p/" + std::to_string(i)), 1u) << i;
}

}  // namespace
}  // namespace usp
