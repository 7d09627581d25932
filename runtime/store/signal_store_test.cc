#include "runtime/store/signal_store.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <functional>
#include <random>
#include <thread>

#include "core/murmur2.h"

namespace usp {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "usp-store-XXXXXX").string();
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

SignalRecord Rec(std::string user, std::string signal, int64_t event_time, std::string event_id,
                 int64_t version, std::string attributes = "{}") {
  return SignalRecord{std::move(user),     std::move(signal), event_time,
                      std::move(event_id), version,           std::move(attributes)};
}

std::unique_ptr<SignalStore> OpenStore(const fs::path& dir, int32_t partitions = 8) {
  SignalStoreOptions options;
  options.partitions = partitions;
  auto store = SignalStore::Open(dir, options);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  return store.ok() ? std::move(store).value() : nullptr;
}

std::vector<SignalRecord> QueryUser(const SignalStore& store, const std::string& user,
                                    std::set<std::string, std::less<>> types = {},
                                    int64_t start = std::numeric_limits<int64_t>::min(),
                                    int64_t end = std::numeric_limits<int64_t>::max(),
                                    int32_t limit = 100) {
  SignalQuery q;
  q.user_id = user;
  q.types = std::move(types);
  q.start = start;
  q.end = end;
  q.limit = limit;
  auto result = store.Query(q);
  EXPECT_TRUE(result.ok()) << result.status().ToString();
  return result.ok() ? std::move(result).value() : std::vector<SignalRecord>{};
}

std::vector<std::string> EventIds(const std::vector<SignalRecord>& records) {
  std::vector<std::string> ids;
  for (const auto& r : records) ids.push_back(r.event_id);
  return ids;
}

class SignalStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { store_ = OpenStore(dir_.path()); }
  void Write(const std::vector<SignalRecord>& records) {
    ASSERT_TRUE(store_->Write(records, {}).ok());
  }
  TempDir dir_;
  std::unique_ptr<SignalStore> store_;
};

TEST_F(SignalStoreTest, ReturnsAWrittenRecordExactly) {
  SignalRecord r = Rec("u1", "search", 1000, "e1", 5000, R"({"q":"paris"})");
  Write({r});
  EXPECT_EQ(QueryUser(*store_, "u1"), std::vector<SignalRecord>{r});
}

TEST_F(SignalStoreTest, ReplayingARecordIsANoOp) {
  SignalRecord r = Rec("u1", "search", 1000, "e1", 5000, R"({"q":"paris"})");
  Write({r});
  Write({r, r});
  EXPECT_EQ(QueryUser(*store_, "u1"), std::vector<SignalRecord>{r});
}

TEST_F(SignalStoreTest, ANewerVersionWins) {
  Write({Rec("u1", "search", 1000, "e1", 5000, R"({"v":1})")});
  Write({Rec("u1", "search", 1000, "e1", 6000, R"({"v":2})")});
  auto got = QueryUser(*store_, "u1");
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].version, 6000);
  EXPECT_EQ(got[0].attributes_json, R"({"v":2})");
}

TEST_F(SignalStoreTest, AnOlderVersionWrittenLaterLoses) {
  Write({Rec("u1", "search", 1000, "e1", 6000, R"({"v":2})")});
  Write({Rec("u1", "search", 1000, "e1", 5000, R"({"v":1})")});
  auto got = QueryUser(*store_, "u1");
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].version, 6000);
  EXPECT_EQ(got[0].attributes_json, R"({"v":2})");
}

TEST_F(SignalStoreTest, IdentityDiffersByEventIdAndBySignal) {
  Write({Rec("u1", "search", 1000, "e1", 1), Rec("u1", "search", 1000, "e2", 1),
         Rec("u1", "view", 1000, "e1", 1)});
  EXPECT_EQ(QueryUser(*store_, "u1").size(), 3u);
}

TEST_F(SignalStoreTest, ReturnsNewestEventTimeFirst) {
  Write({Rec("u1", "s", 2000, "b", 1), Rec("u1", "s", 1000, "a", 1), Rec("u1", "s", 3000, "c", 1),
         Rec("u1", "s", -5, "neg", 1)});
  EXPECT_EQ(EventIds(QueryUser(*store_, "u1")), (std::vector<std::string>{"c", "b", "a", "neg"}));
}

