#include "runtime/join/left_join_processor.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/murmur2.h"
#include "runtime/state/changelog_reader.h"
#include "runtime/worker/worker_test_fakes.h"

namespace usp {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::FakeClock;
using testing::FakeRecordSink;
using testing::FakeSourceReader;
using testing::SentRecord;

constexpr char kLeft[] = "search-events";
constexpr char kRight[] = "booking-events";
constexpr char kOutput[] = "usp.signal.booked-searches";
constexpr char kDlq[] = "usp.dlq.booked-searches";
constexpr int64_t kHour = 3600 * 1000;

UserSignal MakeJoinSignal(const json& overrides = json::object()) {
  json spec = {
      {"type", "left_join"},
      {"leftEventSource", {{"kafkaTopic", kLeft}, {"joinKeyField", "/user_id"}}},
      {"rightEventSource", {{"kafkaTopic", kRight}, {"joinKeyField", "/user_id"}}},
      {"joinWindow", "1h"},
      {"userIdField", "/left/user_id"},
      {"eventTimeField", "/left/event_time"},
      {"attributes", {{"query", "/left/query"}, {"booking", "/right/booking_id"}}},
  };
  spec.update(overrides);
  json doc = {{"apiVersion", "usp.dev/v1alpha1"},
              {"kind", "UserSignal"},
              {"metadata", {{"name", "booked-searches"}}},
              {"spec", spec}};
  FieldErrors errors;
  auto signal = ParseUserSignal(doc, &errors);
  EXPECT_TRUE(signal.has_value()) << (errors.empty() ? "" : errors[0].ToString());
  return signal.value_or(UserSignal{});
}

class LeftJoinProcessorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "usp-join-XXXXXX").string();
    dir_ = mkdtemp(tmpl.data());
    store_ = std::move(StateStore::Open((dir_ / "db").string())).value();
    source_.partition_counts[kLeft] = 4;
    source_.partition_counts[kRight] = 4;
    sink_.partition_counts[kOutput] = 4;
    sink_.partition_counts[kDlq] = 1;
    sink_.partition_counts[ChangelogTopic("UserSignal", "booked-searches")] = 4;
  }
  void TearDown() override {
    worker_.reset();
    store_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  void Make(const json& overrides = json::object()) {
    auto job = MakeLeftJoinJob(MakeJoinSignal(overrides), &clock_);
    ASSERT_TRUE(job.ok()) << job.status().ToString();
    job_ = std::move(job).value();
    StatefulWorkerOptions o;
    o.partitions = {0, 1, 2, 3};
    o.commit_interval_ms = 0;
    worker_ = std::make_unique<StatefulWorker>(job_.job, job_.processor.get(), &source_, &sink_,
                                               store_.get(), nullptr, &clock_, o);
    ASSERT_TRUE(worker_->Start().ok());
  }
  static std::string L(const std::string& user, int64_t t, const std::string& query) {
    return json{{"user_id", user}, {"event_time", t}, {"query", query}}.dump();
  }
  static std::string R(const std::string& user, int64_t t, const std::string& booking) {
    return json{{"user_id", user}, {"event_time", t}, {"booking_id", booking}}.dump();
  }
  std::vector<SentRecord> On(const std::string& topic) {
    std::vector<SentRecord> out;
    for (const auto& r : sink_.sent) {
      if (r.topic == topic) out.push_back(r);
    }
    return out;
  }
  int32_t P(const std::string& user) { return PartitionForKey(user, 4); }

  fs::path dir_;
  std::unique_ptr<StateStore> store_;
  FakeSourceReader source_;
  FakeRecordSink sink_;
  FakeClock clock_;
  LeftJoinJob job_;
  std::unique_ptr<StatefulWorker> worker_;
};

TEST_F(LeftJoinProcessorTest, JobDescribesTopicsAndChangelog) {
  Make();
  EXPECT_EQ(job_.job.kind, "UserSignal");
  EXPECT_EQ(job_.job.name, "booked-searches");
  EXPECT_EQ(job_.job.source_topics, (std::vector<std::string>{kLeft, kRight}));
  EXPECT_EQ(job_.job.output_topic, kOutput);
  EXPECT_EQ(job_.job.changelog_topic, ChangelogTopic("UserSignal", "booked-searches"));
  EXPECT_EQ(job_.dead_letter_topic, kDlq);
  EXPECT_TRUE(job_.repartition.empty());
}

