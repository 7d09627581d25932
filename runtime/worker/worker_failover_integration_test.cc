// Failover on the embedded broker: worker A owns every partition, commits
// and dies; standby B gets the partitions with a newer epoch over the control
// protocol and resumes from A's committed offsets: nothing lost, nothing
// replayed; an older epoch is then rejected.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/signal_record.h"
#include "runtime/kafka/embedded_kafka.h"
#include "runtime/kafka/kafka_client.h"
#include "runtime/worker/kafka_io.h"
#include "runtime/worker/signal_worker.h"
#include "runtime/worker/worker_endpoints.h"
#include "runtime/worker/signal_worker.h"
#include "runtime/worker/worker_test_fakes.h"

namespace usp {
namespace {

constexpr char kSource[] = "clicks-src";
constexpr char kOutput[] = "usp.signal.fo";
constexpr int32_t kPartitions = 4;
constexpr int kTimeoutMs = 15000;
constexpr char kGroup[] = "usp.UserSignal.fo";

class WorkerFailoverIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto kafka = EmbeddedKafka::Start();
    ASSERT_TRUE(kafka.ok()) << kafka.status().ToString();
    kafka_ = std::move(kafka).value();
    ASSERT_TRUE(kafka_->CreateTopic(kSource, kPartitions).ok());
    ASSERT_TRUE(kafka_->CreateTopic(kOutput, kPartitions).ok());
    ASSERT_TRUE(kafka_->CreateTopic("usp.dlq.fo", 1).ok());
    signal_ = testing::MakeSignal("fo", kSource, {{"attributes", {{"page", "/page"}}}});
  }

  void Produce(int from, int to) {
    ProducerOptions options;
    options.bootstrap = kafka_->bootstrap();
    int failures = 0;
    auto producer = KafkaProducer::Create(options, [&](const DeliveryReport& r) {
      if (!r.status.ok()) ++failures;
    });
    ASSERT_TRUE(producer.ok());
    for (int i = from; i < to; ++i) {
      std::string payload = nlohmann::json{{"user_id", "user-" + std::to_string(i % 5)},
                                           {"event_time", 1'700'000'000'000 + i},
                                           {"page", "/p/" + std::to_string(i)}}
                                .dump();
      ASSERT_TRUE((*producer)->Produce(kSource, i % kPartitions, "", payload, 0, 0).ok());
    }
    ASSERT_TRUE((*producer)->Flush(kTimeoutMs).ok());
    ASSERT_EQ(failures, 0);
  }

  std::unique_ptr<KafkaConsumer> MakeConsumer(const std::string& group) {
    ConsumerOptions options;
    options.bootstrap = kafka_->bootstrap();
    options.group_id = group;
    auto consumer = KafkaConsumer::Create(options);
    EXPECT_TRUE(consumer.ok());
    return std::move(consumer).value();
  }

  std::map<int32_t, int64_t> EndOffsets() {
    auto consumer = MakeConsumer("probe");
    std::map<int32_t, int64_t> ends;
    for (int32_t p = 0; p < kPartitions; ++p) {
      auto w = consumer->QueryWatermarks(kSource, p, kTimeoutMs);
      EXPECT_TRUE(w.ok());
      ends[p] = w.ok() ? w->high : -1;
    }
    return ends;
  }

  struct Worker {
    std::unique_ptr<KafkaSourceReader> source;
    std::unique_ptr<KafkaRecordSink> sink;
    std::unique_ptr<SignalWorker> worker;
  };

  Worker MakeWorker(const std::string& client, SignalWorkerOptions options) {
    Worker w;
    auto source = KafkaSourceReader::Create({kafka_->bootstrap(), kGroup, client, "earliest", {}});
    EXPECT_TRUE(source.ok()) << source.status().ToString();
    ProducerOptions popts;
    popts.bootstrap = kafka_->bootstrap();
    popts.linger_ms = 1;
    auto sink = KafkaRecordSink::Create(popts);
    EXPECT_TRUE(sink.ok()) << sink.status().ToString();
    w.source = std::move(source).value();
    w.sink = std::move(sink).value();
    w.worker = std::make_unique<SignalWorker>(
        signal_, std::move(SignalTransform::Create(signal_)).value(), w.source.get(), w.sink.get(),
        &metrics_, SystemClock(), options);
    return w;
  }

  static bool CommittedAtEnd(const WorkerSnapshot& snap, std::map<int32_t, int64_t> ends) {
    if (snap.committed.size() != ends.size()) return false;
    for (const auto& c : snap.committed) {
      if (c.offset != ends[c.partition]) return false;
    }
    return true;
  }