TEST_F(SignalStoreTest, FiltersByTypes) {
  Write({Rec("u1", "search", 3, "s3", 1), Rec("u1", "view", 2, "v2", 1),
         Rec("u1", "booking", 1, "b1", 1)});
  EXPECT_EQ(EventIds(QueryUser(*store_, "u1", {"search", "booking"})),
            (std::vector<std::string>{"s3", "b1"}));
  EXPECT_EQ(EventIds(QueryUser(*store_, "u1", {"view"})), (std::vector<std::string>{"v2"}));
  EXPECT_TRUE(QueryUser(*store_, "u1", {"nothing"}).empty());
}

TEST_F(SignalStoreTest, StartIsInclusiveAndEndExclusive) {
  std::vector<SignalRecord> records;
  for (int t = 1; t <= 5; ++t) records.push_back(Rec("u1", "s", t * 100, std::to_string(t), 1));
  Write(records);
  EXPECT_EQ(EventIds(QueryUser(*store_, "u1", {}, 200, 400)), (std::vector<std::string>{"3", "2"}));
  EXPECT_EQ(EventIds(QueryUser(*store_, "u1", {}, 500)), (std::vector<std::string>{"5"}));
  EXPECT_EQ(EventIds(QueryUser(*store_, "u1", {}, std::numeric_limits<int64_t>::min(), 101)),
            (std::vector<std::string>{"1"}));
  EXPECT_TRUE(QueryUser(*store_, "u1", {}, 300, 300).empty());
  EXPECT_TRUE(QueryUser(*store_, "u1", {}, 400, 200).empty());
}

TEST_F(SignalStoreTest, LimitKeepsTheNewest) {
  std::vector<SignalRecord> records;
  for (int t = 1; t <= 10; ++t) records.push_back(Rec("u1", "s", t, std::to_string(t), 1));
  Write(records);
  EXPECT_EQ(EventIds(QueryUser(*store_, "u1", {}, std::numeric_limits<int64_t>::min(),
                               std::numeric_limits<int64_t>::max(), 3)),
            (std::vector<std::string>{"10", "9", "8"}));
  EXPECT_TRUE(QueryUser(*store_, "u1", {}, std::numeric_limits<int64_t>::min(),
                        std::numeric_limits<int64_t>::max(), 0)
                  .empty());
}

TEST_F(SignalStoreTest, LimitCountsIdentitiesNotVersions) {
  Write({Rec("u1", "s", 2, "b", 1), Rec("u1", "s", 2, "b", 2), Rec("u1", "s", 2, "b", 3),
         Rec("u1", "s", 1, "a", 1)});
  EXPECT_EQ(EventIds(QueryUser(*store_, "u1", {}, std::numeric_limits<int64_t>::min(),
                               std::numeric_limits<int64_t>::max(), 2)),
            (std::vector<std::string>{"b", "a"}));
}

TEST_F(SignalStoreTest, UsersDoNotLeakIntoEachOther) {
  Write({Rec("u1", "s", 1, "a", 1), Rec("u10", "s", 2, "b", 1), Rec("u", "s", 3, "c", 1),
         Rec("u1\x01", "s", 4, "d", 1), Rec("", "s", 5, "e", 1)});
  EXPECT_EQ(EventIds(QueryUser(*store_, "u1")), (std::vector<std::string>{"a"}));
  EXPECT_EQ(EventIds(QueryUser(*store_, "u10")), (std::vector<std::string>{"b"}));
  EXPECT_EQ(EventIds(QueryUser(*store_, "u")), (std::vector<std::string>{"c"}));
  EXPECT_EQ(EventIds(QueryUser(*store_, "")), (std::vector<std::string>{"e"}));
  for (const auto& r : QueryUser(*store_, "u10")) EXPECT_EQ(r.user_id, "u10");
}

TEST_F(SignalStoreTest, AUserWithNoDataGetsAnEmptyList) {
  Write({Rec("u1", "s", 1, "a", 1)});
  EXPECT_TRUE(QueryUser(*store_, "nobody").empty());
}

TEST_F(SignalStoreTest, FreshnessIsTheMaxEventTimePerSignal) {
  EXPECT_TRUE(store_->Freshness().empty());
  Write({Rec("u1", "search", 500, "a", 1), Rec("u2", "search", 900, "b", 1),
         Rec("u1", "view", 100, "c", 1)});
  Write({Rec("u3", "search", 700, "d", 1)});  // older event: no regression
  EXPECT_EQ(store_->Freshness(), (std::map<std::string, int64_t>{{"search", 900}, {"view", 100}}));
}

