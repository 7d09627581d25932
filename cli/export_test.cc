#include "core/temp_dir_for_test.h"
#include "cli/export.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <zlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace usp {
namespace {

namespace fs = std::filesystem;

using testing::TempDir;

std::unique_ptr<SignalStore> OpenWriter(const fs::path& dir) {
  SignalStoreOptions options;
  options.partitions = 4;
  auto store = SignalStore::Open(dir, options);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  return store.ok() ? std::move(store).value() : nullptr;
}

// Rows of every kind, with older versions that an export must leave out.
StoreBatch Fixture() {
  StoreBatch batch;
  batch.signals = {
      {"u1", "searches", 1000, "e1", 1100, R"({"destination":"Paris"})"},
      {"u1", "searches", 1000, "e1", 1200, R"({"destination":"Paris, FR"})"},  // newest
      {"u2", "bookings", 5000, "e2", 5100, R"({"nights":3,"note":"line\nbreak \"q\""})"},
      {"u3", "searches", 9000, "e3", 9100, "{}"},
  };
  batch.segments = {
      {"u1", "planner", true, 1000, 2000, 1000, SegmentReason::kEnter},
      {"u1", "planner", false, 1000, 1500, 1500, SegmentReason::kExit},  // newest
      {"u2", "planner", true, 6000, std::nullopt, 6000, SegmentReason::kEnter},
  };
  batch.sessions = {
      {"u1", "engagement", 0, 1000, R"({"n":1})", std::nullopt, 1100},
      {"u1", "engagement", 0, 1000, R"({"n":1})", R"({"score":0.5})", 1300},  // newest
      {"u2", "engagement", 5000, 8000, R"({"n":2})", std::nullopt, 8100},
  };
  return batch;
}

// A sink that keeps what it is given.
class StringSink : public ExportSink {
 public:
  Status Write(std::string_view bytes) override {
    text.append(bytes);
    return Status::Ok();
  }
  Status Close() override { return Status::Ok(); }
  std::string text;
};

struct Parsed {
  std::vector<SignalRecord> signals;
  std::vector<SegmentRecord> segments;
  std::vector<SessionRecord> sessions;
};

// Parses export lines back into records; every line must name its kind.
Parsed ParseLines(const std::string& text) {
  Parsed out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    nlohmann::json doc = nlohmann::json::parse(line);
    const std::string kind = doc.at("kind").get<std::string>();
    EXPECT_TRUE(doc.at("user_id").is_string()) << line;
    if (kind == "signal") {
      auto r = ParseSignalRecord(line);
      EXPECT_TRUE(r.ok()) << r.status().ToString();
      if (r.ok()) out.signals.push_back(*r);
    } else if (kind == "segment") {
      auto r = ParseSegmentRecord(line);
      EXPECT_TRUE(r.ok()) << r.status().ToString();
      if (r.ok()) out.segments.push_back(*r);
    } else if (kind == "session") {
      auto r = ParseSessionRecord(line);
      EXPECT_TRUE(r.ok()) << r.status().ToString();
      if (r.ok()) out.sessions.push_back(*r);
    } else {
      ADD_FAILURE() << "unknown kind in " << line;
    }
  }
  return out;
}

template <typename Record>
std::vector<Record> ByUser(std::vector<Record> records) {
  std::stable_sort(records.begin(), records.end(),
                   [](const Record& a, const Record& b) { return a.user_id < b.user_id; });
  return records;
}

std::string Export(const SignalStore& store, const ExportOptions& options,
                   ExportCounts* counts = nullptr) {
  auto selection = ParseExportSelection(options);
  EXPECT_TRUE(selection.ok()) << selection.status().ToString();
  StringSink sink;
  auto result = ExportRows(store, *selection, &sink);
  EXPECT_TRUE(result.ok()) << result.status().ToString();
  if (counts != nullptr && result.ok()) *counts = *result;
  return sink.text;
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(Export, RowsOfEveryKindRoundTripWithTheirNewestVersion) {
  TempDir dir;
  {
    auto writer = OpenWriter(dir.path());
    ASSERT_TRUE(writer->Apply(Fixture()).ok());
  }
  auto store = SignalStore::OpenReadOnly(dir.path());
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  ExportCounts counts;
  std::string text = Export(**store, ExportOptions{}, &counts);
  EXPECT_EQ(counts.signals, 3u);
  EXPECT_EQ(counts.segments, 2u);
  EXPECT_EQ(counts.sessions, 2u);
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 7);

  Parsed parsed = ParseLines(text);
  StoreBatch f = Fixture();
  EXPECT_EQ(ByUser(parsed.signals),
            (std::vector<SignalRecord>{f.signals[1], f.signals[2], f.signals[3]}));
  EXPECT_EQ(ByUser(parsed.segments), (std::vector<SegmentRecord>{f.segments[1], f.segments[2]}));
  EXPECT_EQ(ByUser(parsed.sessions), (std::vector<SessionRecord>{f.sessions[1], f.sessions[2]}));
  // Kinds come in order: signals, segments, sessions; "kind" leads each line.
  EXPECT_TRUE(text.starts_with(R"({"kind":"signal","user_id":)")) << text;
  EXPECT_LT(text.rfind(R"("kind":"signal")"), text.find(R"("kind":"segment")"));
  EXPECT_LT(text.rfind(R"("kind":"segment")"), text.find(R"("kind":"session")"));
}

