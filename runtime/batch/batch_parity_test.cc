// The batch path gives the rows the online path gives, for every kind: the
// online workers (SignalWorker, StatefulWorker with the job_factory
// processor) and BatchPipeline run over the same history; rows are compared
// per identity, versions ignored.
#include <gtest/gtest.h>

#include "runtime/batch/batch_pipeline.h"
#include "runtime/batch/batch_test_util.h"
#include "runtime/batch/parity_report.h"

namespace usp {
namespace {

using namespace batch_testing;

const LoadedResource& Find(const std::vector<LoadedResource>& resources, const std::string& name) {
  for (const auto& r : resources) {
    if (r.name == name) return r;
  }
  ADD_FAILURE() << "no resource " << name;
  return resources.front();
}

// The batch rows of `job` over `events`, clock ending at `end`.
BatchRows RunBatch(const std::vector<LoadedResource>& resources, const std::string& job,
                   const std::vector<Event>& events, int64_t end, BatchStats* stats = nullptr) {
  BatchPipelineOptions options;
  options.partitions = kPartitions;
  auto pipeline = BatchPipeline::Create(resources, job, options);
  EXPECT_TRUE(pipeline.ok()) << pipeline.status().ToString();
  if (!pipeline.ok()) return {};
  std::vector<TimedRecord> records;
  for (const auto& e : events) {
    auto t = (*pipeline)->TimeOf(e.record);
    EXPECT_TRUE(t.has_value());
    records.push_back({t.value_or(0), e.record});
  }
  SortByTime(&records);
  for (const auto& r : records) EXPECT_TRUE((*pipeline)->Process(r.record, r.time).ok());
  EXPECT_TRUE((*pipeline)->Finish(end).ok());
  if (stats != nullptr) *stats = (*pipeline)->stats();
  return (*pipeline)->rows();
}

// Online: the signal workers, their outputs merged in time order.
std::vector<Emitted> OnlineSignals(const std::vector<LoadedResource>& resources,
                                   const std::vector<Event>& events) {
  std::vector<Emitted> all;
  for (const auto& r : resources) {
    if (!r.user_signal || r.user_signal->spec.type != SignalType::kSimple) continue;
    auto out = RunOnlineSignal(*r.user_signal, events);
    all.insert(all.end(), out.begin(), out.end());
  }
  std::stable_sort(all.begin(), all.end(),
                   [](const Emitted& a, const Emitted& b) { return a.time < b.time; });
  return all;
}

void ExpectIdentical(const std::string& job, RowKind kind, const BatchRows& batch,
                     const BatchRows& online) {
  ParityReport report = CompareRows(job, kind, ParityRange{}, batch, online);
  EXPECT_TRUE(report.identical()) << report.Summary(10);
  EXPECT_EQ(report.matching, static_cast<int64_t>(online.size()));
}

TEST(BatchParity, SimpleSignalRowsEqualTheOnlineWorkers) {
  auto resources = LoadTestResources();
  auto events = History();
  const int64_t end = events.back().time + 1;
  BatchStats stats;
  BatchRows batch = RunBatch(resources, "searches", events, end, &stats);
  BatchRows online = Materialize(RowKind::kSignal,
                                 RunOnlineSignal(*Find(resources, "searches").user_signal, events));
  ASSERT_GT(online.signals.size(), 40u);
  ExpectIdentical("searches", RowKind::kSignal, batch, online);
  EXPECT_EQ(stats.filtered, 1);  // the search without a city
  EXPECT_EQ(stats.invalid, 1);   // the line that is not JSON
}

TEST(BatchParity, UserSegmentRowsEqualTheOnlineWorkersIncludingExpiry) {
  auto resources = LoadTestResources();
  auto events = History();
  const int64_t end = events.back().time + 2 * 60 * kMinute;  // every membership expires
  BatchRows batch = RunBatch(resources, "planner", events, end);
  auto signals = OnlineSignals(resources, events);
  BatchRows online = Materialize(
      RowKind::kSegment, RunOnlineStateful(resources, Find(resources, "planner"), signals, end));
  ExpectIdentical("planner", RowKind::kSegment, batch, online);
  int expired = 0, exited = 0;
  for (const auto& [id, r] : batch.segments) {
    expired += r.reason == SegmentReason::kExpired;
    exited += r.reason == SegmentReason::kExit;
  }
  EXPECT_GE(expired, 4) << "memberships expire mid-stream and at the end";
  EXPECT_EQ(exited, 2) << "u2's and u4's bookings";
}

TEST(BatchParity, UserSegmentStillOpenAtTheEndOfTheRangeStaysIn) {
  auto resources = LoadTestResources();
  auto events = History();
  const int64_t end = events.back().time + 1;  // before the last expirations
  BatchRows batch = RunBatch(resources, "planner", events, end);
  auto signals = OnlineSignals(resources, events);
  BatchRows online = Materialize(
      RowKind::kSegment, RunOnlineStateful(resources, Find(resources, "planner"), signals, end));
  ExpectIdentical("planner", RowKind::kSegment, batch, online);
  int open = 0;
  for (const auto& [id, r] : batch.segments) open += r.in_segment;
  EXPECT_GT(open, 0);
}

TEST(BatchParity, SessionWindowRowsEqualTheOnlineWorkers) {
  auto resources = LoadTestResources();
  auto events = History();
  const int64_t end = events.back().time + 30 * kMinute;  // the last sessions close
  BatchRows batch = RunBatch(resources, "browsing", events, end);
  auto signals = OnlineSignals(resources, events);
  BatchRows online = Materialize(
      RowKind::kSession, RunOnlineStateful(resources, Find(resources, "browsing"), signals, end));
  ASSERT_GT(online.sessions.size(), 10u);
  ExpectIdentical("browsing", RowKind::kSession, batch, online);
}

TEST(BatchParity, SlidingWindowRowsOverTwoSignalsEqualTheOnlineWorkers) {
  auto resources = LoadTestResources();
  auto events = History();
  const int64_t end = events.back().time + 30 * kMinute;
  BatchRows batch = RunBatch(resources, "activity", events, end);
  auto signals = OnlineSignals(resources, events);
  BatchRows online = Materialize(
      RowKind::kSession, RunOnlineStateful(resources, Find(resources, "activity"), signals, end));
  ASSERT_GT(online.sessions.size(), 20u);
  ExpectIdentical("activity", RowKind::kSession, batch, online);
}

TEST(BatchParity, LeftJoinRowsEqualTheOnlineWorkers) {
  auto resources = LoadTestResources();
  auto events = History();
  const int64_t end = events.back().time + 1;
  BatchRows batch = RunBatch(resources, "booked-after-search", events, end);
  std::vector<Emitted> raw;
  for (const Event& e : events) {
    raw.push_back({e.time, e.record.topic, e.record.partition, "", e.record.payload});
  }
  BatchRows online =
      Materialize(RowKind::kSignal,
                  RunOnlineStateful(resources, Find(resources, "booked-after-search"), raw, end));
  ASSERT_EQ(online.signals.size(), 2u) << "two bookings";
  ExpectIdentical("booked-after-search", RowKind::kSignal, batch, online);
  for (const auto& [id, r] : batch.signals) {
    EXPECT_NE(r.attributes_json.find("\"city\":\""), std::string::npos) << r.attributes_json;
  }
}

TEST(BatchPipeline, NamesTheMissingJobAndSignal) {
  auto resources = LoadTestResources();
  auto p = BatchPipeline::Create(resources, "nope", {});
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("--job: no resource named \"nope\""), std::string::npos)
      << p.status().message();
  std::string yaml = kResourcesYaml;
  auto only_segment = LoadTestResources(
      yaml.substr(yaml.find("---\napiVersion: usp.dev/v1alpha1\nkind: UserSegment") + 4));
  auto q = BatchPipeline::Create(only_segment, "planner", {});
  ASSERT_FALSE(q.ok());
  EXPECT_NE(q.status().message().find("spec.enter.signals[0]: no UserSignal \"searches\""),
            std::string::npos)
      << q.status().message();
}

TEST(BatchPipeline, SourceTopicsAreTheRawTopicsOfTheChain) {
  auto resources = LoadTestResources();
  auto p = BatchPipeline::Create(resources, "activity", {});
  ASSERT_TRUE(p.ok());
  EXPECT_EQ((*p)->source_topics(), (std::vector<std::string>{"raw.booking", "raw.search"}));
  EXPECT_TRUE((*p)->Reads("usp.signal.searches"));
  EXPECT_EQ((*p)->output_topic(), "usp.session.activity");
  EXPECT_EQ((*p)->row_kind(), RowKind::kSession);
}

}  // namespace
}  // namespace usp