TEST_F(LeftJoinProcessorTest, JoinKeyOtherThanTheUserIdIsRepartitioned) {
  auto job = MakeLeftJoinJob(
      MakeJoinSignal({{"leftEventSource", {{"kafkaTopic", kLeft}, {"joinKeyField", "/sid"}}},
                      {"rightEventSource", {{"kafkaTopic", kRight}, {"joinKeyField", "/s"}}}}),
      &clock_);
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->job.source_topics,
            (std::vector<std::string>{"usp.repartition.booked-searches.left",
                                      "usp.repartition.booked-searches.right"}));
  ASSERT_EQ(job->repartition.size(), 2u);
  EXPECT_EQ(job->repartition[0].source_topic, kLeft);
  EXPECT_EQ(job->repartition[0].target_topic, "usp.repartition.booked-searches.left");
  EXPECT_EQ(job->repartition[0].join_key_field.text(), "/sid");
  EXPECT_EQ(job->repartition[1].source_topic, kRight);
  EXPECT_EQ(job->repartition[1].join_key_field.text(), "/s");
  // A record from the repartition topic is a left event.
  auto key = job->processor->KeyOfRecord({"usp.repartition.booked-searches.left", 0, 0, -1},
                                         R"({"sid":"x"})");
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(*key, "x");
}

TEST_F(LeftJoinProcessorTest, MakeLeftJoinJobRejectsSimpleSignals) {
  UserSignal simple = testing::MakeSignal("s", "t");
  EXPECT_FALSE(MakeLeftJoinJob(simple, &clock_).ok());
}

TEST_F(LeftJoinProcessorTest, ProcessorNeedsTheTopic) {
  Make();
  EXPECT_FALSE(job_.processor->KeyOf(L("u1", 1, "q")).ok());
  EXPECT_FALSE(job_.processor->KeyOfRecord({"other-topic", 0, 0, -1}, L("u1", 1, "q")).ok());
}

TEST_F(LeftJoinProcessorTest, LeftAtOnceThenNewerVersionWhenTheRightArrives) {
  Make();
  const int64_t t = clock_.now_ms - 1000;
  source_.Add(kLeft, P("u1"), 0, L("u1", t, "paris"));
  ASSERT_TRUE(worker_->RunOnce().ok());
  clock_.now_ms += 10;
  source_.Add(kRight, P("u1"), 0, R("u1", t + 500, "b1"));
  ASSERT_TRUE(worker_->RunOnce().ok());

  auto out = On(kOutput);
  ASSERT_EQ(out.size(), 2u);
  auto a = ParseSignalRecord(out[0].value);
  auto b = ParseSignalRecord(out[1].value);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->user_id, "u1");
  EXPECT_EQ(a->event_time, t);
  EXPECT_EQ(b->event_time, t);
  EXPECT_EQ(a->event_id, b->event_id);
  EXPECT_EQ(a->event_id, std::string(kLeft) + "-" + std::to_string(P("u1")) + "-0");
  EXPECT_LT(a->version, b->version);
  EXPECT_EQ(json::parse(a->attributes_json)["booking"], nullptr);
  EXPECT_EQ(json::parse(b->attributes_json)["booking"], "b1");
  for (const auto& r : out) {
    EXPECT_EQ(r.key, "u1");
    EXPECT_EQ(r.partition, P("u1"));
    EXPECT_EQ(r.timestamp_ms, t);
  }
  // Both source offsets are committed (outputs acknowledged).
  EXPECT_EQ(source_.CommittedOffset(kLeft, P("u1")), 1);
  EXPECT_EQ(source_.CommittedOffset(kRight, P("u1")), 1);
}

TEST_F(LeftJoinProcessorTest, TimersExpireTheJoinState) {
  Make();
  const int64_t t = clock_.now_ms;
  source_.Add(kLeft, P("u2"), 0, L("u2", t, "rome"));
  ASSERT_TRUE(worker_->RunOnce().ok());
  clock_.now_ms = t + kHour;  // the left's expiry
  ASSERT_TRUE(worker_->RunOnce().ok());
  EXPECT_EQ(worker_->Stats().timers_fired, 1);
  // The state is gone: a right within the left's window no longer joins.
  source_.Add(kRight, P("u2"), 0, R("u2", t + 10, "b2"));
  ASSERT_TRUE(worker_->RunOnce().ok());
  EXPECT_EQ(On(kOutput).size(), 1u);
}

