// left_join on the embedded broker: a StatefulWorker running the
// LeftJoinProcessor (real consumer, producer, RocksDB state, changelog), and
// the repartitioned variant with two Repartitioners in front.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/murmur2.h"
#include "core/signal_record.h"
#include "runtime/join/left_join_processor.h"
#include "runtime/join/repartitioner.h"
#include "runtime/kafka/embedded_kafka.h"
#include "runtime/kafka/kafka_client.h"
#include "runtime/state/changelog_reader.h"
#include "runtime/worker/kafka_io.h"

namespace usp {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr char kLeft[] = "search-events";
constexpr char kRight[] = "booking-events";
constexpr char kOutput[] = "usp.signal.booked-searches";
constexpr char kDlq[] = "usp.dlq.booked-searches";
constexpr int32_t kPartitions = 4;
constexpr int kTimeoutMs = 20000;
constexpr int64_t kHour = 3600 * 1000;

UserSignal MakeJoinSignal(const std::string& left_key, const std::string& right_key) {
  json doc = {{"apiVersion", "usp.dev/v1alpha1"},
              {"kind", "UserSignal"},
              {"metadata", {{"name", "booked-searches"}}},
              {"spec",
               {{"type", "left_join"},
                {"leftEventSource", {{"kafkaTopic", kLeft}, {"joinKeyField", left_key}}},
                {"rightEventSource", {{"kafkaTopic", kRight}, {"joinKeyField", right_key}}},
                {"joinWindow", "1h"},
                {"userIdField", "/left/user_id"},
                {"eventTimeField", "/left/event_time"},
                {"eventIdField", "/left/search_id"},
                {"attributes", {{"query", "/left/query"}, {"booking", "/right/booking_id"}}}}}};
  FieldErrors errors;
  auto signal = ParseUserSignal(doc, &errors);
  EXPECT_TRUE(signal.has_value()) << (errors.empty() ? "" : errors[0].ToString());
  return signal.value_or(UserSignal{});
}

struct Output {
  int32_t partition;
  std::string key;
  SignalRecord record;
};

class LeftJoinIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "usp-join-it-XXXXXX").string();
    dir_ = mkdtemp(tmpl.data());
    auto kafka = EmbeddedKafka::Start();
    ASSERT_TRUE(kafka.ok()) << kafka.status().ToString();
    kafka_ = std::move(kafka).value();
    for (const char* t : {kLeft, kRight, kOutput}) {
      ASSERT_TRUE(kafka_->CreateTopic(t, kPartitions).ok());
    }
    ASSERT_TRUE(kafka_->CreateTopic(kDlq, 1).ok());
    ASSERT_TRUE(
        kafka_->CreateTopic(ChangelogTopic("UserSignal", "booked-searches"), kPartitions).ok());
    ProducerOptions po;
    po.bootstrap = kafka_->bootstrap();
    po.linger_ms = 1;
    auto producer = KafkaProducer::Create(po, [this](const DeliveryReport& r) {
      if (!r.status.ok()) ++failures_;
    });
    ASSERT_TRUE(producer.ok());
    producer_ = std::move(producer).value();
    auto reader = MakeConsumer("reader");
    std::vector<TopicPartitionOffset> assign;
    for (int32_t p = 0; p < kPartitions; ++p) assign.push_back({kOutput, p, kOffsetBeginning});
    ASSERT_TRUE(reader->Assign(assign).ok());
    reader_ = std::move(reader);
  }
  void TearDown() override {
    worker_.reset();
    store_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::unique_ptr<KafkaConsumer> MakeConsumer(const std::string& group) {
    ConsumerOptions options;
    options.bootstrap = kafka_->bootstrap();
    options.group_id = group;
    auto consumer = KafkaConsumer::Create(options);
    EXPECT_TRUE(consumer.ok());
    return std::move(consumer).value();
  }
  std::unique_ptr<SourceReader> MakeSource(const std::string& group) {
    ConsumerOptions options;
    options.bootstrap = kafka_->bootstrap();
    options.group_id = group;
    auto source = KafkaSourceReader::Create(options);
    EXPECT_TRUE(source.ok()) << source.status().ToString();
    return std::move(source).value();
  }
  std::unique_ptr<RecordSink> MakeSink() {
    ProducerOptions options;
    options.bootstrap = kafka_->bootstrap();
    options.linger_ms = 1;
    auto sink = KafkaRecordSink::Create(options);
    EXPECT_TRUE(sink.ok()) << sink.status().ToString();
    return std::move(sink).value();
  }

  void StartWorker(const UserSignal& signal) {
    auto job = MakeLeftJoinJob(signal, SystemClock());
    ASSERT_TRUE(job.ok()) << job.status().ToString();
    job_ = std::move(job).value();
    auto store = StateStore::Open((dir_ / "db").string());
    ASSERT_TRUE(store.ok());
    store_ = std::move(store).value();
    source_ = MakeSource("usp.UserSignal.booked-searches");
    sink_ = MakeSink();
    StatefulWorkerOptions o;
    o.partitions = {0, 1, 2, 3};
    o.poll_timeout_ms = 20;
    worker_ = std::make_unique<StatefulWorker>(job_.job, job_.processor.get(), source_.get(),
                                               sink_.get(), store_.get(), nullptr, SystemClock(),
                                               o);
    Status s = worker_->Start();
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  void Produce(const std::string& topic, int32_t partition, const json& event) {
    ASSERT_TRUE(producer_->Produce(topic, partition, "", event.dump(), 0, 0).ok());
    ASSERT_TRUE(producer_->Flush(kTimeoutMs).ok());
    ASSERT_EQ(failures_, 0);
  }

  // Runs `steps` (the worker and any repartitioners) until `done`.
  void RunUntil(const std::function<bool()>& done,
                const std::vector<std::function<Status()>>& steps) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kTimeoutMs);
    while (!done()) {
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "timed out";
      for (const auto& step : steps) {
        Status s = step();
        ASSERT_TRUE(s.ok()) << s.ToString();
      }
    }
  }
  void RunWorkerUntil(const std::function<bool()>& done) {
    RunUntil(done, {[this] { return worker_->RunOnce(); }});
  }

  // Reads the output topic until `n` records have been seen in all.
  void ReadOutputs(size_t n, const std::vector<std::function<Status()>>& steps) {
    std::vector<ConsumedMessage> batch;
    RunUntil(
        [&] {
          EXPECT_TRUE(reader_->Poll(100, 10, &batch).ok());
          for (const auto& m : batch) {
            auto r = ParseSignalRecord(m.payload);
            EXPECT_TRUE(r.ok()) << m.payload;
            if (r.ok()) outputs_.push_back({m.partition, std::string(m.key), *r});
          }
          return outputs_.size() >= n;
        },
        steps);
  }
  std::vector<SignalRecord> RowsOf(const std::string& event_id) {
    std::vector<SignalRecord> rows;
    for (const auto& o : outputs_) {
      if (o.record.event_id == event_id) rows.push_back(o.record);
    }
    return rows;
  }
  static json Attrs(const SignalRecord& r) { return json::parse(r.attributes_json); }
  static json Search(const std::string& id, const std::string& user, int64_t t) {
    return {{"search_id", id}, {"user_id", user}, {"event_time", t}, {"query", "q-" + id}};
  }
  static json Booking(const std::string& search, const std::string& user, int64_t t,
                      const std::string& booking) {
    return {{"search_id", search}, {"user_id", user}, {"event_time", t}, {"booking_id", booking}};
  }

  fs::path dir_;
  std::unique_ptr<EmbeddedKafka> kafka_;
  std::unique_ptr<KafkaProducer> producer_;
  std::unique_ptr<KafkaConsumer> reader_;
  int failures_ = 0;
  LeftJoinJob job_;
  std::unique_ptr<StateStore> store_;
  std::unique_ptr<SourceReader> source_;
  std::unique_ptr<RecordSink> sink_;
  std::unique_ptr<StatefulWorker> worker_;
  std::vector<Output> outputs_;
};

