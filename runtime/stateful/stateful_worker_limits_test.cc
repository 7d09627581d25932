// The stateful worker at its limits: an output the producer would refuse
// (output_too_large) and offset commits the broker refuses or loses. Neither
// may stop the worker: a stop here is a restart loop, since the same record
// or commit meets the same limit again after every restart.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "runtime/common/metrics.h"
#include "runtime/stateful/stateful_worker.h"
#include "runtime/worker/worker_metrics.h"
#include "runtime/worker/worker_test_fakes.h"

namespace usp {
namespace {

namespace fs = std::filesystem;

constexpr char kSource[] = "usp.signal.searches";
constexpr char kOutput[] = "usp.session.visits";
constexpr char kChangelog[] = "usp.changelog.sessionjob.visits";
constexpr char kDeadLetters[] = "usp.dlq.visits";

// Counts records per user and echoes the record's "pad" into its output
// row, so a test picks the output's size.
class PaddingProcessor : public KeyedProcessor {
 public:
  Result<std::string> KeyOf(std::string_view record) override {
    auto j = nlohmann::json::parse(record, nullptr, false);
    if (j.is_discarded() || !j.contains("user")) return Status::InvalidArgument("no user");
    return j["user"].get<std::string>();
  }
  Status Process(std::string_view key, std::string_view record,
                 const std::optional<std::string>& state, ProcessorEffects* out) override {
    auto j = nlohmann::json::parse(record);
    const int count = state ? std::stoi(*state) + 1 : 1;
    out->state_changed = true;
    out->state = std::to_string(count);
    out->outputs.push_back({std::string(key),
                            nlohmann::json{{"user", key}, {"count", count}, {"pad", j["pad"]}}.dump(),
                            1});
    return Status::Ok();
  }
  Status OnTimer(std::string_view, int64_t, const std::optional<std::string>&,
                 ProcessorEffects*) override {
    return Status::Ok();
  }
};

// A source whose next `refuse` Commit() calls fail, as a broker that
// answers OffsetCommit with an error.
class RefusingSource : public testing::FakeSourceReader {
 public:
  int refuse = 0;
  Status Commit(const std::vector<TopicPartitionOffset>& offsets, bool sync) override {
    if (refuse > 0) {
      --refuse;
      return Status::Unavailable("offset commit: Broker: Request timed out");
    }
    return FakeSourceReader::Commit(offsets, sync);
  }
};

std::string Rec(const std::string& user, size_t pad = 0) {
  return nlohmann::json{{"user", user}, {"pad", std::string(pad, 'x')}}.dump();
}

double Metric(const std::string& text, const std::string& series) {
  size_t at = text.find(series + " ");
  return at == std::string::npos ? 0 : std::stod(text.substr(at + series.size() + 1));
}

class StatefulWorkerLimitsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "usp-stateful-limits-XXXXXX").string();
    dir_ = mkdtemp(tmpl.data());
    store_ = std::move(StateStore::Open((dir_ / "db").string())).value();
    source_.partition_counts[kSource] = 2;
    sink_.partition_counts[kOutput] = 2;
    sink_.partition_counts[kChangelog] = 2;
    sink_.max_bytes = 2000;  // refuses larger records, as librdkafka's message.max.bytes
  }
  void TearDown() override {
    worker_.reset();
    store_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  void Make(size_t max_record_bytes) {
    StatefulWorkerOptions o;
    o.partitions = {0, 1};
    o.commit_interval_ms = 0;
    o.max_record_bytes = max_record_bytes;
    o.dead_letter_payload_prefix = 100;
    o.metrics = &metrics_;
    worker_ = std::make_unique<StatefulWorker>(
        StatefulJob{"SessionJob", "visits", {kSource}, kOutput, kChangelog}, &processor_, &source_,
        &sink_, store_.get(), nullptr, &clock_, o);
    ASSERT_TRUE(worker_->Start().ok());
  }
  std::vector<testing::SentRecord> SentTo(const std::string& topic) {
    std::vector<testing::SentRecord> out;
    for (const auto& r : sink_.sent) {
      if (r.topic == topic) out.push_back(r);
    }
    return out;
  }

  fs::path dir_;
  std::unique_ptr<StateStore> store_;
  RefusingSource source_;
  testing::FakeRecordSink sink_;
  testing::FakeClock clock_;
  PaddingProcessor processor_;
  MetricsRegistry registry_;
  WorkerMetrics metrics_{&registry_, "SessionJob", "visits"};
  std::unique_ptr<StatefulWorker> worker_;
};