TEST_F(SignalStoreTest, FreshnessOfOneSignal) {
  EXPECT_EQ(store_->FreshnessOf("search"), std::nullopt);
  Write({Rec("u1", "search", 500, "a", 1), Rec("u2", "search", 900, "b", 1),
         Rec("u1", "view", 100, "c", 1)});
  EXPECT_EQ(store_->FreshnessOf("search"), std::optional<int64_t>(900));
  EXPECT_EQ(store_->FreshnessOf("view"), std::optional<int64_t>(100));
  EXPECT_EQ(store_->FreshnessOf("booking"), std::nullopt);
}

// VisitQuery (the query service's copy-free path) hands out exactly the rows
// Query returns, in the same order, for ranges, types, limits and versions.
TEST_F(SignalStoreTest, VisitQueryVisitsWhatQueryReturns) {
  std::vector<SignalRecord> records;
  for (int t = 1; t <= 30; ++t) {
    records.push_back(Rec("u1", t % 3 == 0 ? "view" : "search", t * 10, "e" + std::to_string(t),
                          1, "{\"t\":" + std::to_string(t) + "}"));
  }
  records.push_back(Rec("u1", "search", 50, "e5", 7, R"({"t":"newer"})"));  // a newer version
  records.push_back(Rec("u10", "search", 60, "other", 1));
  Write(records);
  struct Case {
    std::set<std::string, std::less<>> types;
    int64_t start, end;
    int32_t limit;
  };
  const int64_t kMin = std::numeric_limits<int64_t>::min();
  const int64_t kMax = std::numeric_limits<int64_t>::max();
  for (const Case& c : {Case{{}, kMin, kMax, 100}, Case{{}, 55, 205, 100}, Case{{}, 55, 205, 4},
                        Case{{"view"}, kMin, kMax, 3}, Case{{}, 40, 41, 100},
                        Case{{}, 0, 1000, 0}, Case{{}, 300, 100, 10}}) {
    SignalQuery q;
    q.user_id = "u1";
    q.types = c.types;
    q.start = c.start;
    q.end = c.end;
    q.limit = c.limit;
    auto expected = store_->Query(q);
    ASSERT_TRUE(expected.ok());
    std::vector<SignalRecord> visited;
    ASSERT_TRUE(store_
                    ->VisitQuery(q,
                                 [&](const SignalRowView& row) {
                                   visited.push_back(SignalRecord{
                                       "u1", std::string(row.signal), row.event_time,
                                       std::string(row.event_id), row.version,
                                       std::string(row.attributes_json)});
                                 })
                    .ok());
    EXPECT_EQ(visited, *expected) << "start " << c.start << " end " << c.end << " limit " << c.limit;
  }
  // The newer version of e5 is the one visited.
  SignalQuery q;
  q.user_id = "u1";
  q.start = 50;
  q.end = 51;
  std::string attributes;
  ASSERT_TRUE(store_->VisitQuery(q, [&](const SignalRowView& row) {
    attributes = row.attributes_json;
  }).ok());
  EXPECT_EQ(attributes, R"({"t":"newer"})");
}

TEST_F(SignalStoreTest, OffsetsAndFreshnessSurviveReopen) {
  ASSERT_TRUE(store_
                  ->Write({Rec("u1", "search", 500, "a", 1)},
                          {{"usp.signal.search", 0, 10}, {"usp.signal.search", 3, 7}})
                  .ok());
  ASSERT_TRUE(store_->Write({}, {{"usp.signal.search", 0, 12}, {"usp.signal.view", 1, 1}}).ok());
  store_.reset();
  store_ = OpenStore(dir_.path());
  auto offsets = store_->ReadOffsets();
  ASSERT_TRUE(offsets.ok());
  EXPECT_EQ(*offsets, (std::vector<PartitionOffset>{{"usp.signal.search", 0, 12},
                                                    {"usp.signal.search", 3, 7},
                                                    {"usp.signal.view", 1, 1}}));
  EXPECT_EQ(store_->Freshness(), (std::map<std::string, int64_t>{{"search", 500}}));
  EXPECT_EQ(QueryUser(*store_, "u1").size(), 1u);
}

TEST(SignalStore, RecordsThePartitionCountAndRefusesAnother) {
  TempDir dir;
  {
    SignalStoreOptions options;
    auto fresh = SignalStore::Open(dir.path(), options);
    ASSERT_FALSE(fresh.ok());
    EXPECT_EQ(fresh.status().code(), Status::Code::kInvalidArgument);
  }
  OpenStore(dir.path(), 4).reset();
  SignalStoreOptions options;
  options.partitions = 8;
  auto other = SignalStore::Open(dir.path(), options);
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.status().code(), Status::Code::kInvalidArgument);
  options.partitions = 0;
  auto recorded = SignalStore::Open(dir.path(), options);
  ASSERT_TRUE(recorded.ok()) << recorded.status().ToString();
  EXPECT_EQ((*recorded)->partitions(), 4);
}

