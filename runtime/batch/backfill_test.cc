// `usp-runtime backfill` end to end on files and a real store (RocksDB in a
// temp dir): gzip / kcat input, writes that win by version, idempotent
// reruns, the parity report's categories and exit codes, resume.
#include "runtime/batch/backfill.h"

#include <gtest/gtest.h>

#include <fstream>

#include "runtime/batch/batch_input.h"
#include "runtime/batch/batch_pipeline.h"
#include "runtime/batch/batch_test_util.h"
#include "runtime/batch/batch_writer.h"
#include "runtime/batch/checkpoint.h"
#include "runtime/store/signal_store.h"

namespace usp {
namespace {

using namespace batch_testing;
namespace fs = std::filesystem;

SignalQuery UserQuery(const std::string& user, int32_t limit = 100) {
  SignalQuery q;
  q.user_id = user;
  q.limit = limit;
  return q;
}

class BackfillTest : public ::testing::Test {
 protected:
  void SetUp() override {
    resources_ = dir_.path() / "resources.yaml";
    std::ofstream(resources_) << kResourcesYaml;
    events_ = History();
    input_ = dir_.path() / "events.jsonl.gz";
    WriteKcatFile(input_, events_, /*gzip=*/true);
    store_dir_ = dir_.path() / "store";
    auto store = SignalStore::Open(store_dir_, {kPartitions});
    ASSERT_TRUE(store.ok()) << store.status().ToString();
  }

  BackfillOptions Options(const std::string& job) const {
    BackfillOptions o;
    o.resources = resources_.string();
    o.job = job;
    o.inputs = {input_.string()};
    o.store_dir = store_dir_.string();
    o.version = 2'000'000'000'000;
    return o;
  }

  std::unique_ptr<SignalStore> OpenStore(const fs::path& dir) const {
    auto store = SignalStore::Open(dir, {kPartitions});
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return store.ok() ? std::move(store).value() : nullptr;
  }

  BatchRows StoreRows(const fs::path& dir, RowKind kind, const std::string& job) const {
    BatchRows rows;
    auto store = OpenStore(dir);
    EXPECT_TRUE(LoadStoreRows(*store, kind, job, ParityRange{}, &rows).ok());
    return rows;
  }

  TempDir dir_;
  fs::path resources_;
  fs::path input_;
  fs::path store_dir_;
  std::vector<Event> events_;
};

TEST_F(BackfillTest, ReadsGzipKcatEnvelopesAndBareEvents) {
  // kcat -J envelopes, gzip-compressed: every field comes through.
  auto reader = InputFileReader::Open({input_.string(), ""});
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  BatchInputRecord r;
  std::vector<BatchInputRecord> read;
  while (true) {
    auto more = (*reader)->Next(&r);
    ASSERT_TRUE(more.ok()) << more.status().ToString();
    if (!*more) break;
    read.push_back(r);
  }
  ASSERT_EQ(read.size(), events_.size());
  for (size_t i = 0; i < read.size(); ++i) {
    EXPECT_EQ(read[i].topic, events_[i].record.topic);
    EXPECT_EQ(read[i].offset, events_[i].record.offset);
    EXPECT_EQ(read[i].timestamp_ms, events_[i].record.timestamp_ms);
    EXPECT_EQ(read[i].payload, events_[i].record.payload);
  }
  EXPECT_EQ((*reader)->bytes_read(), (*reader)->total_bytes());
  EXPECT_LT((*reader)->total_bytes(), 4000) << "compressed";

  // A hand-written kcat line with a tombstone and a bad line; bare events.
  const fs::path kcat = dir_.path() / "dump.jsonl";
  std::ofstream(kcat)
      << R"({"topic":"raw.search","partition":2,"offset":7,"tstype":"create","ts":1700000000123,"broker":1,"key":"u1","payload":"{\"user_id\":\"u1\"}"})"
      << "\n"
      << R"({"topic":"raw.search","partition":2,"offset":8,"ts":1700000000124,"key":"u1","payload":null})"
      << "\nnot an envelope\n";
  auto k = InputFileReader::Open(ParseInputFlag(kcat.string()));
  ASSERT_TRUE(k.ok());
  ASSERT_TRUE(*(*k)->Next(&r));
  EXPECT_EQ(r.partition, 2);
  EXPECT_EQ(r.offset, 7);
  EXPECT_EQ(r.timestamp_ms, 1700000000123);
  EXPECT_EQ(r.payload, R"({"user_id":"u1"})");
  EXPECT_FALSE(*(*k)->Next(&r));
  EXPECT_EQ((*k)->bad_lines(), 1);