TEST_F(StatefulWorkerLimitsTest, AnOutputOverTheRecordLimitIsDeadLetteredAndTheWorkerMovesOn) {
  Make(2000);
  source_.Add(kSource, 1, 0, Rec("u1"));
  source_.Add(kSource, 1, 1, Rec("u1", 5000));  // its output row is > 2000 bytes
  source_.Add(kSource, 1, 2, Rec("u1"));
  ASSERT_TRUE(worker_->RunOnce().ok()) << "an oversized output must not stop the worker";
  ASSERT_TRUE(worker_->RunOnce().ok());

  auto outputs = SentTo(kOutput);
  ASSERT_EQ(outputs.size(), 2u);
  EXPECT_EQ(nlohmann::json::parse(outputs[0].value)["count"], 1);
  EXPECT_EQ(nlohmann::json::parse(outputs[1].value)["count"], 3) << "the state still advanced";

  auto letters = SentTo(kDeadLetters);
  ASSERT_EQ(letters.size(), 1u);
  EXPECT_EQ(letters[0].key, std::string(kSource) + "-1-1");
  auto doc = nlohmann::json::parse(letters[0].value);
  EXPECT_EQ(doc["source_topic"], kSource);
  EXPECT_EQ(doc["source_partition"], 1);
  EXPECT_EQ(doc["source_offset"], 1);
  EXPECT_EQ(doc["signal"], "visits");
  EXPECT_EQ(doc["error"]["reason"], "output_too_large");
  EXPECT_NE(doc["error"]["message"].get<std::string>().find("2000-byte record limit"),
            std::string::npos);
  EXPECT_EQ(doc["payload_truncated"], true);
  EXPECT_GT(doc["payload_bytes"].get<size_t>(), 5000u);
  EXPECT_LE(letters[0].key.size() + letters[0].value.size(), 2000u);

  EXPECT_EQ(source_.CommittedOffset(kSource, 1), 3) << "committed past the oversized output";
  EXPECT_EQ(worker_->Stats().dead_lettered, 1);
  const std::string metrics = registry_.Serialize();
  EXPECT_EQ(Metric(metrics, R"(usp_events_failed_total{job="visits",kind="SessionJob",reason="output_too_large"})"), 1)
      << metrics;
  EXPECT_EQ(Metric(metrics, R"(usp_events_dead_lettered_total{job="visits",kind="SessionJob"})"), 1)
      << metrics;
}

TEST_F(StatefulWorkerLimitsTest, AnOutputTheWholeLetterOfWhichWouldNotFitKeepsAShorterPrefix) {
  Make(700);  // too small even for the 100-byte prefix: a shorter one is kept
  sink_.max_bytes = 700;
  source_.Add(kSource, 0, 0, Rec("u2", 3000));
  ASSERT_TRUE(worker_->RunOnce().ok());
  auto letters = SentTo(kDeadLetters);
  ASSERT_EQ(letters.size(), 1u);
  EXPECT_LE(letters[0].key.size() + letters[0].value.size(), 700u);
  EXPECT_EQ(nlohmann::json::parse(letters[0].value)["payload_truncated"], true);
  EXPECT_EQ(source_.CommittedOffset(kSource, 0), 1);
}

TEST_F(StatefulWorkerLimitsTest, ALostAsyncCommitIsCountedAndEveryPartitionCommittedAgain) {
  Make(kDefaultMaxRecordBytes);
  source_.Add(kSource, 0, 0, Rec("a"));
  source_.Add(kSource, 1, 0, Rec("b"));
  ASSERT_TRUE(worker_->RunOnce().ok());
  ASSERT_EQ(source_.CommittedOffset(kSource, 0), 1);
  ASSERT_EQ(source_.CommittedOffset(kSource, 1), 1);
  // The broker lost that commit: nothing new to commit, yet both partitions
  // are committed again.
  source_.committed.clear();
  source_.commit_error = Status::Unavailable("async offset commit: Request timed out");
  ASSERT_TRUE(worker_->RunOnce().ok());
  EXPECT_EQ(source_.CommittedOffset(kSource, 0), 1);
  EXPECT_EQ(source_.CommittedOffset(kSource, 1), 1);
  EXPECT_EQ(worker_->Stats().commit_errors, 1);
  EXPECT_EQ(Metric(registry_.Serialize(),
                   R"(usp_kafka_errors_total{job="visits",kind="SessionJob",op="commit"})"),
            1);
}

TEST_F(StatefulWorkerLimitsTest, ARefusedCommitDoesNotStopTheWorkerAndTheNextOneCoversIt) {
  Make(kDefaultMaxRecordBytes);
  source_.refuse = 1;
  source_.Add(kSource, 0, 0, Rec("a"));
  ASSERT_TRUE(worker_->RunOnce().ok()) << "a refused offset commit must not stop the worker";
  EXPECT_EQ(source_.CommittedOffset(kSource, 0), kOffsetInvalid);
  ASSERT_TRUE(worker_->RunOnce().ok());
  EXPECT_EQ(source_.CommittedOffset(kSource, 0), 1);
  EXPECT_EQ(worker_->Stats().commit_errors, 1);
  // The final, synchronous commit must succeed: Finish() reports a refusal.
  source_.Add(kSource, 0, 1, Rec("a"));
  ASSERT_TRUE(worker_->RunOnce().ok());
  source_.Add(kSource, 0, 2, Rec("a"));
  source_.refuse = 1;
  ASSERT_TRUE(worker_->RunOnce().ok());
  source_.refuse = 1;
  EXPECT_FALSE(worker_->Finish().ok());
}

}  // namespace
}  // namespace usp