TEST(SignalStore, StoresSignalsInAtMostHalfTheirJsonSize) {
  TempDir dir;
  auto store = OpenStore(dir.path());
  std::mt19937 rng(7);
  const char* cities[] = {"Paris", "Berlin", "Tokyo", "New York", "Lisbon", "Nairobi"};
  const char* devices[] = {"ios", "android", "web"};
  size_t raw_bytes = 0;
  constexpr int kRecords = 20000;
  std::vector<SignalRecord> batch;
  for (int i = 0; i < kRecords; ++i) {
    std::string user = "user-" + std::to_string(rng() % 2000);
    std::string attributes =
        std::string(R"({"query":"stays in )") + cities[rng() % 6] + R"(","city":")" +
        cities[rng() % 6] + R"(","device":")" + devices[rng() % 3] + R"(","guests":)" +
        std::to_string(rng() % 6) + R"(,"price":)" + std::to_string(50 + rng() % 500) +
        R"(,"page":"/s/homes","session_id":"sess-)" + std::to_string(rng() % 100000) + R"("})";
    int64_t t = 1700000000000 + static_cast<int64_t>(rng() % 86400000);
    SignalRecord r =
        Rec(user, i % 2 ? "search" : "view", t, "src-0-" + std::to_string(i), t + 150, attributes);
    raw_bytes += SerializeSignalRecord(r).size();
    batch.push_back(std::move(r));
    if (batch.size() == 1000) {
      ASSERT_TRUE(store->Write(batch, {}).ok());
      batch.clear();
    }
  }
  ASSERT_TRUE(store->Flush().ok());
  ASSERT_TRUE(store->Compact().ok());
  auto stats = store->Stats();
  ASSERT_TRUE(stats.ok());
  double ratio = static_cast<double>(stats->sst_bytes) / static_cast<double>(raw_bytes);
  std::printf("compression=%s raw=%zu sst=%llu ratio=%.3f bytes/signal=%.1f\n",
              stats->compression.c_str(), raw_bytes,
              static_cast<unsigned long long>(stats->sst_bytes), ratio,
              static_cast<double>(stats->sst_bytes) / kRecords);
  EXPECT_LE(ratio, 0.5);
}

SegmentRecord Seg(std::string user, std::string segment, bool in, int64_t start,
                  std::optional<int64_t> expiration, int64_t version, SegmentReason reason) {
  return SegmentRecord{std::move(user), std::move(segment), in, start, expiration, version, reason};
}

std::vector<SegmentRecord> QuerySegs(const SignalStore& store, const std::string& user,
                                     int64_t at = std::numeric_limits<int64_t>::max(),
                                     std::set<std::string, std::less<>> segments = {}) {
  SegmentQuery q;
  q.user_id = user;
  q.at = at;
  q.segments = std::move(segments);
  auto result = store.QuerySegments(q);
  EXPECT_TRUE(result.ok()) << result.status().ToString();
  return result.ok() ? std::move(result).value() : std::vector<SegmentRecord>{};
}