  const fs::path bare = dir_.path() / "bare.jsonl";
  std::ofstream(bare) << SearchJson("u1", kT0, "Lisbon", "a") << "\n\n"
                      << SearchJson("u2", kT0 + 1, "Porto", "b") << "\n";
  InputFileSpec spec = ParseInputFlag("raw.search=" + bare.string());
  EXPECT_EQ(spec.topic, "raw.search");
  EXPECT_EQ(spec.path, bare.string());
  EXPECT_EQ(ParseInputFlag("/tmp/a=b.jsonl").topic, "") << "a path, not TOPIC=FILE";
  auto b = InputFileReader::Open(spec);
  ASSERT_TRUE(b.ok());
  ASSERT_TRUE(*(*b)->Next(&r));
  EXPECT_EQ(r.topic, "raw.search");
  EXPECT_EQ(r.timestamp_ms, -1);
  ASSERT_TRUE(*(*b)->Next(&r));
  EXPECT_EQ(r.offset, 2) << "line 3";
  EXPECT_FALSE(*(*b)->Next(&r));
}

TEST_F(BackfillTest, BareEventsAreTimedByTheirEventTime) {
  const fs::path bare = dir_.path() / "bare.jsonl";
  std::ofstream(bare) << SearchJson("u1", kT0 + 5000, "Lisbon", "a") << "\n"
                      << SearchJson("u1", kT0, "Porto", "b") << "\n";
  BackfillOptions o = Options("searches");
  o.inputs = {"raw.search=" + bare.string()};
  auto summary = RunBackfill(o);
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  EXPECT_EQ(summary->rows, 2);
  auto store = OpenStore(store_dir_);
  auto rows = store->Query(UserQuery("u1"));
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[0].event_time, kT0 + 5000);
  EXPECT_EQ((*rows)[1].event_id, "b");
}

TEST_F(BackfillTest, WritesRowsAndASecondRunChangesNothing) {
  auto first = RunBackfill(Options("browsing"));
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->events, static_cast<int64_t>(events_.size()));
  EXPECT_EQ(first->invalid, 1);
  ASSERT_GT(first->rows, 10);
  EXPECT_EQ(first->written, first->rows);
  BatchRows stored = StoreRows(store_dir_, RowKind::kSession, "browsing");
  EXPECT_EQ(static_cast<int64_t>(stored.sessions.size()), first->rows);
  for (const auto& [id, r] : stored.sessions) EXPECT_EQ(r.version, 2'000'000'000'000);

  BackfillOptions again = Options("browsing");
  again.version = 2'000'000'000'500;  // even a newer version: same content is skipped
  auto second = RunBackfill(again);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->written, 0);
  EXPECT_EQ(second->unchanged, first->rows);
  BatchRows after = StoreRows(store_dir_, RowKind::kSession, "browsing");
  for (const auto& [id, r] : after.sessions) EXPECT_EQ(r.version, 2'000'000'000'000);
}

