#include "runtime/jobs/session_job_processor.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/session/session_record.h"
#include "runtime/jobs/job_test_util.h"
#include "runtime/worker/worker_test_fakes.h"

namespace usp {
namespace {

using namespace jobs_testing;  // NOLINT
using nlohmann::json;
using testing::FakeClock;

// A multiple of 10m: sliding windows are aligned to multiples of the slide.
constexpr int64_t kB = 1'700'000'400'000;
static_assert(kB % (10 * kMinute) == 0);

std::string JobYaml(const std::string& window, const std::string& lateness,
                    const std::string& signals) {
  return R"(apiVersion: usp.dev/v1alpha1
kind: SessionJob
metadata:
  name: engagement
spec:
  signals: )" +
         signals + R"(
  window: )" +
         window + R"(
  aggregations:
    - {name: n, fn: count}
  allowedLateness: )" +
         lateness + "\n";
}

struct Window {
  std::string user;
  int64_t start;
  int64_t end;
  int64_t count;
  bool operator==(const Window&) const = default;
};
std::ostream& operator<<(std::ostream& os, const Window& w) {
  return os << w.user << "[" << (w.start - kB) / kMinute << "m," << (w.end - kB) / kMinute
            << "m)=" << w.count;
}

class SessionJobProcessorTest : public ::testing::Test {
 protected:
  // One signal unless `signals` says otherwise: with idle sources off, a
  // signal that never arrives would hold the watermark back.
  void Make(const std::string& window, const std::string& lateness, int64_t idle_timeout_ms = 0,
            const std::string& signals = "[searches]") {
    resource_ = Load(JobYaml(window, lateness, signals));
    ASSERT_TRUE(resource_.session_job.has_value());
    clock_.now_ms = kB;
    SessionJobProcessorOptions options;
    options.source_partitions = 1;  // every user on one partition: one watermark
    options.idle_timeout_ms = idle_timeout_ms;
    auto p = SessionJobProcessor::Create(*resource_.session_job, &clock_, options);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    processor_ = std::move(p).value();
  }
  ProcessorEffects Feed(const std::string& user, int64_t t,
                        const std::string& signal = "searches") {
    std::string record = SignalJson(user, signal, t);
    auto key = processor_->KeyOf(record);
    EXPECT_TRUE(key.ok()) << key.status().ToString();
    ProcessorEffects effects;
    Status s = processor_->Process(*key, record, states_[user], &effects);
    EXPECT_TRUE(s.ok()) << s.ToString();
    Apply(user, effects);
    return effects;
  }
  ProcessorEffects Fire(const std::string& user, int64_t at) {
    ProcessorEffects effects;
    Status s = processor_->OnTimer(user, at, states_[user], &effects);
    EXPECT_TRUE(s.ok()) << s.ToString();
    timers_.erase({at, user});  // as the worker does: a fired timer is gone
    Apply(user, effects);
    return effects;
  }
  void Apply(const std::string& user, const ProcessorEffects& effects) {
    if (effects.state_changed) states_[user] = effects.state;
    for (int64_t t : effects.timers_to_cancel) timers_.erase({t, user});
    for (int64_t t : effects.timers_to_set) timers_.insert({t, user});
    for (const auto& o : effects.outputs) {
      auto r = ParseSessionRecord(o.value);
      EXPECT_TRUE(r.ok()) << o.value;
      EXPECT_EQ(o.key, r->user_id);
      EXPECT_EQ(r->job, "engagement");
      EXPECT_GT(r->version, last_version_[user]) << "versions increase per user";
      last_version_[user] = r->version;
      emitted_.push_back({r->user_id, r->window_start, r->window_end,
                          json::parse(r->aggregations_json)["n"].get<int64_t>()});
    }
  }
  std::vector<Window> Take() {
    std::vector<Window> out;
    out.swap(emitted_);
    return out;
  }

  FakeClock clock_;
  LoadedResource resource_;
  std::unique_ptr<SessionJobProcessor> processor_;
  std::map<std::string, std::optional<std::string>> states_;
  std::set<std::pair<int64_t, std::string>> timers_;
  std::map<std::string, int64_t> last_version_;
  std::vector<Window> emitted_;
};

constexpr int64_t M = kMinute;