TEST(SignalStore, KeepsSegmentHistoryAndAnswersTheLatestMembershipAsOf) {
  TempDir dir;
  auto store = OpenStore(dir.path());
  StoreBatch batch;
  batch.segments = {
      Seg("u1", "planner", true, 1000, 2000, 1000, SegmentReason::kEnter),
      Seg("u1", "planner", true, 1000, 3000, 1500, SegmentReason::kEnter),     // extended
      Seg("u1", "planner", false, 1000, 3000, 3000, SegmentReason::kExpired),  // expired
      Seg("u1", "planner", true, 5000, 6000, 5000, SegmentReason::kEnter),     // re-entered
      Seg("u1", "vip", true, 100, std::nullopt, 100, SegmentReason::kEnter),
      Seg("u10", "planner", true, 1, 2, 1, SegmentReason::kEnter),
  };
  batch.offsets = {{"usp.segment.planner", 0, 6}};
  ASSERT_TRUE(store->Apply(batch).ok());

  auto now = QuerySegs(*store, "u1");
  ASSERT_EQ(now.size(), 2u);
  EXPECT_EQ(now[0], Seg("u1", "planner", true, 5000, 6000, 5000, SegmentReason::kEnter));
  EXPECT_EQ(now[1], Seg("u1", "vip", true, 100, std::nullopt, 100, SegmentReason::kEnter));

  auto past = QuerySegs(*store, "u1", 2500);
  ASSERT_EQ(past.size(), 2u);
  EXPECT_EQ(past[0], Seg("u1", "planner", false, 1000, 3000, 3000, SegmentReason::kExpired));

  EXPECT_EQ(QuerySegs(*store, "u1", 999).size(), 1u);  // only vip had started
  EXPECT_TRUE(QuerySegs(*store, "u1", 99).empty());
  EXPECT_EQ(QuerySegs(*store, "u1", 9999, {"vip"}).size(), 1u);
  EXPECT_TRUE(QuerySegs(*store, "nobody").empty());

  // Replaying an older version later changes nothing.
  StoreBatch replay;
  replay.segments = {Seg("u1", "planner", true, 5000, 5500, 4999, SegmentReason::kEnter)};
  ASSERT_TRUE(store->Apply(replay).ok());
  EXPECT_EQ(QuerySegs(*store, "u1")[0].expiration, 6000);

  auto offsets = store->ReadOffsets();
  ASSERT_TRUE(offsets.ok());
  EXPECT_EQ(*offsets, (std::vector<PartitionOffset>{{"usp.segment.planner", 0, 6}}));
}

TEST(SignalStore, SessionsNewestWindowFirstWithTheNewestVersionOfEachWindow) {
  TempDir dir;
  auto store = OpenStore(dir.path());
  StoreBatch batch;
  batch.sessions = {
      {"u1", "engagement", 0, 1000, R"({"n":1})", std::nullopt, 1100},
      {"u1", "engagement", 1000, 2000, R"({"n":2})", std::nullopt, 2100},
      {"u1", "engagement", 1000, 2000, R"({"n":2})", R"({"score":0.9})", 2500},  // async
      {"u1", "clicks", 500, 1500, R"({"c":4})", std::nullopt, 1600},
      {"u2", "engagement", 0, 1000, R"({"n":7})", std::nullopt, 1100},
  };
  ASSERT_TRUE(store->Apply(batch).ok());
  // An older version arriving later loses.
  StoreBatch late;
  late.sessions = {{"u1", "engagement", 1000, 2000, R"({"n":0})", std::nullopt, 2000}};
  ASSERT_TRUE(store->Apply(late).ok());

  SessionQuery q;
  q.user_id = "u1";
  auto all = store->QuerySessions(q);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].window_end, 2000);
  EXPECT_EQ((*all)[0].version, 2500);
  EXPECT_EQ((*all)[0].async_result_json, std::optional<std::string>(R"({"score":0.9})"));
  EXPECT_EQ((*all)[1].job, "clicks");
  EXPECT_EQ((*all)[2].window_end, 1000);
  EXPECT_EQ((*all)[2].user_id, "u1");

  q.jobs = {"engagement"};
  q.limit = 1;
  auto one = store->QuerySessions(q);
  ASSERT_TRUE(one.ok());
  ASSERT_EQ(one->size(), 1u);
  EXPECT_EQ((*one)[0].window_end, 2000);

  q.user_id = "nobody";
  auto none = store->QuerySessions(q);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST(SignalStore, ProfileReadsEveryKindAndSurvivesAReopen) {
  TempDir dir;
  {
    auto store = OpenStore(dir.path());
    StoreBatch batch;
    batch.signals = {Rec("u1", "search", 1000, "e1", 1100)};
    batch.segments = {Seg("u1", "planner", true, 1000, 9000, 1100, SegmentReason::kEnter)};
    batch.sessions = {{"u1", "engagement", 0, 1000, "{}", std::nullopt, 1100}};
    ASSERT_TRUE(store->Apply(batch).ok());
  }
  auto store = OpenStore(dir.path(), 0);
  SignalQuery signals;
  signals.user_id = "u1";
  SegmentQuery segments;
  segments.user_id = "u1";
  SessionQuery sessions;
  sessions.user_id = "u1";
  auto profile = store->QueryProfile(signals, segments, sessions);
  ASSERT_TRUE(profile.ok()) << profile.status().ToString();
  EXPECT_EQ(profile->signals.size(), 1u);
  EXPECT_EQ(profile->segments.size(), 1u);
  EXPECT_EQ(profile->sessions.size(), 1u);
}

// ---- Full scans ----

