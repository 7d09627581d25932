#include "runtime/query/materializer.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>

#include "core/segment/segment_record.h"
#include "core/session/session_record.h"
#include "core/signal_record.h"

namespace usp {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "usp-mat-XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// An in-memory log per topic partition behind the SignalSource interface.
class FakeSignalSource : public SignalSource {
 public:
  void AddTopic(const std::string& topic, int32_t partitions) {
    for (int32_t p = 0; p < partitions; ++p) logs_[{topic, p}];
    counts_[topic] = partitions;
  }
  void Append(const std::string& topic, int32_t partition, std::string payload) {
    logs_[{topic, partition}].push_back(std::move(payload));
  }

  Result<int32_t> PartitionCount(const std::string& topic, int) override {
    auto it = counts_.find(topic);
    if (it == counts_.end()) return Status::NotFound("no topic " + topic);
    return it->second;
  }
  Result<Watermarks> QueryWatermarks(const std::string& topic, int32_t partition, int) override {
    return Watermarks{0, static_cast<int64_t>(logs_[{topic, partition}].size())};
  }
  Status Assign(const std::vector<TopicPartitionOffset>& partitions) override {
    assigned_ = partitions;
    positions_.clear();
    for (const auto& p : partitions) {
      positions_[{p.topic, p.partition}] = p.offset == kOffsetBeginning ? 0 : p.offset;
    }
    return Status::Ok();
  }
  Status Poll(int max_messages, int, std::vector<ConsumedMessage>* out) override {
    out->clear();
    ++polls_;
    for (auto& [tp, position] : positions_) {
      const auto& log = logs_[tp];
      while (position < static_cast<int64_t>(log.size()) &&
             static_cast<int>(out->size()) < max_messages) {
        ConsumedMessage& m = out->emplace_back();
        m.topic = tp.topic;
        m.partition = tp.partition;
        m.offset = position;
        m.payload = log[position];
        m.timestamp_ms = 1;
        ++position;
      }
    }
    return Status::Ok();
  }
  int64_t Lag(const std::string& topic, int32_t partition, int64_t next_offset) override {
    int64_t high = static_cast<int64_t>(logs_[{topic, partition}].size());
    return high - std::max<int64_t>(next_offset, 0);
  }

  std::vector<TopicPartitionOffset> assigned_;
  int polls_ = 0;

 private:
  std::map<std::string, int32_t> counts_;
  std::map<TopicPartition, std::vector<std::string>> logs_;
  std::map<TopicPartition, int64_t> positions_;
};

std::string Json(const std::string& user, const std::string& signal, int64_t t,
                 const std::string& id) {
  return SerializeSignalRecord({user, signal, t, id, t + 1, "{}"});
}

class MaterializerTest : public ::testing::Test {
 protected:
  MaterializerTest() {
    source_.AddTopic("usp.signal.search", 2);
    source_.AddTopic("usp.signal.view", 2);
    OpenStore();
    options_.topics = {{"usp.signal.search", {"search"}}, {"usp.signal.view", {"view"}}};
    options_.max_batch = 100;
  }
  void OpenStore() {
    store_.reset();
    SignalStoreOptions o;
    o.partitions = 2;
    auto store = SignalStore::Open(dir_.path(), o);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
  }
  std::unique_ptr<Materializer> Make() {
    return std::make_unique<Materializer>(&source_, store_.get(), &probe_, options_);
  }
  size_t CountUser(const std::string& user) {
    SignalQuery q;
    q.user_id = user;
    q.limit = 10000;
    auto r = store_->Query(q);
    EXPECT_TRUE(r.ok());
    return r.ok() ? r->size() : 0;
  }
  void DrainAll(Materializer* m) {
    for (int i = 0; i < 100; ++i) {
      auto n = m->PollOnce();
      ASSERT_TRUE(n.ok()) << n.status().ToString();
      if (*n == 0) return;
    }
  }