TEST_F(SessionJobProcessorTest, SlidingWindowsOverlapAndCloseOnTheWatermark) {
  Make("{type: sliding, size: 10m, slide: 5m}", "0s", 0, "[searches, views]");
  Feed("u1", kB + 2 * M, "views");
  Feed("u1", kB + 7 * M);
  EXPECT_EQ(Take(), std::vector<Window>{}) << "nothing closes before the watermark";
  Feed("u2", kB + 16 * M, "views");  // both signals have reached 7m at least
  EXPECT_EQ(Take(), std::vector<Window>{}) << "nothing closes before the watermark";
  Feed("u1", kB + 16 * M);
  EXPECT_EQ(Take(), (std::vector<Window>{{"u1", kB - 5 * M, kB + 5 * M, 1},
                                         {"u1", kB, kB + 10 * M, 2},
                                         {"u1", kB + 5 * M, kB + 15 * M, 1}}));
}

TEST_F(SessionJobProcessorTest, SessionWindowsSplitOnTheGap) {
  Make("{type: session, gap: 10m}", "0s");
  Feed("u1", kB);
  Feed("u1", kB + 5 * M);
  Feed("u1", kB + 15 * M);  // exactly gap after the last event: a new session
  EXPECT_EQ(Take(), (std::vector<Window>{{"u1", kB, kB + 15 * M, 2}}));
  Feed("u1", kB + 40 * M);
  EXPECT_EQ(Take(), (std::vector<Window>{{"u1", kB + 15 * M, kB + 25 * M, 1}}));
}

TEST_F(SessionJobProcessorTest, ABridgingEventMergesTwoSessions) {
  Make("{type: session, gap: 10m}", "1h");
  Feed("u1", kB);
  Feed("u1", kB + 15 * M);  // watermark 15m: [0m,10m) is due
  EXPECT_EQ(Take(), (std::vector<Window>{{"u1", kB, kB + 10 * M, 1}}));
  Feed("u1", kB + 8 * M);  // late (within 1h), within gap of both: one session
  EXPECT_EQ(Take(), std::vector<Window>{});
  Feed("u1", kB + 40 * M);
  EXPECT_EQ(Take(), (std::vector<Window>{{"u1", kB, kB + 25 * M, 3}}));
  EXPECT_EQ(processor_->stats().late, 1);
}

TEST_F(SessionJobProcessorTest, LateEventsWithinLatenessUpdateAndBeyondAreCountedNotApplied) {
  Make("{type: sliding, size: 10m, slide: 10m}", "5m");
  Feed("u1", kB + 1 * M);
  Feed("u1", kB + 12 * M);
  EXPECT_EQ(Take(), (std::vector<Window>{{"u1", kB, kB + 10 * M, 1}}));
  Feed("u1", kB + 9 * M);  // watermark 12m < 10m + 5m: late, applied, re-emitted
  EXPECT_EQ(Take(), (std::vector<Window>{{"u1", kB, kB + 10 * M, 2}}));
  Feed("u1", kB + 20 * M);  // watermark 20m: [0,10m) finalized, [10m,20m) emitted
  EXPECT_EQ(Take(), (std::vector<Window>{{"u1", kB + 10 * M, kB + 20 * M, 1}}));
  ProcessorEffects dropped = Feed("u1", kB + 3 * M);  // beyond lateness
  EXPECT_TRUE(dropped.outputs.empty());
  EXPECT_EQ(Take(), std::vector<Window>{});
  EXPECT_EQ(processor_->stats().late, 1);
  EXPECT_EQ(processor_->stats().dropped_late, 1);
  EXPECT_EQ(processor_->stats().on_time, 3);
}

TEST_F(SessionJobProcessorTest, ATimerClosesAQuietUsersWindowsOnThePartitionWatermark) {
  Make("{type: sliding, size: 10m, slide: 10m}", "0s");
  ProcessorEffects first = Feed("u1", kB + 1 * M);
  ASSERT_EQ(first.timers_to_set, std::vector<int64_t>{kB + 10 * M});  // the window's end
  Feed("u2", kB + 11 * M);  // another user moves the partition's watermark
  EXPECT_EQ(Take(), std::vector<Window>{});
  clock_.now_ms = kB + 10 * M;
  Fire("u1", kB + 10 * M);
  EXPECT_EQ(Take(), (std::vector<Window>{{"u1", kB, kB + 10 * M, 1}}));
  EXPECT_EQ(states_["u1"], std::nullopt) << "finalized: no state left";
  EXPECT_EQ(timers_.count({kB + 10 * M, "u1"}), 0u);
}