std::vector<SignalRecord> ScanAllSignals(const SignalStore& store, const StoreScan& scan = {}) {
  std::vector<SignalRecord> out;
  Status s = store.ScanSignals(scan, [&](const SignalRecord& r) {
    out.push_back(r);
    return true;
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

std::vector<SegmentRecord> ScanAllSegments(const SignalStore& store, const StoreScan& scan = {}) {
  std::vector<SegmentRecord> out;
  Status s = store.ScanSegments(scan, [&](const SegmentRecord& r) {
    out.push_back(r);
    return true;
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

std::vector<SessionRecord> ScanAllSessions(const SignalStore& store, const StoreScan& scan = {}) {
  std::vector<SessionRecord> out;
  Status s = store.ScanSessions(scan, [&](const SessionRecord& r) {
    out.push_back(r);
    return true;
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

template <typename Record>
void SortByUser(std::vector<Record>* records) {
  std::stable_sort(records->begin(), records->end(),
                   [](const Record& a, const Record& b) { return a.user_id < b.user_id; });
}

StoreBatch ScanFixture() {
  StoreBatch batch;
  batch.signals = {
      Rec("u1", "search", 1000, "e1", 1100, R"({"q":"old"})"),
      Rec("u1", "search", 1000, "e1", 1200, R"({"q":"new"})"),  // newer version
      Rec("u1", "search", 1000, "e1", 1150, R"({"q":"mid"})"),
      Rec("u1", "booking", 2000, "e2", 2100),
      Rec("u10", "search", 3000, "e3", 3100),
      Rec("u2", "view", 4000, "e4", 4100),
  };
  batch.segments = {
      Seg("u1", "planner", true, 1000, 2000, 1000, SegmentReason::kEnter),
      Seg("u1", "planner", false, 1000, 3000, 3000, SegmentReason::kExpired),  // newest
      Seg("u1", "planner", true, 5000, 6000, 5000, SegmentReason::kEnter),     // 2nd membership
      Seg("u2", "vip", true, 100, std::nullopt, 100, SegmentReason::kEnter),
  };
  batch.sessions = {
      {"u1", "engagement", 0, 1000, R"({"n":1})", std::nullopt, 1100},
      {"u1", "engagement", 0, 1000, R"({"n":1})", R"({"score":0.5})", 1300},  // newest
      {"u1", "clicks", 500, 1500, R"({"c":4})", std::nullopt, 1600},
      {"u3", "engagement", 1000, 2000, R"({"n":2})", std::nullopt, 2100},
  };
  return batch;
}

TEST(SignalStoreScan, VisitsTheNewestVersionOfEveryIdentityOfEveryKind) {
  TempDir dir;
  auto store = OpenStore(dir.path());
  ASSERT_TRUE(store->Apply(ScanFixture()).ok());
  // Half the rows in table files, half in the memtable: a scan merges both.
  ASSERT_TRUE(store->Flush().ok());
  StoreBatch later;
  later.signals = {Rec("u1", "search", 1000, "e1", 1050, R"({"q":"stale"})")};  // loses
  ASSERT_TRUE(store->Apply(later).ok());

  auto signals = ScanAllSignals(*store);
  SortByUser(&signals);
  EXPECT_EQ(signals, (std::vector<SignalRecord>{
                         Rec("u1", "booking", 2000, "e2", 2100),
                         Rec("u1", "search", 1000, "e1", 1200, R"({"q":"new"})"),
                         Rec("u10", "search", 3000, "e3", 3100),
                         Rec("u2", "view", 4000, "e4", 4100),
                     }));

  auto segments = ScanAllSegments(*store);
  SortByUser(&segments);
  EXPECT_EQ(segments, (std::vector<SegmentRecord>{
                          Seg("u1", "planner", true, 5000, 6000, 5000, SegmentReason::kEnter),
                          Seg("u1", "planner", false, 1000, 3000, 3000, SegmentReason::kExpired),
                          Seg("u2", "vip", true, 100, std::nullopt, 100, SegmentReason::kEnter),
                      }));

  auto sessions = ScanAllSessions(*store);
  SortByUser(&sessions);
  EXPECT_EQ(sessions, (std::vector<SessionRecord>{
                          {"u1", "clicks", 500, 1500, R"({"c":4})", std::nullopt, 1600},
                          {"u1", "engagement", 0, 1000, R"({"n":1})", R"({"score":0.5})", 1300},
                          {"u3", "engagement", 1000, 2000, R"({"n":2})", std::nullopt, 2100},
                      }));
}

TEST(SignalStoreScan, VisitsRowsInPartitionThenUserOrder) {
  TempDir dir;
  auto store = OpenStore(dir.path(), 4);
  StoreBatch batch;
  for (int i = 0; i < 40; ++i) {
    batch.signals.push_back(Rec("user-" + std::to_string(i), "s", 1000 + i, "e", 1));
  }
  ASSERT_TRUE(store->Apply(batch).ok());
  auto signals = ScanAllSignals(*store);
  ASSERT_EQ(signals.size(), 40u);
  for (size_t i = 1; i < signals.size(); ++i) {
    int32_t a = PartitionForKey(signals[i - 1].user_id, 4);
    int32_t b = PartitionForKey(signals[i].user_id, 4);
    EXPECT_LE(a, b) << signals[i - 1].user_id << " before " << signals[i].user_id;
  }
}

TEST(SignalStoreScan, FiltersByNameAndByTheTimeOfEachKind) {
  TempDir dir;
  auto store = OpenStore(dir.path());
  ASSERT_TRUE(store->Apply(ScanFixture()).ok());

  StoreScan search;
  search.names = {"search"};
  auto signals = ScanAllSignals(*store, search);
  ASSERT_EQ(signals.size(), 2u);
  for (const auto& r : signals) EXPECT_EQ(r.signal, "search");

  // Signals by event_time: [2000, 4000) holds e2 (2000) and e3 (3000), not e4 (4000).
  StoreScan range;
  range.start = 2000;
  range.end = 4000;
  auto in_range = ScanAllSignals(*store, range);
  std::vector<std::string> ids = EventIds(in_range);
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(ids, (std::vector<std::string>{"e2", "e3"}));

  // Segments by start: [1000, 5000) holds the first planner membership only.
  StoreScan seg_range;
  seg_range.start = 1000;
  seg_range.end = 5000;
  EXPECT_EQ(ScanAllSegments(*store, seg_range),
            (std::vector<SegmentRecord>{
                Seg("u1", "planner", false, 1000, 3000, 3000, SegmentReason::kExpired)}));
  StoreScan vip;
  vip.names = {"vip"};
  ASSERT_EQ(ScanAllSegments(*store, vip).size(), 1u);
  EXPECT_EQ(ScanAllSegments(*store, vip)[0].user_id, "u2");

  // Sessions by window_end: [1000, 2000) holds the two windows ending at 1000 and 1500.
  StoreScan win;
  win.start = 1000;
  win.end = 2000;
  auto sessions = ScanAllSessions(*store, win);
  ASSERT_EQ(sessions.size(), 2u);
  for (const auto& r : sessions) EXPECT_EQ(r.user_id, "u1");
  StoreScan clicks;
  clicks.names = {"clicks"};
  ASSERT_EQ(ScanAllSessions(*store, clicks).size(), 1u);

  StoreScan empty;
  empty.start = 10;
  empty.end = 10;
  EXPECT_TRUE(ScanAllSignals(*store, empty).empty());
  StoreScan unknown;
  unknown.names = {"nope"};
  EXPECT_TRUE(ScanAllSessions(*store, unknown).empty());
}

TEST(SignalStoreScan, StopsWhenTheVisitorSaysSo) {
  TempDir dir;
  auto store = OpenStore(dir.path());
  ASSERT_TRUE(store->Apply(ScanFixture()).ok());
  int seen = 0;
  ASSERT_TRUE(store->ScanSignals({}, [&](const SignalRecord&) { return ++seen < 2; }).ok());
  EXPECT_EQ(seen, 2);
  seen = 0;
  ASSERT_TRUE(store->ScanSegments({}, [&](const SegmentRecord&) { return ++seen < 1; }).ok());
  EXPECT_EQ(seen, 1);
  seen = 0;
  ASSERT_TRUE(store->ScanSessions({}, [&](const SessionRecord&) { return ++seen < 3; }).ok());
  EXPECT_EQ(seen, 3);
}

TEST(SignalStoreReadOnly, ReadsWhileTheWriterKeepsTheStoreOpenAndWriting) {
  TempDir dir;
  auto writer = OpenStore(dir.path());
  ASSERT_TRUE(writer->Apply(ScanFixture()).ok());
  ASSERT_TRUE(writer->Flush().ok());
  // Not flushed: only in the writer's WAL and memtable.
  StoreBatch unflushed;
  unflushed.signals = {Rec("u9", "search", 9000, "e9", 9100)};
  unflushed.offsets = {{"usp.signal.search", 0, 42}};
  ASSERT_TRUE(writer->Apply(unflushed).ok());

  auto reader = SignalStore::OpenReadOnly(dir.path());
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  EXPECT_EQ((*reader)->partitions(), 8);
  EXPECT_EQ(ScanAllSignals(**reader).size(), 5u);
  EXPECT_EQ(ScanAllSegments(**reader).size(), 3u);
  EXPECT_EQ(ScanAllSessions(**reader).size(), 3u);
  EXPECT_EQ(QueryUser(**reader, "u9").size(), 1u);
  EXPECT_EQ((*reader)->Freshness().at("search"), 9000);
  auto offsets = (*reader)->ReadOffsets();
  ASSERT_TRUE(offsets.ok());
  EXPECT_EQ(*offsets, (std::vector<PartitionOffset>{{"usp.signal.search", 0, 42}}));

  // The writer keeps working, and compacts files the reader has open.
  StoreBatch more;
  more.signals = {Rec("u8", "search", 8000, "e8", 8100)};
  ASSERT_TRUE(writer->Apply(more).ok());
  ASSERT_TRUE(writer->Flush().ok());
  ASSERT_TRUE(writer->Compact().ok());
  EXPECT_EQ(QueryUser(*writer, "u8").size(), 1u);
  // The reader sees the store as it was when opened.
  EXPECT_EQ(ScanAllSignals(**reader).size(), 5u);
  SignalQuery u1;
  u1.user_id = "u1";
  SegmentQuery s1;
  s1.user_id = "u1";
  SessionQuery w1;
  w1.user_id = "u1";
  auto profile = (*reader)->QueryProfile(u1, s1, w1);
  ASSERT_TRUE(profile.ok()) << profile.status().ToString();
  EXPECT_EQ(profile->signals.size(), 2u);

  // A reader opened later sees the later write.
  auto later = SignalStore::OpenReadOnly(dir.path());
  ASSERT_TRUE(later.ok()) << later.status().ToString();
  EXPECT_EQ(ScanAllSignals(**later).size(), 6u);
}

TEST(SignalStoreReadOnly, OpensAndScansWhileTheWriterWritesFlushesAndCompacts) {
  TempDir dir;
  auto writer = OpenStore(dir.path());
  std::atomic<bool> stop{false};
  std::atomic<int> batches{0};
  Status writer_status;
  std::thread writing([&] {
    for (int i = 0; !stop.load() && writer_status.ok(); ++i) {
      StoreBatch batch;
      for (int j = 0; j < 50; ++j) {
        batch.signals.push_back(Rec("u" + std::to_string(j), "s", i, "e" + std::to_string(i), 1));
      }
      writer_status = writer->Apply(batch);
      batches.fetch_add(1);
      if (writer_status.ok() && i % 5 == 4) writer_status = writer->Flush();
      if (writer_status.ok() && i % 20 == 19) writer_status = writer->Compact();
    }
  });
  size_t last = 0;
  for (int k = 0; k < 15; ++k) {
    auto reader = SignalStore::OpenReadOnly(dir.path());
    ASSERT_TRUE(reader.ok()) << reader.status().ToString();
    size_t rows = ScanAllSignals(**reader).size();
    EXPECT_EQ(rows % 50, 0u) << "a batch is seen whole or not at all";
    EXPECT_GE(rows, last) << "a later reader sees at least what an earlier one saw";
    last = rows;
  }
  stop.store(true);
  writing.join();
  ASSERT_TRUE(writer_status.ok()) << writer_status.ToString();
  EXPECT_GT(batches.load(), 0);
}

TEST(SignalStoreReadOnly, RefusesWrites) {
  TempDir dir;
  { auto writer = OpenStore(dir.path()); }
  auto reader = SignalStore::OpenReadOnly(dir.path());
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  Status s = (*reader)->Write({Rec("u1", "search", 1, "e", 1)}, {});
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(s.message().find("read-only"), std::string::npos) << s.message();
  EXPECT_TRUE(ScanAllSignals(**reader).empty());
}

TEST(SignalStoreReadOnly, AMissingStoreIsNotFoundAndNothingIsCreated) {
  TempDir dir;
  fs::path missing = dir.path() / "no-store";
  auto reader = SignalStore::OpenReadOnly(missing);
  ASSERT_FALSE(reader.ok());
  EXPECT_EQ(reader.status().code(), Status::Code::kNotFound);
  EXPECT_NE(reader.status().message().find(missing.string()), std::string::npos);
  EXPECT_FALSE(fs::exists(missing));
  auto empty = SignalStore::OpenReadOnly(dir.path());
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.status().code(), Status::Code::kNotFound);
}

}  // namespace
}  // namespace usp