  TempDir dir_;
  FakeSignalSource source_;
  std::unique_ptr<SignalStore> store_;
  MetricsRegistry metrics_;
  MaterializerProbe probe_{&metrics_};
  MaterializerOptions options_;
};

TEST_F(MaterializerTest, WritesRecordsAndOffsetsFromTheBeginning) {
  source_.Append("usp.signal.search", 0, Json("u1", "search", 10, "a"));
  source_.Append("usp.signal.search", 0, Json("u1", "search", 20, "b"));
  source_.Append("usp.signal.view", 1, Json("u1", "view", 15, "c"));
  auto m = Make();
  ASSERT_TRUE(m->Start().ok());
  for (const auto& a : source_.assigned_) EXPECT_EQ(a.offset, kOffsetBeginning);
  EXPECT_EQ(source_.assigned_.size(), 4u);
  DrainAll(m.get());
  EXPECT_EQ(CountUser("u1"), 3u);
  auto offsets = store_->ReadOffsets();
  ASSERT_TRUE(offsets.ok());
  EXPECT_EQ(*offsets,
            (std::vector<PartitionOffset>{{"usp.signal.search", 0, 2}, {"usp.signal.view", 1, 1}}));
  EXPECT_EQ(probe_.consumed(), 3);
  EXPECT_EQ(probe_.written(), 3);
  EXPECT_EQ(store_->Freshness(), (std::map<std::string, int64_t>{{"search", 20}, {"view", 15}}));
}

TEST_F(MaterializerTest, ResumesFromTheStoredOffsetsAfterARestart) {
  source_.Append("usp.signal.search", 0, Json("u1", "search", 10, "a"));
  source_.Append("usp.signal.search", 0, Json("u1", "search", 20, "b"));
  {
    auto m = Make();
    ASSERT_TRUE(m->Start().ok());
    DrainAll(m.get());
  }
  OpenStore();
  source_.Append("usp.signal.search", 0, Json("u1", "search", 30, "c"));
  auto m = Make();
  ASSERT_TRUE(m->Start().ok());
  for (const auto& a : source_.assigned_) {
    if (a.topic == "usp.signal.search" && a.partition == 0) {
      EXPECT_EQ(a.offset, 2);
    } else {
      EXPECT_EQ(a.offset, kOffsetBeginning);
    }
  }
  double consumed_before = probe_.consumed();
  DrainAll(m.get());
  EXPECT_EQ(probe_.consumed() - consumed_before, 1);
  EXPECT_EQ(CountUser("u1"), 3u);
}

TEST_F(MaterializerTest, CountsAndSkipsMalformedRecordsButAdvancesPastThem) {
  source_.Append("usp.signal.search", 0, "not json");
  source_.Append("usp.signal.search", 0, "");
  source_.Append("usp.signal.search", 0, Json("u1", "view", 10, "wrong-topic"));
  source_.Append("usp.signal.search", 0, R"({"user_id":"u1"})");
  source_.Append("usp.signal.search", 0, Json("u1", "search", 10, "ok"));
  auto m = Make();
  ASSERT_TRUE(m->Start().ok());
  DrainAll(m.get());
  EXPECT_EQ(probe_.failed("parse"), 2);
  EXPECT_EQ(probe_.failed("empty"), 1);
  EXPECT_EQ(probe_.failed("unknown_signal"), 1);
  EXPECT_EQ(probe_.written(), 1);
  EXPECT_EQ(CountUser("u1"), 1u);
  EXPECT_EQ(m->next_offsets().at({"usp.signal.search", 0}), 5);
  EXPECT_TRUE(m->caught_up());
}

TEST_F(MaterializerTest, IsCaughtUpOnlyAfterReachingTheStartupHighWatermarks) {
  options_.max_batch = 1;
  for (int i = 0; i < 3; ++i) {
    source_.Append("usp.signal.view", 1, Json("u1", "view", i, std::to_string(i)));
  }
  auto m = Make();
  ASSERT_TRUE(m->Start().ok());
  EXPECT_FALSE(m->caught_up());
  ASSERT_TRUE(m->PollOnce().ok());
  ASSERT_TRUE(m->PollOnce().ok());
  EXPECT_FALSE(m->caught_up());
  ASSERT_TRUE(m->PollOnce().ok());
  EXPECT_TRUE(m->caught_up());
}

TEST_F(MaterializerTest, IsCaughtUpAtOnceOnEmptyTopics) {
  auto m = Make();
  ASSERT_TRUE(m->Start().ok());
  EXPECT_TRUE(m->caught_up());
}

TEST_F(MaterializerTest, MaterializesOnlyTheGivenPartitions) {
  options_.partitions = {1};
  source_.Append("usp.signal.view", 0, Json("u0", "view", 1, "a"));
  source_.Append("usp.signal.view", 1, Json("u1", "view", 1, "b"));
  auto m = Make();
  ASSERT_TRUE(m->Start().ok());
  EXPECT_EQ(source_.assigned_.size(), 2u);
  for (const auto& a : source_.assigned_) EXPECT_EQ(a.partition, 1);
  DrainAll(m.get());
  EXPECT_EQ(CountUser("u0"), 0u);
  EXPECT_EQ(CountUser("u1"), 1u);
}

TEST_F(MaterializerTest, RejectsAPartitionTheTopicsDoNotHave) {
  options_.partitions = {0, 5};
  auto m = Make();
  Status s = m->Start();
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
}

TEST_F(MaterializerTest, ReportsLagPerPartition) {
  options_.max_batch = 1;
  source_.Append("usp.signal.search", 1, Json("u1", "search", 1, "a"));
  source_.Append("usp.signal.search", 1, Json("u1", "search", 2, "b"));
  source_.Append("usp.signal.view", 1, Json("u1", "view", 3, "c"));
  auto m = Make();
  ASSERT_TRUE(m->Start().ok());
  ASSERT_TRUE(m->PollOnce().ok());
  std::string text = metrics_.Serialize();
  EXPECT_NE(text.find(R"(usp_consumer_lag{job="serve",kind="query",partition="1"} 2)"),
            std::string::npos)
      << text;
}

TEST_F(MaterializerTest, MaterializesSegmentAndSessionTopicsWithTheirOffsets) {
  source_.AddTopic("usp.segment.planner", 2);
  source_.AddTopic("usp.session.engagement", 2);
  options_.segment_topics = {{"usp.segment.planner", {"planner"}}};
  options_.session_topics = {{"usp.session.engagement", {"engagement"}}};
  EXPECT_EQ(options_.AllTopics(),
            (std::vector<std::string>{"usp.segment.planner", "usp.session.engagement",
                                      "usp.signal.search", "usp.signal.view"}));
  source_.Append(
      "usp.segment.planner", 0,
      SerializeSegmentRecord({"u1", "planner", true, 1000, 5000, 1000, SegmentReason::kEnter}));
  source_.Append(
      "usp.segment.planner", 0,
      SerializeSegmentRecord({"u1", "planner", true, 1000, 8000, 4000, SegmentReason::kEnter}));
  source_.Append(
      "usp.segment.planner", 0,
      SerializeSegmentRecord({"u1", "other", true, 1000, 5000, 1000, SegmentReason::kEnter}));
  source_.Append("usp.segment.planner", 0, Json("u1", "search", 10, "signal-on-segment-topic"));
  source_.Append(
      "usp.session.engagement", 1,
      SerializeSessionRecord({"u1", "engagement", 0, 1000, R"({"n":1})", std::nullopt, 1100}));
  source_.Append(
      "usp.session.engagement", 1,
      SerializeSessionRecord({"u1", "engagement", 0, 1000, R"({"n":1})", R"({"s":1})", 1200}));
  source_.Append("usp.session.engagement", 1,
                 SerializeSessionRecord({"u1", "nope", 0, 1000, "{}", std::nullopt, 1100}));
  auto m = Make();
  ASSERT_TRUE(m->Start().ok());
  EXPECT_EQ(source_.assigned_.size(), 8u);
  EXPECT_FALSE(m->caught_up());
  DrainAll(m.get());
  EXPECT_TRUE(m->caught_up());
  EXPECT_EQ(probe_.written(), 4);
  EXPECT_EQ(probe_.failed("unknown_segment"), 1);
  EXPECT_EQ(probe_.failed("unknown_job"), 1);
  EXPECT_EQ(probe_.failed("parse"), 1);

  SegmentQuery sq;
  sq.user_id = "u1";
  auto segments = store_->QuerySegments(sq);
  ASSERT_TRUE(segments.ok());
  ASSERT_EQ(segments->size(), 1u);
  EXPECT_EQ((*segments)[0].expiration, 8000);
  SessionQuery wq;
  wq.user_id = "u1";
  auto sessions = store_->QuerySessions(wq);
  ASSERT_TRUE(sessions.ok());
  ASSERT_EQ(sessions->size(), 1u);
  EXPECT_EQ((*sessions)[0].async_result_json, std::optional<std::string>(R"({"s":1})"));

  auto offsets = store_->ReadOffsets();
  ASSERT_TRUE(offsets.ok());
  EXPECT_EQ(*offsets, (std::vector<PartitionOffset>{{"usp.segment.planner", 0, 4},
                                                    {"usp.session.engagement", 1, 3}}));
}

TEST_F(MaterializerTest, RejectsATopicNamedForTwoKinds) {
  options_.segment_topics = {{"usp.signal.view", {"planner"}}};
  auto m = Make();
  EXPECT_EQ(m->Start().code(), Status::Code::kInvalidArgument);
}

TEST(DiscoverPartitionCount, ReturnsTheSharedCountOrExplainsWhy) {
  FakeSignalSource source;
  source.AddTopic("a", 4);
  source.AddTopic("b", 4);
  source.AddTopic("c", 2);
  auto shared = DiscoverPartitionCount(&source, {"a", "b"}, 10);
  ASSERT_TRUE(shared.ok());
  EXPECT_EQ(*shared, 4);
  EXPECT_EQ(DiscoverPartitionCount(&source, {"a", "c"}, 10).status().code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(DiscoverPartitionCount(&source, {"a", "missing"}, 10).status().code(),
            Status::Code::kNotFound);
}

}  // namespace
}  // namespace usp