TEST(Export, FiltersByKindNameAndTimeRange) {
  TempDir dir;
  auto writer = OpenWriter(dir.path());
  ASSERT_TRUE(writer->Apply(Fixture()).ok());
  auto store = SignalStore::OpenReadOnly(dir.path());
  ASSERT_TRUE(store.ok()) << store.status().ToString();

  ExportOptions sessions_only;
  sessions_only.kind = "sessions";
  Parsed p = ParseLines(Export(**store, sessions_only));
  EXPECT_TRUE(p.signals.empty());
  EXPECT_TRUE(p.segments.empty());
  EXPECT_EQ(p.sessions.size(), 2u);

  ExportOptions named;
  named.names = {"bookings", "planner"};
  p = ParseLines(Export(**store, named));
  ASSERT_EQ(p.signals.size(), 1u);
  EXPECT_EQ(p.signals[0].signal, "bookings");
  EXPECT_EQ(p.segments.size(), 2u);
  EXPECT_TRUE(p.sessions.empty());

  // [1000, 6000): signals by event_time (1000, 5000), segments by start
  // (1000; 6000 is out), sessions by window_end (1000; 8000 is out).
  ExportOptions range;
  range.from = "1000";
  range.to = "1970-01-01T00:00:06Z";
  p = ParseLines(Export(**store, range));
  ASSERT_EQ(p.signals.size(), 2u);
  ASSERT_EQ(p.segments.size(), 1u);
  EXPECT_EQ(p.segments[0].start, 1000);
  ASSERT_EQ(p.sessions.size(), 1u);
  EXPECT_EQ(p.sessions[0].window_end, 1000);
}

TEST(Export, GzipOutputIsReadableAndEqualsThePlainOutput) {
  TempDir dir;
  {
    auto writer = OpenWriter(dir.path());
    ASSERT_TRUE(writer->Apply(Fixture()).ok());
  }
  ExportOptions plain;
  plain.store_dir = dir.path();
  plain.out = (dir.path() / "rows.jsonl").string();
  ASSERT_EQ(RunExport(plain), 0);
  ExportOptions gz = plain;
  gz.out = (dir.path() / "rows.jsonl.gz").string();
  ASSERT_EQ(RunExport(gz), 0);
  EXPECT_FALSE(fs::exists(gz.out + ".partial"));

  std::string compressed = ReadFile(gz.out);
  ASSERT_GE(compressed.size(), 2u);
  EXPECT_EQ(static_cast<unsigned char>(compressed[0]), 0x1f);  // gzip magic
  EXPECT_EQ(static_cast<unsigned char>(compressed[1]), 0x8b);
  gzFile in = gzopen(gz.out.c_str(), "rb");
  ASSERT_NE(in, nullptr);
  std::string text;
  char buf[4096];
  int n = 0;
  while ((n = gzread(in, buf, sizeof buf)) > 0) text.append(buf, static_cast<size_t>(n));
  gzclose(in);
  EXPECT_EQ(text, ReadFile(plain.out));
  EXPECT_EQ(ParseLines(text).signals.size(), 3u);
}

TEST(Export, RunsWhileTheStoreIsOpenForWriting) {
  TempDir dir;
  fs::path store_dir = dir.path() / "store";
  auto writer = OpenWriter(store_dir);  // holds the RocksDB lock, as `serve` does
  ASSERT_TRUE(writer->Apply(Fixture()).ok());

  ExportOptions options;
  options.store_dir = store_dir;
  options.kind = "signals";
  options.out = (dir.path() / "signals.jsonl").string();
  ASSERT_EQ(RunExport(options), 0);
  EXPECT_EQ(ParseLines(ReadFile(options.out)).signals.size(), 3u);

  // The writer is undisturbed, and a later export sees its new rows.
  StoreBatch more;
  more.signals = {{"u4", "searches", 9500, "e4", 9600, "{}"}};
  ASSERT_TRUE(writer->Apply(more).ok());
  ASSERT_EQ(RunExport(options), 0);
  EXPECT_EQ(ParseLines(ReadFile(options.out)).signals.size(), 4u);
}

TEST(Export, TimesAreEpochMsOrRfc3339AndErrorsNameTheFlag) {
  EXPECT_EQ(*ParseExportTime("1700000000000", "--from"), 1700000000000);
  EXPECT_EQ(*ParseExportTime("2026-11-22T10:00:00Z", "--from"), 1795341600000);
  EXPECT_EQ(*ParseExportTime("2026-11-22T10:00:00.5+01:00", "--to"), 1795338000500);
  auto bad = ParseExportTime("yesterday", "--to");
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(bad.status().message().starts_with("--to: \"yesterday\"")) << bad.status().message();

  ExportOptions kind;
  kind.kind = "signal";
  auto k = ParseExportSelection(kind);
  ASSERT_FALSE(k.ok());
  EXPECT_TRUE(k.status().message().starts_with("--kind:")) << k.status().message();

  ExportOptions inverted;
  inverted.from = "2000";
  inverted.to = "1000";
  auto i = ParseExportSelection(inverted);
  ASSERT_FALSE(i.ok());
  EXPECT_NE(i.status().message().find("--from"), std::string::npos);
}

TEST(Export, AMissingStoreFailsWithoutCreatingOne) {
  TempDir dir;
  ExportOptions options;
  options.store_dir = dir.path() / "nothing";
  options.out = (dir.path() / "out.jsonl").string();
  EXPECT_EQ(RunExport(options), 2);
  EXPECT_FALSE(fs::exists(options.store_dir));
  EXPECT_FALSE(fs::exists(options.out));
}

}  // namespace
}  // namespace usp
