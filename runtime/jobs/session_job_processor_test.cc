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

TEST_F(SessionJobProcessorTest, APartitionWithABacklogIsNeverQuiet) {
  // A worker an hour behind whose records arrive slowly (overloaded, or
  // reading a take-over's backlog): no record for longer than the idle
  // timeout, but the partition has records not yet consumed. The wall clock
  // must not invent a watermark that makes the backlog late.
  Make("{type: session, gap: 10m}", "0s", /*idle_timeout_ms=*/10 * kSecond);
  clock_.now_ms = kB + kHour;
  processor_->SetSourceBehind(0, true);
  Feed("u1", kB + 1 * M);
  clock_.now_ms += 10 * M;  // far past the idle timeout
  ASSERT_EQ(timers_.size(), 1u);
  EXPECT_TRUE(Fire("u1", timers_.begin()->first).outputs.empty()) << "behind, not quiet";
  Feed("u1", kB + 2 * M);  // the backlog goes on
  EXPECT_EQ(processor_->stats().on_time, 2);
  EXPECT_EQ(processor_->stats().dropped_late, 0);
  EXPECT_EQ(Take(), std::vector<Window>{});
  // Caught up and then quiet: the idle rule closes the session.
  processor_->SetSourceBehind(0, false);
  clock_.now_ms += 11 * kSecond;
  ASSERT_EQ(timers_.size(), 1u);
  Fire("u1", timers_.begin()->first);
  EXPECT_EQ(Take(), (std::vector<Window>{{"u1", kB + 1 * M, kB + 12 * M, 2}}));
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

// The decoded-state cache must not change anything: a processor with it and
// one without, fed the same records, timers and states (late events within
// and beyond the lateness, replayed duplicates, several users on two
// partitions), produce byte-identical effects.
class SessionCacheParityTest : public ::testing::TestWithParam<std::string> {};

TEST_P(SessionCacheParityTest, CachedAndUncachedProcessorsProduceIdenticalEffects) {
  LoadedResource resource = Load(R"(apiVersion: usp.dev/v1alpha1
kind: SessionJob
metadata:
  name: engagement
spec:
  signals: [searches]
  window: )" + GetParam() + R"(
  aggregations:
    - {name: n, fn: count}
    - {name: d, fn: distinct_count, field: /attributes/destination}
    - {name: top, fn: top_k, field: /attributes/destination, k: 2}
    - {name: g, fn: max, field: /attributes/guests}
  allowedLateness: 2m
)");
  ASSERT_TRUE(resource.session_job.has_value());
  FakeClock clock;
  clock.now_ms = kB;
  SessionJobProcessorOptions cached_options;
  cached_options.source_partitions = 2;
  cached_options.idle_timeout_ms = 0;
  SessionJobProcessorOptions plain_options = cached_options;
  plain_options.cache_users = 0;
  auto cached = std::move(SessionJobProcessor::Create(*resource.session_job, &clock, cached_options)).value();
  auto plain = std::move(SessionJobProcessor::Create(*resource.session_job, &clock, plain_options)).value();

  std::map<std::string, std::optional<std::string>> states;
  std::set<std::pair<int64_t, std::string>> timers;
  auto same = [&](const ProcessorEffects& a, const ProcessorEffects& b, const std::string& what) {
    EXPECT_EQ(a.state_changed, b.state_changed) << what;
    EXPECT_EQ(a.state, b.state) << what;
    ASSERT_EQ(a.outputs.size(), b.outputs.size()) << what;
    for (size_t i = 0; i < a.outputs.size(); ++i) {
      EXPECT_EQ(a.outputs[i].key, b.outputs[i].key) << what;
      EXPECT_EQ(a.outputs[i].value, b.outputs[i].value) << what;
      EXPECT_EQ(a.outputs[i].timestamp_ms, b.outputs[i].timestamp_ms) << what;
    }
    EXPECT_EQ(a.timers_to_set, b.timers_to_set) << what;
    EXPECT_EQ(a.timers_to_cancel, b.timers_to_cancel) << what;
  };
  auto apply = [&](const std::string& user, const ProcessorEffects& e) {
    if (e.state_changed) states[user] = e.state;
    for (int64_t t : e.timers_to_cancel) timers.erase({t, user});
    for (int64_t t : e.timers_to_set) timers.insert({t, user});
  };
  const std::vector<std::string> destinations = {"Paris", "Rome", "Oslo", "Lima"};
  uint64_t rng = 42;
  auto next = [&](uint64_t n) {
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (rng >> 33) % n;
  };
  std::vector<std::string> sent;  // records already fed (replayed as duplicates)
  int64_t event_time = kB;
  size_t outputs = 0;
  for (int i = 0; i < 600; ++i) {
    clock.now_ms += 1000;
    if (next(10) == 0 && !timers.empty()) {  // the earliest timer fires
      auto [at, user] = *timers.begin();
      timers.erase(timers.begin());
      clock.now_ms = std::max(clock.now_ms, at);
      ProcessorEffects a, b;
      ASSERT_TRUE(cached->OnTimer(user, at, states[user], &a).ok());
      ASSERT_TRUE(plain->OnTimer(user, at, states[user], &b).ok());
      same(a, b, "timer " + std::to_string(i));
      apply(user, a);
      outputs += a.outputs.size();
      continue;
    }
    std::string record;
    if (next(12) == 0 && !sent.empty()) {
      record = sent[next(sent.size())];  // a replay upstream
    } else {
      event_time += static_cast<int64_t>(next(40)) * 1000;
      const int64_t late = next(8) == 0 ? static_cast<int64_t>(next(6)) * M : 0;
      record = SignalJson("u" + std::to_string(next(7)), "searches", event_time - late,
                          {{"destination", destinations[next(destinations.size())]},
                           {"guests", static_cast<int>(next(5))}});
      sent.push_back(record);
    }
    auto key = cached->KeyOf(record);
    ASSERT_TRUE(key.ok());
    ProcessorEffects a, b;
    ASSERT_TRUE(cached->Process(*key, record, states[*key], &a).ok());
    ASSERT_TRUE(plain->Process(*key, record, states[*key], &b).ok());
    same(a, b, "record " + std::to_string(i));
    apply(*key, a);
    outputs += a.outputs.size();
  }
  EXPECT_GT(outputs, 10u) << "the stream must close windows";
  EXPECT_GT(cached->stats().cache_hits, 300);
  EXPECT_EQ(plain->stats().cache_hits, 0);
  EXPECT_GT(cached->stats().duplicates, 0);
  EXPECT_EQ(cached->stats().duplicates, plain->stats().duplicates);
  EXPECT_EQ(cached->stats().dropped_late, plain->stats().dropped_late);
  EXPECT_GT(cached->stats().late + cached->stats().dropped_late, 0);
}

INSTANTIATE_TEST_SUITE_P(Windows, SessionCacheParityTest,
                         ::testing::Values("{type: sliding, size: 10m, slide: 5m}",
                                           "{type: session, gap: 3m}"));

TEST_F(SessionJobProcessorTest, TheCacheIsUsedOnlyForTheStateItProducedAndForgetsMovedPartitions) {
  Make("{type: session, gap: 10m}", "0s");
  SessionJobProcessorOptions plain_options;
  plain_options.source_partitions = 1;
  plain_options.idle_timeout_ms = 0;
  plain_options.cache_users = 0;
  auto plain = std::move(SessionJobProcessor::Create(*resource_.session_job, &clock_, plain_options)).value();

  Feed("u1", kB + 1 * M);
  const std::optional<std::string> first = states_["u1"];
  Feed("u1", kB + 2 * M);
  EXPECT_EQ(processor_->stats().cache_hits, 1);
  // Another owner's older (or different) state for u1: not what the cache
  // holds, so it is decoded, and the result is what it would be without cache.
  const std::string record = SignalJson("u1", "searches", kB + 3 * M);
  ProcessorEffects a, b;
  ASSERT_TRUE(processor_->Process("u1", record, first, &a).ok());
  ASSERT_TRUE(plain->Process("u1", record, first, &b).ok());
  EXPECT_EQ(processor_->stats().cache_hits, 1);
  EXPECT_EQ(processor_->stats().cache_misses, 2);  // u1's first record, and this one
  EXPECT_EQ(a.state, b.state);
  EXPECT_EQ(json::parse(*a.state)["windows"], json::parse(*b.state)["windows"]);
  // The cache now holds that result; a hand-over of the partition drops it.
  ProcessorEffects c;
  ASSERT_TRUE(processor_->Process("u1", SignalJson("u1", "searches", kB + 4 * M), a.state, &c).ok());
  EXPECT_EQ(processor_->stats().cache_hits, 2);
  processor_->ForgetPartitions({0});
  ProcessorEffects d;
  ASSERT_TRUE(processor_->Process("u1", SignalJson("u1", "searches", kB + 5 * M), c.state, &d).ok());
  EXPECT_EQ(processor_->stats().cache_hits, 2);
  EXPECT_EQ(processor_->stats().cache_misses, 3);
  EXPECT_EQ(json::parse(*d.state)["seen"].size(), 4u);  // 1m (in `first`), 3m, 4m, 5m
}

}  // namespace
}  // namespace usp