TEST_F(LeftJoinIntegrationTest, JoinsOnTheUserIdAndALaterRightIsANewerVersion) {
  StartWorker(MakeJoinSignal("/user_id", "/user_id"));
  const auto worker = [this] { return worker_->RunOnce(); };
  const int64_t t = SystemClock()->NowMs();
  auto p = [](const std::string& user) { return PartitionForKey(user, kPartitions); };

  // u4: right before left.
  // (The worker reads two topics in no fixed order: let it take the right first.)
  Produce(kRight, p("u4"), Booking("s4", "u4", t - 1000, "b4"));
  RunWorkerUntil([this] { return worker_->Stats().processed >= 1; });
  Produce(kLeft, p("u1"), Search("s1", "u1", t));
  Produce(kLeft, p("u2"), Search("s2", "u2", t));
  Produce(kLeft, p("u4"), Search("s4", "u4", t));
  ReadOutputs(3, {worker});
  // u1: a later right within the window; u2: one beyond it.
  Produce(kRight, p("u1"), Booking("s1", "u1", t + 60'000, "b1"));
  Produce(kRight, p("u2"), Booking("s2", "u2", t + 2 * kHour, "b2"));
  ReadOutputs(4, {worker});
  RunWorkerUntil([this] { return worker_->Stats().processed >= 6; });
  ASSERT_TRUE(worker_->Finish().ok());
  std::vector<ConsumedMessage> batch;
  ASSERT_TRUE(reader_->Poll(100, 300, &batch).ok());
  EXPECT_TRUE(batch.empty()) << "more outputs than expected";

  ASSERT_EQ(outputs_.size(), 4u);  // nothing for the right beyond the window
  for (const auto& o : outputs_) {
    EXPECT_EQ(o.key, o.record.user_id);
    EXPECT_EQ(o.partition, PartitionForKey(o.key, kPartitions));
    EXPECT_EQ(o.record.signal, "booked-searches");
    EXPECT_EQ(o.record.event_time, t);
  }
  auto s1 = RowsOf("s1");
  ASSERT_EQ(s1.size(), 2u);
  EXPECT_EQ(Attrs(s1[0])["booking"], nullptr);
  EXPECT_EQ(Attrs(s1[1])["booking"], "b1");
  EXPECT_GT(s1[1].version, s1[0].version);
  auto s2 = RowsOf("s2");
  ASSERT_EQ(s2.size(), 1u);
  EXPECT_EQ(Attrs(s2[0])["booking"], nullptr);
  auto s4 = RowsOf("s4");
  ASSERT_EQ(s4.size(), 1u);
  EXPECT_EQ(Attrs(s4[0])["booking"], "b4");
  EXPECT_EQ(Attrs(s4[0])["query"], "q-s4");
}

TEST_F(LeftJoinIntegrationTest, RepartitionsWhenTheJoinKeyIsNotTheUserId) {
  const UserSignal signal = MakeJoinSignal("/search_id", "/search_id");
  for (JoinSide side : {JoinSide::kLeft, JoinSide::kRight}) {
    ASSERT_TRUE(kafka_->CreateTopic(RepartitionTopic("booked-searches", side), kPartitions).ok());
  }
  StartWorker(signal);
  ASSERT_EQ(job_.repartition.size(), 2u);
  std::vector<std::unique_ptr<SourceReader>> sources;
  std::vector<std::unique_ptr<RecordSink>> sinks;
  std::vector<std::unique_ptr<Repartitioner>> steps;
  for (const RepartitionStep& step : job_.repartition) {
    sources.push_back(MakeSource("usp.repartition.booked-searches"));
    sinks.push_back(MakeSink());
    RepartitionerOptions o;
    o.partitions = {0, 1, 2, 3};
    o.poll_timeout_ms = 10;
    steps.push_back(std::make_unique<Repartitioner>(step, sources.back().get(),
                                                    sinks.back().get(), SystemClock(), o));
    Status s = steps.back()->Start();
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  std::vector<std::function<Status()>> all = {
      [&] { return steps[0]->RunOnce(); },
      [&] { return steps[1]->RunOnce(); },
      [this] { return worker_->RunOnce(); },
  };

  const int64_t t = SystemClock()->NowMs();
  // The sources are keyed by user: a search and its booking land in
  // partitions unrelated to the search id.
  Produce(kLeft, 0, Search("sa", "ua", t));
  Produce(kLeft, 3, Search("sb", "ub", t));
  ReadOutputs(2, all);
  Produce(kRight, 1, Booking("sa", "someone", t + 1000, "ba"));
  Produce(kRight, 2, Booking("sb", "someone", t + 1000, "bb"));
  ReadOutputs(4, all);
  for (auto& step : steps) ASSERT_TRUE(step->Finish().ok());
  ASSERT_TRUE(worker_->Finish().ok());

  for (std::string id : {"sa", "sb"}) {
    auto rows = RowsOf(id);
    ASSERT_EQ(rows.size(), 2u) << id;
    EXPECT_EQ(Attrs(rows[0])["booking"], nullptr);
    EXPECT_EQ(Attrs(rows[1])["booking"], "b" + id.substr(1));
    EXPECT_GT(rows[1].version, rows[0].version);
    EXPECT_EQ(rows[0].user_id, rows[1].user_id);
  }
  EXPECT_EQ(RowsOf("sa")[0].user_id, "ua");
  EXPECT_EQ(steps[0]->forwarded(), 2);
  EXPECT_EQ(steps[1]->forwarded(), 2);
}

}  // namespace
}  // namespace usp
