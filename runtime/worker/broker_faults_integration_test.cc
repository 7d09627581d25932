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
// the worker's produces (broker 2).
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
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
#include "runtime/worker/worker_test_fakes.h"

namespace usp {
namespace {

constexpr char kSource[] = "bf-src";
constexpr char kOutput[] = "usp.signal.bf";
constexpr int32_t kPartitions = 4;
constexpr int32_t kSourceBroker = 1;
constexpr int32_t kOutputBroker = 2;
constexpr int32_t kSpareBroker = 3;
constexpr int kBurst = 200;           // events produced while each fault is on
constexpr int kCatchUpMs = 25000;     // per phase; a healthy run needs ~1-5 s
constexpr int kFaultHoldMs = 2000;    // how long a broker stays down

using Clock = std::chrono::steady_clock;

bool WaitFor(const std::function<bool()>& done, int timeout_ms) {
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!done()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

// The value of the first series of `name` whose labels contain `label`
// in Prometheus text, 0 when absent.
double MetricValue(const std::string& text, const std::string& name, const std::string& label) {
  size_t at = 0;
  while ((at = text.find(name + "{", at)) != std::string::npos) {
    size_t close = text.find('}', at);
    size_t eol = text.find('\n', at);
    if (close != std::string::npos && text.substr(at, close - at).find(label) != std::string::npos) {
      return std::stod(text.substr(close + 2, eol - close - 2));
    }
    at = eol;
  }
  return 0;
}

class BrokerFaultsIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    logs_ = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(20000);
    spdlog::default_logger()->sinks().push_back(logs_);

    auto kafka = EmbeddedKafka::Start(3);
    ASSERT_TRUE(kafka.ok()) << kafka.status().ToString();
    kafka_ = std::move(kafka).value();
    ASSERT_TRUE(kafka_->CreateTopic(kSource, kPartitions).ok());
    ASSERT_TRUE(kafka_->CreateTopic(kOutput, kPartitions).ok());
    for (int32_t p = 0; p < kPartitions; ++p) {
      ASSERT_TRUE(kafka_->SetPartitionLeader(kSource, p, kSourceBroker).ok());
      ASSERT_TRUE(kafka_->SetPartitionLeader(kOutput, p, kOutputBroker).ok());
    }
    signal_ = testing::MakeSignal("bf", kSource, {{"attributes", {{"id", "/id"}}}});

    ProducerOptions popts;
    popts.bootstrap = kafka_->bootstrap();
    popts.linger_ms = 1;
    auto producer = KafkaProducer::Create(popts, [this](const DeliveryReport& r) {
      if (!r.status.ok()) ++input_failures_;
    });
    ASSERT_TRUE(producer.ok());
    producer_ = std::move(producer).value();
  }

  void TearDown() override {
    StopLoop();
    auto& sinks = spdlog::default_logger()->sinks();
    sinks.erase(std::remove(sinks.begin(), sinks.end(), logs_), sinks.end());
  }

  // Enqueues `n` keyed events without waiting for their acks.
  void ProduceBurst(int n) {
    for (int k = 0; k < n; ++k) {
      int id = next_id_++;
      std::string payload = nlohmann::json{{"user_id", "user-" + std::to_string(id % 7)},
                                           {"event_time", 1'700'000'000'000 + id},
                                           {"id", "e" + std::to_string(id)}}
                                .dump();
      ASSERT_TRUE(producer_->Produce(kSource, id % kPartitions, "", payload, 0, 0).ok());
      producer_->Poll(0);
    }
  }

  void FlushInput() {
    ASSERT_TRUE(producer_->Flush(kCatchUpMs).ok());
    ASSERT_EQ(input_failures_, 0) << "the test's own input was not delivered";
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
      auto w = consumer->QueryWatermarks(kSource, p, kCatchUpMs);
      EXPECT_TRUE(w.ok()) << w.status().ToString();
      ends[p] = w.ok() ? w->high : -1;
    }
    return ends;
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
    loop_ = std::thread([this] {
      Status s;
      while (!stop_.load() && s.ok()) s = worker_->RunOnce();
      loop_status_ = s;
      exited_.store(true);
    });
  }

  void StopLoop() {
    stop_.store(true);
    if (loop_.joinable()) loop_.join();
  }

  // Every source offset committed and the worker's lag 0, within the deadline.
  bool CaughtUp() {
    std::map<int32_t, int64_t> ends = EndOffsets();
    return WaitFor(
        [&] {
          WorkerSnapshot snap = worker_->Snapshot();
          if (snap.lag != 0 || snap.committed.size() != ends.size()) return false;
          for (const auto& c : snap.committed) {
            if (c.offset != ends[c.partition]) return false;
          }
          return true;
        },
        kCatchUpMs);
  }

  // Runs one fault: inject, a burst under it, hold, clear, then the worker
  // must catch up without having exited.
  void Phase(const std::string& name, const std::function<void()>& inject,
             const std::function<void()>& hold, const std::function<void()>& clear) {
    SCOPED_TRACE(name);
    auto t0 = Clock::now();
    inject();
    ProduceBurst(kBurst);
    hold();
    clear();
    FlushInput();
    EXPECT_TRUE(CaughtUp()) << name << ": the worker did not catch up; snapshot lag "
                            << worker_->Snapshot().lag;
    EXPECT_FALSE(exited_.load()) << name << ": the worker loop exited: "
                                 << loop_status_.ToString();
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
    std::printf("[phase] %-40s recovered in %lld ms\n", name.c_str(), static_cast<long long>(ms));
  }

  std::string Logs() {
    std::string all;
    for (const std::string& line : logs_->last_formatted()) all += line;
    return all;
  }