TEST_F(SessionJobProcessorTest, ATimerBeforeTheWatermarkRearmsWithoutEmitting) {
  Make("{type: session, gap: 10m}", "0s");
  Feed("u1", kB + 1 * M);
  clock_.now_ms = kB + 11 * M;
  ProcessorEffects e = Fire("u1", kB + 11 * M);  // watermark still 1m: not yet
  EXPECT_TRUE(e.outputs.empty());
  ASSERT_EQ(e.timers_to_set.size(), 1u);
  EXPECT_GT(e.timers_to_set[0], clock_.now_ms);
}

TEST_F(SessionJobProcessorTest, AQuietPartitionsWatermarkFollowsTheWallClock) {
  Make("{type: session, gap: 10m}", "0s", /*idle_timeout_ms=*/10 * kSecond, "[searches, views]");
  clock_.now_ms = kB + 1 * M;
  Feed("u1", kB + 1 * M);  // "views" never arrives: idle after 10 s, not blocking
  clock_.now_ms = kB + 11 * M + 10 * kSecond;
  Fire("u1", kB + 11 * M);
  EXPECT_EQ(Take(), (std::vector<Window>{{"u1", kB + 1 * M, kB + 11 * M, 1}}));
}

TEST_F(SessionJobProcessorTest, APartitionIsNotQuietBeforeTheProcessorHandledIt) {
  // A standby promoted an hour after it started, reading a backlog whose
  // event times are far behind the clock: nothing is late or closed early.
  Make("{type: session, gap: 10m}", "0s", /*idle_timeout_ms=*/10 * kSecond);
  clock_.now_ms = kB + kHour;
  ProcessorEffects e = Feed("u1", kB + 1 * M);
  EXPECT_TRUE(e.outputs.empty());
  EXPECT_EQ(processor_->stats().on_time, 1);
  EXPECT_EQ(processor_->stats().dropped_late, 0);
  ASSERT_EQ(e.timers_to_set.size(), 1u);
  clock_.now_ms += kSecond;
  EXPECT_TRUE(Fire("u1", e.timers_to_set[0]).outputs.empty()) << "the stream is not quiet yet";
}

TEST_F(SessionJobProcessorTest, AnUnknownSignalIsIgnored) {
  Make("{type: session, gap: 10m}", "0s");
  ProcessorEffects e = Feed("u1", kB, "bookings");
  EXPECT_FALSE(e.state_changed);
  EXPECT_EQ(processor_->stats().ignored, 1);
}

// On the real loop (fakes for Kafka): another user's record moves the
// watermark, u1's timer closes u1's window, and nothing is left behind.
// The signal job upstream writes at least once: after its failover the same
// record (signal, event_id) arrives again at a later offset.
TEST_F(SessionJobProcessorTest, ARecordSeenBeforeIsNotCountedTwice) {
  Make("{type: sliding, size: 10m, slide: 5m}", "0s");
  Feed("u1", kB + 1 * M);
  Feed("u1", kB + 2 * M);
  Feed("u1", kB + 1 * M);  // a copy
  Feed("u1", kB + 2 * M);  // a copy
  EXPECT_EQ(processor_->stats().duplicates, 2);
  Feed("u1", kB + 20 * M);
  EXPECT_EQ(Take(), (std::vector<Window>{{"u1", kB - 5 * M, kB + 5 * M, 2},
                                         {"u1", kB, kB + 10 * M, 2}}));
}

TEST_F(SessionJobProcessorTest, SessionWindowsDoNotCountACopyEither) {
  Make("{type: session, gap: 10m}", "5m");
  Feed("u1", kB);
  Feed("u1", kB + 3 * M);
  Feed("u1", kB);  // a copy
  Feed("u1", kB + 30 * M);
  EXPECT_EQ(Take(), (std::vector<Window>{{"u1", kB, kB + 13 * M, 2}}));
  EXPECT_EQ(processor_->stats().duplicates, 1);
}