  std::multiset<std::string> OutputPages(size_t expected) {
    auto consumer = MakeConsumer("reader");
    std::vector<TopicPartitionOffset> assign;
    for (int32_t p = 0; p < kPartitions; ++p) assign.push_back({kOutput, p, kOffsetBeginning});
    EXPECT_TRUE(consumer->Assign(assign).ok());
    std::multiset<std::string> pages;
    std::vector<ConsumedMessage> batch;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kTimeoutMs);
    auto take = [&] {
      for (const auto& m : batch) {
        auto record = ParseSignalRecord(m.payload);
        EXPECT_TRUE(record.ok());
        if (!record.ok()) continue;
        pages.insert(nlohmann::json::parse(record->attributes_json)["page"].get<std::string>());
      }
    };
    while (pages.size() < expected && std::chrono::steady_clock::now() < deadline) {
      EXPECT_TRUE(consumer->Poll(500, 100, &batch).ok());
      take();
    }
    EXPECT_TRUE(consumer->Poll(500, 300, &batch).ok());  // duplicates would show here
    take();
    return pages;
  }

  std::unique_ptr<EmbeddedKafka> kafka_;
  UserSignal signal_;
  MetricsRegistry registry_;
  WorkerMetrics metrics_{&registry_, "UserSignal", "fo"};
};

TEST_F(WorkerFailoverIntegrationTest, StandbyResumesFromTheDeadOwnersCommitsWithANewerEpoch) {
  Produce(0, 20);

  // A owns all 4 partitions, processes and commits, then dies.
  {
    Worker a = MakeWorker("worker-a", {});
    ASSERT_TRUE(a.worker->Start().ok());
    EXPECT_EQ(a.worker->Snapshot().partitions, (std::vector<int32_t>{0, 1, 2, 3}));
    std::map<int32_t, int64_t> ends = EndOffsets();
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kTimeoutMs);
    Status s = a.worker->Run([&] {
      return CommittedAtEnd(a.worker->Snapshot(), ends) ||
             std::chrono::steady_clock::now() > deadline;
    });
    ASSERT_TRUE(s.ok()) << s.ToString();
    ASSERT_TRUE(CommittedAtEnd(a.worker->Snapshot(), ends)) << "A did not commit in time";
  }

  // B has been a warm standby; events keep arriving while nobody owns them.
  SignalWorkerOptions standby;
  standby.all_partitions = false;
  Worker b = MakeWorker("worker-b", standby);
  ASSERT_TRUE(b.worker->Start().ok());
  WorkerEndpoints endpoints("UserSignal", signal_.metadata.name, &registry_, SystemClock(), kTimeoutMs);
  endpoints.SetWorker(b.worker.get());
  auto status = [&] {
    HttpRequest get{"GET", "/status", {}, {}, ""};
    return nlohmann::json::parse(endpoints.Handle(get).body);
  };
  EXPECT_EQ(status()["role"], "standby");
  EXPECT_EQ(status()["warm"], true);
  Produce(20, 40);

  std::atomic<bool> stop{false};
  Status loop_status;
  std::thread loop([&] {
    while (!stop.load() && loop_status.ok()) loop_status = b.worker->RunOnce();
  });
  HttpRequest put{"PUT", "/assignment", {}, {}, R"({"epoch":1,"partitions":[0,1,2,3]})"};
  HttpResponse r = endpoints.Handle(put);
  EXPECT_EQ(r.status, 200) << r.body;

  std::map<int32_t, int64_t> ends = EndOffsets();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kTimeoutMs);
  while (!CommittedAtEnd(b.worker->Snapshot(), ends) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(CommittedAtEnd(b.worker->Snapshot(), ends)) << "B did not catch up in time";
  nlohmann::json st = status();
  EXPECT_EQ(st["role"], "active");
  EXPECT_EQ(st["epoch"], 1);
  EXPECT_EQ(st["committed"][kSource]["0"], ends[0]);

  HttpRequest stale{"PUT", "/assignment", {}, {}, R"({"epoch":0,"partitions":[0,1,2,3]})"};
  HttpResponse rejected = endpoints.Handle(stale);
  EXPECT_EQ(rejected.status, 409) << rejected.body;
  EXPECT_EQ(nlohmann::json::parse(rejected.body)["error"]["code"], "stale_epoch");

  stop.store(true);
  loop.join();
  ASSERT_TRUE(loop_status.ok()) << loop_status.ToString();
  ASSERT_TRUE(b.worker->Finish().ok());

  // Every event emitted exactly once: none lost, none replayed by B.
  std::multiset<std::string> pages = OutputPages(40);
  EXPECT_EQ(pages.size(), 40u);
  for (int i = 0; i < 40; ++i) EXPECT_EQ(pages.count("/p/" + std::to_string(i)), 1u) << i;
}

}  // namespace
}  // namespace usp