TEST_F(BackfillTest, ACorrectionWinsByVersionOverTheOnlineRow) {
  // The online path wrote the searches (version = processing time ~ kT0).
  {
    auto online = RunOnlineSignal(*LoadTestResources()[0].user_signal, events_);
    auto store = OpenStore(store_dir_);
    StoreBatch batch;
    for (const auto& e : online) batch.signals.push_back(*ParseSignalRecord(e.value));
    ASSERT_TRUE(store->Apply(batch).ok());
    auto rows = store->Query(UserQuery("u1", 1));
    ASSERT_EQ(rows->size(), 1u);
    EXPECT_EQ(rows->front().attributes_json.find("id"), std::string::npos);
  }
  // The transform changed: attributes gain the event id. Backfill it.
  std::string yaml = kResourcesYaml;
  yaml.replace(yaml.find("attributes: {city: /city}"), 25,
               "attributes: {city: /city, id: /event_id}");
  std::ofstream(resources_) << yaml;
  auto fix = RunBackfill(Options("searches"));
  ASSERT_TRUE(fix.ok()) << fix.status().ToString();
  EXPECT_EQ(fix->written, fix->rows);
  {
    auto store = OpenStore(store_dir_);
    auto rows = store->Query(UserQuery("u1", 1));
    ASSERT_EQ(rows->size(), 1u);
    EXPECT_EQ(rows->front().version, 2'000'000'000'000);
    EXPECT_NE(rows->front().attributes_json.find("\"id\":\"s"), std::string::npos)
        << rows->front().attributes_json;
  }
  auto again = RunBackfill(Options("searches"));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->written, 0);
  EXPECT_EQ(again->unchanged, fix->rows);
}

TEST_F(BackfillTest, TheStoreLockedByAQueryServiceIsReportedClearly) {
  auto held = OpenStore(store_dir_);  // what a running `usp-runtime serve` does
  auto r = RunBackfill(Options("searches"));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("is a query service (usp-runtime serve) running on it"),
            std::string::npos)
      << r.status().message();
}

// argv for RunBackfillCommand.
int Command(std::vector<std::string> args) {
  args.insert(args.begin(), "backfill");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return RunBackfillCommand(static_cast<int>(argv.size()), argv.data());
}

TEST_F(BackfillTest, ParityReportFindsEachInjectedDifference) {
  ASSERT_TRUE(RunBackfill(Options("browsing")).ok());
  const std::vector<std::string> compare = {
      "--resources",   resources_.string(), "--job",       "browsing",         "--input",
      input_.string(), "--compare",         "--store-dir", store_dir_.string()};
  EXPECT_EQ(Command(compare), 0) << "identical store";

  // An "online" store that lost a row, has an extra one, differs in one
  // aggregation and has one session window shifted.
  BatchRows good = StoreRows(store_dir_, RowKind::kSession, "browsing");
  ASSERT_GT(good.sessions.size(), 6u);
  std::map<std::string, std::vector<SessionRecord>> by_user;
  for (const auto& [id, r] : good.sessions) by_user[r.user_id].push_back(r);
  ASSERT_GE(by_user.size(), 3u);
  const SessionRecord deleted = by_user["u1"][0];
  const SessionRecord changed = by_user["u2"][0];
  const SessionRecord shifted = by_user["u3"][0];
  const fs::path online_dir = dir_.path() / "online";
  {
    auto store = OpenStore(online_dir);
    StoreBatch batch;
    for (const auto& [id, r] : good.sessions) {
      SessionRecord row = r;
      row.version = 5;
      if (IdentityOf(r) == IdentityOf(deleted)) continue;
      if (IdentityOf(r) == IdentityOf(changed)) row.aggregations_json = R"({"cities":9,"n":99})";
      if (IdentityOf(r) == IdentityOf(shifted)) row.window_end += kMinute;
      batch.sessions.push_back(row);
    }
    SessionRecord extra = deleted;
    extra.user_id = "u-extra";
    extra.version = 5;
    batch.sessions.push_back(extra);
    ASSERT_TRUE(store->Apply(batch).ok());
  }
  const fs::path report_file = dir_.path() / "report.json";
  std::vector<std::string> args = compare;
  args[args.size() - 1] = online_dir.string();
  args.push_back("--report");
  args.push_back(report_file.string());
  EXPECT_EQ(Command(args), 1) << "differences";
  nlohmann::json report = nlohmann::json::parse(std::ifstream(report_file));
  EXPECT_EQ(report["counts"]["missing"], 1);
  EXPECT_EQ(report["counts"]["extra"], 1);
  EXPECT_EQ(report["counts"]["differing"], 1);
  EXPECT_EQ(report["counts"]["window_boundary"], 1);
  EXPECT_EQ(report["counts"]["matching"], good.sessions.size() - 3);
  EXPECT_EQ(report["missing"][0]["identity"]["user_id"], "u1");
  EXPECT_EQ(report["extra"][0]["identity"]["user_id"], "u-extra");
  EXPECT_EQ(report["differing"][0]["identity"]["user_id"], "u2");
  EXPECT_EQ(report["differing"][0]["fields"], nlohmann::json({"aggregations"}));
  EXPECT_EQ(report["window_boundary"][0]["user_id"], "u3");
  EXPECT_EQ(report["window_boundary"][0]["online_window"][1], shifted.window_end + kMinute);
  EXPECT_FALSE(report["identical"]);

  // Outside the compared range, an extra row does not count.
  args.push_back("--from");
  args.push_back(std::to_string(kT0 + 100 * kMinute));
  args.push_back("--to");
  args.push_back(std::to_string(kT0 + 101 * kMinute));
  EXPECT_EQ(Command(args), 0) << "no window ends in that minute";
}