TEST_F(SessionJobProcessorTest, IdentitiesAreForgottenWithTheWindowsTheyWereIn) {
  Make("{type: sliding, size: 10m, slide: 5m}", "0s");
  Feed("u1", kB + 1 * M);
  Feed("u1", kB + 7 * M);
  ASSERT_TRUE(states_["u1"].has_value());
  EXPECT_EQ(json::parse(*states_["u1"])["seen"].size(), 2u);
  Feed("u1", kB + 12 * M);  // the watermark finalizes every window holding 1m
  auto seen = json::parse(*states_["u1"])["seen"];
  EXPECT_EQ(seen.size(), 2u) << seen.dump();
  EXPECT_FALSE(seen.contains("searches/searches-u1-" + std::to_string(kB + 1 * M))) << seen.dump();
}

TEST(SessionJobOnStatefulWorker, TimersCloseWindowsThroughTheWorker) {
  namespace fs = std::filesystem;
  std::string tmpl = (fs::temp_directory_path() / "usp-jobs-XXXXXX").string();
  fs::path dir = mkdtemp(tmpl.data());
  {
    auto store = StateStore::Open((dir / "db").string());
    ASSERT_TRUE(store.ok());
    LoadedResource resource =
        Load(JobYaml("{type: sliding, size: 10m, slide: 10m}", "0s", "[searches]"));
    FakeClock clock;
    clock.now_ms = kB + 1 * M;
    SessionJobProcessorOptions options;
    options.source_partitions = 1;
    options.idle_timeout_ms = 0;
    auto processor = SessionJobProcessor::Create(*resource.session_job, &clock, options);
    ASSERT_TRUE(processor.ok());
    testing::FakeSourceReader source;
    testing::FakeRecordSink sink;
    const std::string in = "usp.signal.searches";
    const std::string out = "usp.session.engagement";
    const std::string changelog = "usp.changelog.sessionjob.engagement";
    source.partition_counts[in] = 1;
    sink.partition_counts[out] = 1;
    sink.partition_counts[changelog] = 1;
    StatefulWorkerOptions wo;
    wo.partitions = {0};
    wo.commit_interval_ms = 0;
    StatefulWorker worker({"SessionJob", "engagement", {in}, out, changelog}, processor->get(),
                          &source, &sink, store->get(), nullptr, &clock, wo);
    ASSERT_TRUE(worker.Start().ok());
    auto outputs = [&] {
      std::vector<SessionRecord> records;
      for (const auto& r : sink.sent) {
        if (r.topic == out) records.push_back(*ParseSessionRecord(r.value));
      }
      return records;
    };
    source.Add(in, 0, 0, SignalJson("u1", "searches", kB + 1 * M));
    source.Add(in, 0, 1, SignalJson("u2", "searches", kB + 11 * M));
    ASSERT_TRUE(worker.RunOnce().ok());
    EXPECT_TRUE(outputs().empty());
    clock.now_ms = kB + 10 * M - 1;
    ASSERT_TRUE(worker.RunOnce().ok());
    EXPECT_TRUE(outputs().empty()) << "fired early";
    clock.now_ms = kB + 10 * M;
    ASSERT_TRUE(worker.RunOnce().ok());
    ASSERT_EQ(outputs().size(), 1u);
    EXPECT_EQ(outputs()[0].user_id, "u1");
    EXPECT_EQ(outputs()[0].window_start, kB);
    EXPECT_EQ(outputs()[0].window_end, kB + 10 * M);
    EXPECT_EQ(json::parse(outputs()[0].aggregations_json)["n"], 1);
    EXPECT_EQ(worker.Stats().timers_fired, 1);
    // u1 is finalized: no state and no timer left for it.
    auto due = DueTimers(**store, 0, INT64_MAX);
    ASSERT_TRUE(due.ok());
    for (const auto& [at, key] : *due) EXPECT_NE(key, "u1") << at;
    auto stored = (*store)->Get(0, "s/u1");
    ASSERT_TRUE(stored.ok());
    ASSERT_TRUE(stored->has_value());  // the envelope keeps the source offsets
    EXPECT_FALSE(DecodeStateEnvelope(**stored)->state.has_value());
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
}

}  // namespace
}  // namespace usp