  // Event id -> times it is on the output topic.
  std::map<std::string, int> OutputIds(size_t expected) {
    auto consumer = MakeConsumer("reader");
    std::vector<TopicPartitionOffset> assign;
    for (int32_t p = 0; p < kPartitions; ++p) assign.push_back({kOutput, p, kOffsetBeginning});
    EXPECT_TRUE(consumer->Assign(assign).ok());
    std::map<std::string, int> ids;
    size_t records = 0;
    std::vector<ConsumedMessage> batch;
    auto take = [&] {
      for (const auto& m : batch) {
        auto record = ParseSignalRecord(m.payload);
        EXPECT_TRUE(record.ok());
        if (!record.ok()) continue;
        ++records;
        ++ids[nlohmann::json::parse(record->attributes_json)["id"].get<std::string>()];
      }
    };
    auto deadline = Clock::now() + std::chrono::milliseconds(kCatchUpMs);
    while (ids.size() < expected && Clock::now() < deadline) {
      EXPECT_TRUE(consumer->Poll(1000, 200, &batch).ok());
      take();
    }
    EXPECT_TRUE(consumer->Poll(1000, 300, &batch).ok());  // late duplicates
    take();
    return ids;
  }

  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> logs_;
  std::unique_ptr<EmbeddedKafka> kafka_;
  UserSignal signal_;
  MetricsRegistry registry_;
  WorkerMetrics metrics_{&registry_, "UserSignal", "bf"};
  std::unique_ptr<KafkaProducer> producer_;
  std::atomic<int> input_failures_{0};
  int next_id_ = 0;

  std::unique_ptr<KafkaSourceReader> source_;
  std::unique_ptr<KafkaRecordSink> sink_;
  std::unique_ptr<SignalWorker> worker_;
  std::thread loop_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> exited_{false};
  Status loop_status_;
};

TEST_F(BrokerFaultsIntegrationTest, NothingIsLostAndTheWorkerRecoversFromEveryFault) {
  StartWorker();
  ProduceBurst(kBurst);
  FlushInput();
  ASSERT_TRUE(CaughtUp()) << "the worker did not process the healthy warm-up";

  auto no_clear = [] {};

  // (1) Produce errors on the output leader: retried by the producer.
  Phase(
      "produce errors",
      [&] {
        ASSERT_TRUE(kafka_
                        ->PushRequestErrors(kOutputBroker, EmbeddedKafka::kApiProduce,
                                            {RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                                             RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
                                             RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
                                             RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT})
                        .ok());
      },
      [&] {
        EXPECT_TRUE(WaitFor(
            [&] { return kafka_->PendingRequestErrors(kOutputBroker, EmbeddedKafka::kApiProduce) == 0; },
            kCatchUpMs))
            << "the worker's producer never met the injected Produce errors";
      },
      no_clear);

  // (2) Fetch errors on the source leader: the consumer retries.
  Phase(
      "fetch errors",
      [&] {
        ASSERT_TRUE(kafka_
                        ->PushRequestErrors(kSourceBroker, EmbeddedKafka::kApiFetch,
                                            {RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                                             RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
                                             RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART})
                        .ok());
      },
      [&] {
        EXPECT_TRUE(WaitFor(
            [&] { return kafka_->PendingRequestErrors(kSourceBroker, EmbeddedKafka::kApiFetch) == 0; },
            kCatchUpMs))
            << "the worker's consumer never met the injected Fetch errors";
      },
      no_clear);

  // (3) OffsetCommit errors (any broker: the coordinator): counted, and the
  // lost commits are made again.
  Phase(
      "offset commit errors",
      [&] {
        ASSERT_TRUE(kafka_
                        ->PushRequestErrors(-1, EmbeddedKafka::kApiOffsetCommit,
                                            {RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
                                             RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
                                             RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT})
                        .ok());
      },
      [&] {
        EXPECT_TRUE(WaitFor(
            [&] {
              return MetricValue(registry_.Serialize(), "usp_kafka_errors_total",
                                 "op=\"commit\"") >= 1;
            },
            kCatchUpMs))
            << "no failed commit was counted";
      },
      no_clear);

  // (4) 500 ms on every response: slower, never stuck.
  Phase(
      "500 ms broker latency", [&] { ASSERT_TRUE(kafka_->SetBrokerRtt(-1, 500).ok()); },
      [&] {
        FlushInput();
        EXPECT_TRUE(CaughtUp()) << "no progress under latency";
      },
      [&] { ASSERT_TRUE(kafka_->SetBrokerRtt(-1, 0).ok()); });

  // (5) The output leader's broker down, then back.
  Phase(
      "output leader broker down 2 s",
      [&] { ASSERT_TRUE(kafka_->SetBrokerDown(kOutputBroker, true).ok()); },
      [&] { std::this_thread::sleep_for(std::chrono::milliseconds(kFaultHoldMs)); },
      [&] { ASSERT_TRUE(kafka_->SetBrokerDown(kOutputBroker, false).ok()); });

  // (6) The source leader's broker down; its partitions move to another
  // broker while it is down; it comes back as a follower.
  Phase(
      "source leader down, leadership moved",
      [&] {
        ASSERT_TRUE(kafka_->SetBrokerDown(kSourceBroker, true).ok());
        for (int32_t p = 0; p < kPartitions; ++p) {
          ASSERT_TRUE(kafka_->SetPartitionLeader(kSource, p, kSpareBroker).ok());
        }
      },
      [&] { std::this_thread::sleep_for(std::chrono::milliseconds(kFaultHoldMs)); },
      [&] { ASSERT_TRUE(kafka_->SetBrokerDown(kSourceBroker, false).ok()); });

  StopLoop();
  ASSERT_TRUE(loop_status_.ok()) << "the worker loop failed: " << loop_status_.ToString();
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