TEST_F(BackfillTest, SignalParityReportsAChangedAttribute) {
  ASSERT_TRUE(RunBackfill(Options("searches")).ok());
  {
    auto store = OpenStore(store_dir_);
    auto rows = store->Query(UserQuery("u4", 1));
    ASSERT_EQ(rows->size(), 1u);
    SignalRecord wrong = rows->front();
    wrong.attributes_json = R"({"city":"Nowhere"})";
    wrong.version += 1;
    ASSERT_TRUE(store->Write({wrong}, {}).ok());
  }
  BackfillOptions o = Options("searches");
  o.compare = true;
  o.version.reset();
  auto r = RunBackfill(o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_TRUE(r->parity);
  EXPECT_EQ(r->parity->differing.size(), 1u);
  EXPECT_EQ(r->parity->differing[0]["fields"], nlohmann::json({"attributes"}));
  EXPECT_EQ(r->parity->missing.size() + r->parity->extra.size(), 0u);
  EXPECT_EQ(r->parity->matching, r->rows - 1);
}

TEST_F(BackfillTest, AnInterruptedRunResumesWithoutDuplicatingRows) {
  const fs::path checkpoint = dir_.path() / "ckpt.json";
  BackfillOptions o = Options("planner");
  o.version.reset();  // chosen by the first run, kept in the checkpoint
  o.checkpoint = checkpoint.string();
  o.chunk_rows = 2;
  o.stop_after_rows = 5;
  auto first = RunBackfill(o);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_TRUE(first->interrupted);
  EXPECT_EQ(first->written, 5);
  auto saved = ReadCheckpoint(checkpoint);
  ASSERT_TRUE(saved.ok() && saved->has_value());
  EXPECT_EQ((*saved)->rows_done, 5);
  EXPECT_FALSE((*saved)->complete);
  EXPECT_EQ((*saved)->files.size(), 1u);

  o.stop_after_rows = -1;
  auto second = RunBackfill(o);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_FALSE(second->interrupted);
  EXPECT_EQ(second->version, first->version);
  EXPECT_EQ(second->written, first->rows - 5) << "continues after the 5 rows written";
  EXPECT_EQ(second->unchanged, 0);
  auto done = ReadCheckpoint(checkpoint);
  EXPECT_TRUE((*done)->complete);
  EXPECT_EQ((*done)->written, first->rows);

  auto third = RunBackfill(o);
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(third->written, 0);

  // Same rows (versions included) as one uninterrupted run.
  const fs::path other = dir_.path() / "other";
  { OpenStore(other); }
  BackfillOptions whole = Options("planner");
  whole.store_dir = other.string();
  whole.version = first->version;
  ASSERT_TRUE(RunBackfill(whole).ok());
  BatchRows resumed = StoreRows(store_dir_, RowKind::kSegment, "planner");
  BatchRows uninterrupted = StoreRows(other, RowKind::kSegment, "planner");
  EXPECT_EQ(resumed.segments, uninterrupted.segments);
  EXPECT_EQ(static_cast<int64_t>(resumed.segments.size()), first->rows);
}

TEST_F(BackfillTest, ACheckpointOfChangedInputIsRefused) {
  const fs::path checkpoint = dir_.path() / "ckpt.json";
  BackfillOptions o = Options("searches");
  o.checkpoint = checkpoint.string();
  o.stop_after_rows = 1;
  ASSERT_TRUE(RunBackfill(o).ok());
  std::ofstream(input_, std::ios::app) << "\n\n";
  o.stop_after_rows = -1;
  auto r = RunBackfill(o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("changed since the checkpoint"), std::string::npos)
      << r.status().message();
}

// What a generated CronJob passes: a range relative to the run. `now` is the
// run's version, kept in the checkpoint, so a resumed run reads the same range.
TEST_F(BackfillTest, RelativeTimesAreTheRunsVersionAndAResumeKeepsThem) {
  const fs::path checkpoint = dir_.path() / "ckpt.json";
  std::vector<std::string> args = {"--resources",  resources_.string(),  "--job",
                                   "planner",      "--input",            input_.string(),
                                   "--store-dir",  store_dir_.string(),  "--checkpoint",
                                   checkpoint.string(), "--from",        "now-36500d",
                                   "--to",         "now"};
  // The fixture's events are in 2027: the first run's time is set with
  // --version (2033); the resumed run takes it from the checkpoint.
  const int64_t version = 2'000'000'000'000;
  std::vector<std::string> interrupted = args;
  interrupted.insert(interrupted.end(),
                     {"--stop-after-rows", "3", "--version", std::to_string(version)});
  EXPECT_EQ(Command(interrupted), 3);
  auto saved = ReadCheckpoint(checkpoint);
  ASSERT_TRUE(saved.ok() && saved->has_value());
  EXPECT_EQ((*saved)->version, version);
  EXPECT_EQ(Command(args), 0);
  auto done = ReadCheckpoint(checkpoint);
  ASSERT_TRUE(done.ok() && done->has_value());
  EXPECT_TRUE((*done)->complete);
  EXPECT_EQ((*done)->version, version);
  BatchRows rows = StoreRows(store_dir_, RowKind::kSegment, "planner");
  ASSERT_FALSE(rows.segments.empty());
  for (const auto& [id, r] : rows.segments) EXPECT_EQ(r.version, version);
  EXPECT_EQ(Command({"--resources", resources_.string(), "--job", "planner", "--input",
                     input_.string(), "--store-dir", store_dir_.string(), "--from", "now-3x"}),
            2);
}

TEST(BackfillCommand, HelpAndUsageErrorsNameTheFlag) {
  EXPECT_EQ(Command({"--help"}), 0);
  EXPECT_EQ(Command({"--resources", "x", "--job", "j"}), 2);  // no input
  BackfillOptions o;
  o.resources = "x";
  o.job = "j";
  o.inputs = {"f"};
  auto r = RunBackfill(o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("--to-topic and/or --store-dir"), std::string::npos);
  o.compare = true;
  EXPECT_NE(RunBackfill(o).status().message().find("--compare: needs --store-dir"),
            std::string::npos);
  o.compare = false;
  o.to_topic = true;
  EXPECT_NE(RunBackfill(o).status().message().find("--to-topic: needs --brokers"),
            std::string::npos);
  EXPECT_EQ(Command({"--resources", "x", "--job", "j", "--input", "f", "--store-dir", "d", "--from",
                     "yesterday"}),
            2);
}

}  // namespace
}  // namespace usp