TEST_F(LeftJoinProcessorTest, RecordsWithoutJoinKeyAreDeadLettered) {
  Make();
  source_.Add(kRight, 2, 0, R"({"booking_id":"b"})");
  source_.Add(kLeft, 2, 0, R"({"user_id":"u3","query":"no time"})");
  ASSERT_TRUE(worker_->RunOnce().ok());
  auto dl = On(kDlq);
  ASSERT_EQ(dl.size(), 2u);
  EXPECT_EQ(dl[0].key, std::string(kRight) + "-2-0");
  EXPECT_EQ(json::parse(dl[0].value)["error"]["reason"], "missing_join_key");
  EXPECT_EQ(json::parse(dl[1].value)["error"]["reason"], "missing_event_time");
  EXPECT_EQ(dl[0].partition, kAnyPartition);
  EXPECT_TRUE(On(kOutput).empty());
  EXPECT_EQ(source_.CommittedOffset(kRight, 2), 1);
  EXPECT_EQ(source_.CommittedOffset(kLeft, 2), 1);
  EXPECT_EQ(job_.processor->bad_records(), 2);
}

TEST_F(LeftJoinProcessorTest, SkippedRecordsAreCountedInvalid) {
  Make({{"onError", "skip"}});
  source_.Add(kRight, 2, 0, R"({"booking_id":"b"})");
  ASSERT_TRUE(worker_->RunOnce().ok());
  EXPECT_EQ(worker_->Stats().invalid, 1);
  EXPECT_TRUE(On(kDlq).empty());
  EXPECT_EQ(source_.CommittedOffset(kRight, 2), 1);
}

TEST_F(LeftJoinProcessorTest, FailStopsTheWorker) {
  Make({{"onError", "fail"}});
  source_.Add(kRight, 2, 0, R"({"booking_id":"b"})");
  Status s = worker_->RunOnce();
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("missing_join_key"), std::string::npos);
}

JoinState SampleJoinState() {
  JoinState state;
  JoinState::Left a;
  a.event_time = 1'700'000'000'000;
  a.topic = kLeft;
  a.partition = 7;
  a.offset = int64_t{1} << 33;
  a.doc = R"({"user_id":"u1","q":"quote \" and \\ and \u00e9"})";
  a.expires_at = a.event_time + kHour;
  a.version = 42;
  a.right_time = a.event_time + 5;
  JoinState::Left b = a;
  b.right_time.reset();
  b.version = 0;
  b.doc = std::string("{}\0binary\xff", 10);
  state.lefts = {a, b};
  state.rights = {{a.event_time + 5, R"({"listing_id":"l1"})", a.event_time + 2 * kHour}};
  return state;
}

TEST(StoredJoinState, RoundTripsInTheBinaryFormatAndRejectsTruncation) {
  const JoinState state = SampleJoinState();
  const std::string bytes = EncodeStoredJoinState(state);
  EXPECT_EQ(bytes[0], '\x02');
  JoinState text = state;
  text.lefts[1].doc = "{}";  // format 1 (JSON) cannot hold the binary document
  EXPECT_LT(EncodeStoredJoinState(text).size(), EncodeJoinState(text).size())
      << "documents are copied, not escaped";
  auto decoded = DecodeStoredJoinState(bytes);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(*decoded, state);
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_FALSE(DecodeStoredJoinState(std::string_view(bytes).substr(0, n)).ok()) << n;
  }
  EXPECT_FALSE(DecodeStoredJoinState(bytes + "x").ok());
  auto empty = DecodeStoredJoinState(EncodeStoredJoinState(JoinState{}));
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST(StoredJoinState, TheFormerJsonFormatStillDecodes) {
  JoinState state = SampleJoinState();
  state.lefts[1].doc = "{}";  // format 1 documents are JSON text
  auto decoded = DecodeStoredJoinState(EncodeJoinState(state));
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(*decoded, state);
}

}  // namespace
}  // namespace usp
