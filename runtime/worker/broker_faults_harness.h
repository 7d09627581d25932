#pragma once
// Test support for broker-fault integration tests (docs/reliability.md): a
// 3-broker embedded cluster (runtime/kafka/embedded_kafka.h), the test's own
// input producer, captured logs, a worker loop on its own thread, and the
// fault phases every such test runs. Used by
// runtime/worker/broker_faults_integration_test.cc (SignalWorker) and
// runtime/stateful/stateful_broker_faults_integration_test.cc (StatefulWorker).
//
// A test derives from BrokerFaultsHarness, creates its topics with their
// leaders (so per-broker error pushes reach exactly one kind of request),
// implements ProduceBurst() and CaughtUp(), starts its worker with
// StartLoop(), and runs Phase()s. A phase: inject the fault, produce a burst
// under it, hold, clear, then the worker must catch up within kCatchUpMs
// without its loop having exited. Test-only; not thread-safe except where
// noted.

#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/status.h"
#include "runtime/kafka/embedded_kafka.h"
#include "runtime/kafka/kafka_client.h"

namespace usp::broker_faults {

using SteadyClock = std::chrono::steady_clock;

inline constexpr int kCatchUpMs = 25000;   // per phase; a healthy run needs ~1-5 s
inline constexpr int kFaultHoldMs = 2000;  // how long a broker stays down

// Polls `done` every 20 ms until it is true (true) or `timeout_ms` passed (false).
inline bool WaitFor(const std::function<bool()>& done, int timeout_ms) {
  auto deadline = SteadyClock::now() + std::chrono::milliseconds(timeout_ms);
  while (!done()) {
    if (SteadyClock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

// The value of the first series of `name` whose labels contain `label` in
// Prometheus text, 0 when absent.
inline double MetricValue(const std::string& text, const std::string& name,
                          const std::string& label) {
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

// One record read back from a topic (owned copies).
struct TopicRecord {
  int32_t partition = 0;
  int64_t offset = 0;
  std::string key;
  std::string payload;
};

class BrokerFaultsHarness : public ::testing::Test {
 protected:
  static constexpr int32_t kBrokers = 3;

  void SetUp() override {
    // Every line, not the last N: a slow run (a sanitizer build) logs more
    // reconnect lines, and the checks look for lines from early phases.
    logs_ = std::make_shared<TextSink>();
    spdlog::default_logger()->sinks().push_back(logs_);
    auto kafka = EmbeddedKafka::Start(kBrokers);
    ASSERT_TRUE(kafka.ok()) << kafka.status().ToString();
    kafka_ = std::move(kafka).value();
    ProducerOptions popts;
    popts.bootstrap = kafka_->bootstrap();
    popts.linger_ms = 1;
    auto producer = KafkaProducer::Create(popts, [this](const DeliveryReport& r) {
      if (!r.status.ok()) ++input_failures_;
    });
    ASSERT_TRUE(producer.ok()) << producer.status().ToString();
    producer_ = std::move(producer).value();
  }

  void TearDown() override {
    (void)StopLoop();
    auto& sinks = spdlog::default_logger()->sinks();
    sinks.erase(std::remove(sinks.begin(), sinks.end(), logs_), sinks.end());
  }

  // What a phase produces while its fault is on, and whether the worker has
  // processed (and committed) everything produced so far, right now.
  virtual void ProduceBurst() = 0;
  virtual bool CaughtUp() = 0;

  // Creates `topic` with every partition led by `leader`.
  void CreateTopic(const std::string& topic, int32_t partitions, int32_t leader) {
    ASSERT_TRUE(kafka_->CreateTopic(topic, partitions).ok()) << topic;
    MoveLeaders(topic, partitions, leader);
  }
  void MoveLeaders(const std::string& topic, int32_t partitions, int32_t leader) {
    for (int32_t p = 0; p < partitions; ++p) {
      ASSERT_TRUE(kafka_->SetPartitionLeader(topic, p, leader).ok()) << topic << "[" << p << "]";
    }
  }

  // Enqueues one input record without waiting for its ack.
  void ProduceInput(const std::string& topic, int32_t partition, const std::string& key,
                    const std::string& payload, int64_t timestamp_ms = 0) {
    ASSERT_TRUE(producer_->Produce(topic, partition, key, payload, timestamp_ms, 0).ok());
    producer_->Poll(0);
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
    EXPECT_TRUE(consumer.ok()) << consumer.status().ToString();
    return consumer.ok() ? std::move(consumer).value() : nullptr;
  }

  // Partition -> end offset (one past the newest record); -1 when unknown.
  std::map<int32_t, int64_t> EndOffsets(const std::string& topic, int32_t partitions) {
    auto consumer = MakeConsumer("probe");
    std::map<int32_t, int64_t> ends;
    for (int32_t p = 0; p < partitions; ++p) {
      auto w = consumer->QueryWatermarks(topic, p, kCatchUpMs);
      EXPECT_TRUE(w.ok()) << w.status().ToString();
      ends[p] = w.ok() ? w->high : -1;
    }
    return ends;
  }

  // Every record of `topic` from the beginning: reads until `want` records
  // arrived (or kCatchUpMs), then a little longer for any late extra.
  std::vector<TopicRecord> ReadTopic(const std::string& topic, int32_t partitions, size_t want) {
    auto consumer = MakeConsumer("reader-" + topic);
    std::vector<TopicPartitionOffset> assign;
    for (int32_t p = 0; p < partitions; ++p) assign.push_back({topic, p, kOffsetBeginning});
    EXPECT_TRUE(consumer->Assign(assign).ok());
    std::vector<TopicRecord> out;
    std::vector<ConsumedMessage> batch;
    auto take = [&] {
      for (const auto& m : batch) {
        out.push_back({m.partition, m.offset, std::string(m.key), std::string(m.payload)});
      }
    };
    auto deadline = SteadyClock::now() + std::chrono::milliseconds(kCatchUpMs);
    while (out.size() < want && SteadyClock::now() < deadline) {
      EXPECT_TRUE(consumer->Poll(1000, 200, &batch).ok());
      take();
    }
    EXPECT_TRUE(consumer->Poll(1000, 300, &batch).ok());  // late extras
    take();
    return out;
  }

  // Calls `run_once` on a loop thread until StopLoop() or a non-OK status.
  void StartLoop(std::function<Status()> run_once) {
    stop_.store(false);
    exited_.store(false);
    loop_ = std::thread([this, run_once = std::move(run_once)] {
      Status s;
      while (!stop_.load() && s.ok()) s = run_once();
      loop_status_ = s;
      exited_.store(true);
    });
  }
  // Stops the loop thread; the loop's last status.
  Status StopLoop() {
    stop_.store(true);
    if (loop_.joinable()) loop_.join();
    return loop_status_;
  }

  // One fault (see the file comment). `hold` waits while the fault is on
  // (and checks it was met); `clear` undoes it.
  void Phase(const std::string& name, const std::function<void()>& inject,
             const std::function<void()>& hold, const std::function<void()>& clear) {
    SCOPED_TRACE(name);
    auto t0 = SteadyClock::now();
    inject();
    ProduceBurst();
    hold();
    clear();
    FlushInput();
    EXPECT_TRUE(WaitFor([&] { return CaughtUp(); }, kCatchUpMs))
        << name << ": the worker did not catch up";
    EXPECT_FALSE(exited_.load()) << name << ": the worker loop exited: "
                                 << loop_status_.ToString();
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - t0).count();
    std::printf("[phase] %-44s recovered in %lld ms\n", name.c_str(), static_cast<long long>(ms));
    ++phases_;
  }

  // ---- The faults, as phases.

  // `errors` pushed on `broker` for `api`; held until a request consumed them all.
  void RequestErrorsPhase(const std::string& name, int32_t broker, int16_t api,
                          const std::vector<int>& errors) {
    Phase(
        name, [&] { ASSERT_TRUE(kafka_->PushRequestErrors(broker, api, errors).ok()); },
        [&] {
          EXPECT_TRUE(WaitFor([&] { return kafka_->PendingRequestErrors(broker, api) == 0; },
                              kCatchUpMs))
              << name << ": the worker never met the injected errors";
        },
        [] {});
  }
  // Retriable Produce errors on `broker` (the producer retries them).
  void ProduceErrorsPhase(const std::string& name, int32_t broker) {
    RequestErrorsPhase(name, broker, EmbeddedKafka::kApiProduce,
                       {RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                        RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
                        RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT});
  }
  // Fetch errors on `broker` (the consumer retries them).
  void FetchErrorsPhase(const std::string& name, int32_t broker) {
    RequestErrorsPhase(name, broker, EmbeddedKafka::kApiFetch,
                       {RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                        RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
                        RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART});
  }
  // OffsetCommit errors on any broker (the coordinator), held until
  // `commit_errors()` (the worker's failed-commit count) is at least 1.
  // librdkafka retries a timed-out commit itself, and the errors go to
  // whichever OffsetCommit comes next, so there are enough of them for a
  // commit to run out of retries however the requests interleave.
  void CommitErrorsPhase(const std::string& name, const std::function<double()>& commit_errors) {
    Phase(
        name,
        [&] {
          ASSERT_TRUE(kafka_
                          ->PushRequestErrors(-1, EmbeddedKafka::kApiOffsetCommit,
                                              std::vector<int>(12, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT))
                          .ok());
        },
        [&] {
          EXPECT_TRUE(WaitFor([&] { return commit_errors() >= 1; }, kCatchUpMs))
              << "no failed commit was counted";
        },
        [] {});
  }
  // `rtt_ms` on every response of every broker: slower, never stuck.
  void LatencyPhase(const std::string& name, int rtt_ms) {
    Phase(
        name, [&] { ASSERT_TRUE(kafka_->SetBrokerRtt(-1, rtt_ms).ok()); },
        [&] {
          FlushInput();
          EXPECT_TRUE(WaitFor([&] { return CaughtUp(); }, kCatchUpMs))
              << "no progress under latency";
        },
        [&] { ASSERT_TRUE(kafka_->SetBrokerRtt(-1, 0).ok()); });
  }
  // `broker` down for kFaultHoldMs, then back; leaders stay where they are.
  void BrokerDownPhase(const std::string& name, int32_t broker) {
    Phase(
        name, [&] { ASSERT_TRUE(kafka_->SetBrokerDown(broker, true).ok()); },
        [] { std::this_thread::sleep_for(std::chrono::milliseconds(kFaultHoldMs)); },
        [&] { ASSERT_TRUE(kafka_->SetBrokerDown(broker, false).ok()); });
  }
  // `broker`, the leader of `topic`, down; its partitions move to `to`
  // while it is down; it comes back as a follower.
  void LeaderDownAndMovedPhase(const std::string& name, int32_t broker, const std::string& topic,
                               int32_t partitions, int32_t to) {
    Phase(
        name,
        [&] {
          ASSERT_TRUE(kafka_->SetBrokerDown(broker, true).ok());
          MoveLeaders(topic, partitions, to);
        },
        [] { std::this_thread::sleep_for(std::chrono::milliseconds(kFaultHoldMs)); },
        [&] { ASSERT_TRUE(kafka_->SetBrokerDown(broker, false).ok()); });
  }

  std::string Logs() { return logs_->Text(); }

  bool exited() const { return exited_.load(); }
  int phases() const { return phases_; }

  std::unique_ptr<EmbeddedKafka> kafka_;
  std::unique_ptr<KafkaProducer> producer_;

 private:
  // Keeps every formatted log line.
  class TextSink : public spdlog::sinks::base_sink<std::mutex> {
   public:
    std::string Text() {
      std::lock_guard<std::mutex> lock(mutex_);
      return text_;
    }

   protected:
    void sink_it_(const spdlog::details::log_msg& msg) override {
      spdlog::memory_buf_t formatted;
      formatter_->format(msg, formatted);
      text_.append(formatted.data(), formatted.size());
    }
    void flush_() override {}

   private:
    std::string text_;
  };
  std::shared_ptr<TextSink> logs_;
  std::atomic<int> input_failures_{0};
  std::thread loop_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> exited_{false};
  Status loop_status_;  // written by the loop thread before exited_
  int phases_ = 0;
};

}  // namespace usp::broker_faults
