#include "runtime/stateful/stateful_worker.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "runtime/worker/worker_test_fakes.h"

namespace usp {
namespace {

namespace fs = std::filesystem;
using testing::FakeClock;
using testing::FakeRecordSink;
using testing::FakeSourceReader;

constexpr char kSource[] = "usp.signal.searches";
constexpr char kOutput[] = "usp.segment.planner";
constexpr char kChangelog[] = "usp.changelog.usersegment.planner";

// Counts records per user; a record may ask for a timer ("timer": at), whose
// firing emits {"user","expired":at} and deletes the count.
class CountingProcessor : public KeyedProcessor {
 public:
  std::vector<std::vector<int32_t>> forgotten;  // ForgetPartitions calls
  void ForgetPartitions(const std::vector<int32_t>& partitions) override {
    forgotten.push_back(partitions);
  }
  Result<std::string> KeyOf(std::string_view record) override {
    auto j = nlohmann::json::parse(record, nullptr, false);
    if (j.is_discarded() || !j.contains("user")) return Status::InvalidArgument("no user");
    return j["user"].get<std::string>();
  }
  Status Process(std::string_view key, std::string_view record,
                 const std::optional<std::string>& state, ProcessorEffects* out) override {
    auto j = nlohmann::json::parse(record);
    int count = state ? std::stoi(*state) + 1 : 1;
    out->state_changed = true;
    out->state = std::to_string(count);
    out->outputs.push_back({std::string(key),
                            nlohmann::json{{"user", key}, {"count", count}}.dump(), 1});
    if (j.contains("timer")) out->timers_to_set.push_back(j["timer"].get<int64_t>());
    return Status::Ok();
  }
  Status OnTimer(std::string_view key, int64_t at_ms, const std::optional<std::string>& state,
                 ProcessorEffects* out) override {
    out->state_changed = true;
    out->state.reset();
    out->outputs.push_back({std::string(key),
                            nlohmann::json{{"user", key}, {"expired", at_ms}}.dump(), at_ms});
    return Status::Ok();
  }
};

class FakeFollower : public ChangelogFollower {
 public:
  std::vector<std::string> calls;
  std::vector<int32_t> following;
  Status Follow(std::vector<int32_t> partitions) override {
    following = partitions;
    calls.push_back("follow");
    return Status::Ok();
  }
  Result<int64_t> Poll(int) override { return int64_t{0}; }
  Status CatchUp(int32_t partition, int) override {
    calls.push_back("catchup:" + std::to_string(partition));
    return Status::Ok();
  }
  Status CatchUpAll(const std::vector<int32_t>& partitions, int) override {
    std::string call = "catchup:";
    for (int32_t p : partitions) call += (call.back() == ':' ? "" : ",") + std::to_string(p);
    calls.push_back(call);
    return Status::Ok();
  }
  int64_t Lag() override { return 0; }
};

class StatefulWorkerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "usp-stateful-XXXXXX").string();
    dir_ = mkdtemp(tmpl.data());
    store_ = std::move(StateStore::Open((dir_ / "db").string())).value();
    source_.partition_counts[kSource] = 4;
    sink_.partition_counts[kOutput] = 4;
    sink_.partition_counts[kChangelog] = 4;
  }
  void TearDown() override {
    worker_.reset();
    store_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  // The worker, with options_ (commit at every iteration) owning `partitions`.
  void Make(std::vector<int32_t> partitions, ChangelogFollower* follower = nullptr) {
    StatefulWorkerOptions o = options_;
    o.partitions = std::move(partitions);
    o.commit_interval_ms = 0;
    worker_ = std::make_unique<StatefulWorker>(
        StatefulJob{"UserSegment", "planner", {kSource}, kOutput, kChangelog}, &processor_,
        &source_, &sink_, store_.get(), follower, &clock_, o);
    ASSERT_TRUE(worker_->Start().ok());
  }
  static std::string Rec(const std::string& user, int64_t timer = -1) {
    nlohmann::json j = {{"user", user}};
    if (timer >= 0) j["timer"] = timer;
    return j.dump();
  }
  std::vector<std::string> Outputs() {
    std::vector<std::string> out;
    for (const auto& r : sink_.sent) {
      if (r.topic == kOutput) out.push_back(r.value);
    }
    return out;
  }
  size_t ChangelogRecords() {
    size_t n = 0;
    for (const auto& r : sink_.sent) n += r.topic == kChangelog ? 1 : 0;
    return n;
  }

  fs::path dir_;
  std::unique_ptr<StateStore> store_;
  FakeSourceReader source_;
  FakeRecordSink sink_;
  FakeClock clock_;
  CountingProcessor processor_;
  StatefulWorkerOptions options_;
  std::unique_ptr<StatefulWorker> worker_;
};

TEST_F(StatefulWorkerTest, StateIsKeptPerUserAndTheChangelogGetsEachUsersLastState) {
  Make({1});
  source_.Add(kSource, 1, 0, Rec("u1"));
  source_.Add(kSource, 1, 1, Rec("u2"));
  source_.Add(kSource, 1, 2, Rec("u1"));
  ASSERT_TRUE(worker_->RunOnce().ok());
  EXPECT_EQ(Outputs(), (std::vector<std::string>{R"({"count":1,"user":"u1"})",
                                                 R"({"count":1,"user":"u2"})",
                                                 R"({"count":2,"user":"u1"})"}));
  // One wave: u1's last state and u2's, not u1's first.
  EXPECT_EQ(ChangelogRecords(), 2u);
  for (const auto& r : sink_.sent) {
    if (r.topic == kChangelog) {
      EXPECT_EQ(r.partition, 1);  // the source partition
      EXPECT_EQ(DecodeStateEnvelope(r.value)->state.value(), r.key == "s/u1" ? "2" : "1");
    }
    if (r.topic == kOutput) {
      auto j = nlohmann::json::parse(r.value);
      EXPECT_EQ(r.key, j["user"]);
    }
  }
  auto env = DecodeStateEnvelope(**store_->Get(1, "s/u1"));
  ASSERT_TRUE(env.ok());
  EXPECT_EQ(env->state, "2");
  EXPECT_EQ(env->offsets.at(kSource), 2);
  EXPECT_EQ(source_.CommittedOffset(kSource, 1), 3);
}

TEST_F(StatefulWorkerTest, ReplayedRecordsDoNotChangeStateTwiceNorResendOutputs) {
  Make({0});
  source_.Add(kSource, 0, 0, Rec("u1"));
  source_.Add(kSource, 0, 1, Rec("u1"));
  ASSERT_TRUE(worker_->RunOnce().ok());
  // A new owner resumes from an older committed offset than the state has
  // seen (the old owner died between the changelog write and the commit).
  // The store stands for the new owner's replica: it has everything the
  // changelog got (a clean stop here, so the owner marker is cleared).
  ASSERT_TRUE(worker_->Finish().ok());
  source_.committed[{kSource, 0}] = 0;
  sink_.sent.clear();
  worker_.reset();
  Make({0});
  source_.batches.emplace_back();
  source_.Add(kSource, 0, 0, Rec("u1"));
  source_.Add(kSource, 0, 1, Rec("u1"));
  source_.Add(kSource, 0, 2, Rec("u1"));
  ASSERT_TRUE(worker_->RunOnce().ok());
  EXPECT_EQ(Outputs(), std::vector<std::string>{R"({"count":3,"user":"u1"})"});
  EXPECT_EQ(worker_->Stats().replayed, 2);
  EXPECT_EQ(source_.CommittedOffset(kSource, 0), 3);
}

TEST_F(StatefulWorkerTest, AnOffsetIsCommittedOnlyWhenItsOutputAndChangelogAreAcknowledged) {
  Make({2});
  sink_.auto_ack = false;
  source_.Add(kSource, 2, 0, Rec("u1"));
  ASSERT_TRUE(worker_->RunOnce().ok());
  ASSERT_EQ(sink_.sent.size(), 1u);  // the output; the changelog waits for it
  EXPECT_EQ(sink_.sent[0].topic, kOutput);
  EXPECT_EQ(source_.CommittedOffset(kSource, 2), kOffsetInvalid);
  sink_.Report(0);  // the output
  ASSERT_TRUE(worker_->RunOnce().ok());
  ASSERT_EQ(sink_.sent.size(), 2u);
  EXPECT_EQ(sink_.sent[1].topic, kChangelog);
  EXPECT_EQ(source_.CommittedOffset(kSource, 2), kOffsetInvalid);
  sink_.AckAll();
  ASSERT_TRUE(worker_->RunOnce().ok());
  EXPECT_EQ(source_.CommittedOffset(kSource, 2), 1);
  // /status shows it.
  const auto committed = worker_->Snapshot().committed;
  ASSERT_EQ(committed.size(), 1u);
  EXPECT_EQ(committed[0].topic, kSource);
  EXPECT_EQ(committed[0].partition, 2);
  EXPECT_EQ(committed[0].offset, 1);
}

// The crash the rule prevents: the changelog (so a standby's state) had a
// record whose output never arrived; the new owner skipped it as a replay.
TEST_F(StatefulWorkerTest, NoChangelogRecordIsSentBeforeTheOutputsOfItsAndEveryEarlierRecord) {
  Make({0});
  sink_.auto_ack = false;
  source_.Add(kSource, 0, 0, Rec("u1"));
  source_.Add(kSource, 0, 1, Rec("u1"));
  source_.Add(kSource, 0, 2, Rec("u2"));
  ASSERT_TRUE(worker_->RunOnce().ok());
  ASSERT_EQ(sink_.sent.size(), 3u);
  EXPECT_EQ(ChangelogRecords(), 0u);
  sink_.Report(2);  // u2's output first: u1's earlier records still hold the changelog back
  sink_.Report(1);
  ASSERT_TRUE(worker_->RunOnce().ok());
  EXPECT_EQ(ChangelogRecords(), 0u);
  sink_.Report(0);
  ASSERT_TRUE(worker_->RunOnce().ok());
  ASSERT_EQ(ChangelogRecords(), 2u);
  // One wave, each key's last state: u1's count 2 (not 1, then 2).
  std::vector<std::string> states;
  for (const auto& r : sink_.sent) {
    if (r.topic == kChangelog && r.key == "s/u1") states.push_back(DecodeStateEnvelope(r.value)->state.value());
  }
  EXPECT_EQ(states, (std::vector<std::string>{"2"}));
  sink_.AckAll();
  ASSERT_TRUE(worker_->RunOnce().ok());
  EXPECT_EQ(source_.CommittedOffset(kSource, 0), 3);
}

// A producer's retry can land a batch after a later one: while a key's
// changelog record is unacknowledged, no later one is sent, so an older state
// can never land after a newer one and a key's last record is its state.
TEST_F(StatefulWorkerTest, AChangelogWaveIsSentOnlyOnceThePreviousOneIsAcknowledged) {
  Make({0});
  sink_.auto_ack = false;
  source_.Add(kSource, 0, 0, Rec("u1"));
  ASSERT_TRUE(worker_->RunOnce().ok());
  sink_.AckAll();  // the output
  ASSERT_TRUE(worker_->RunOnce().ok());
  ASSERT_EQ(ChangelogRecords(), 1u);  // wave 1: u1's count 1, not acknowledged
  const size_t wave1 = sink_.sent.size() - 1;
  source_.batches.emplace_back();
  source_.Add(kSource, 0, 1, Rec("u1"));
  source_.Add(kSource, 0, 2, Rec("u2"));
  ASSERT_TRUE(worker_->RunOnce().ok());
  for (size_t i = wave1 + 1; i < sink_.sent.size(); ++i) sink_.Report(i);  // the outputs
  ASSERT_TRUE(worker_->RunOnce().ok());
  ASSERT_TRUE(worker_->RunOnce().ok());
  EXPECT_EQ(ChangelogRecords(), 1u) << "wave 2 waits for wave 1";
  EXPECT_EQ(source_.CommittedOffset(kSource, 0), kOffsetInvalid);
  sink_.Report(wave1);
  ASSERT_TRUE(worker_->RunOnce().ok());
  EXPECT_EQ(source_.CommittedOffset(kSource, 0), 1) << "wave 1 acknowledged";
  ASSERT_EQ(ChangelogRecords(), 3u);  // wave 2: u1's count 2 and u2's count 1
  sink_.AckAll();
  ASSERT_TRUE(worker_->RunOnce().ok());
  EXPECT_EQ(source_.CommittedOffset(kSource, 0), 3);
}

TEST_F(StatefulWorkerTest, AWorkerKilledWhileOwningAPartitionRestoresItFromTheChangelog) {
  Make({1, 2});
  source_.Add(kSource, 1, 0, Rec("u1"));
  source_.Add(kSource, 2, 0, Rec("u2"));
  ASSERT_TRUE(worker_->RunOnce().ok());
  ASSERT_TRUE(store_->Get(1, "s/u1")->has_value());
  worker_.reset();  // killed: no Finish()
  FakeFollower follower;
  Make({}, &follower);
  // Its local writes may be ahead of the changelog: both partitions dropped.
  EXPECT_FALSE(store_->Get(1, "s/u1")->has_value());
  EXPECT_FALSE(store_->Get(2, "s/u2")->has_value());
  EXPECT_EQ(store_->ChangelogNext(1), 0);
}

TEST_F(StatefulWorkerTest, AfterACleanStopOrHandOverTheStoreIsKept) {
  Make({1, 2});
  source_.Add(kSource, 1, 0, Rec("u1"));
  source_.Add(kSource, 2, 0, Rec("u2"));
  ASSERT_TRUE(worker_->RunOnce().ok());
  // Hands partition 2 over, then stops cleanly owning 1.
  ASSERT_EQ(worker_->ApplyAssignment(1, {1}).result, AssignmentResult::kApplied);
  ASSERT_TRUE(worker_->Finish().ok());
  worker_.reset();
  FakeFollower follower;
  Make({}, &follower);
  EXPECT_TRUE(store_->Get(1, "s/u1")->has_value());
  EXPECT_TRUE(store_->Get(2, "s/u2")->has_value());
}

TEST_F(StatefulWorkerTest, ATimerFiresAtExactlyItsTimeAndOnlyOnce) {
  Make({3});
  const int64_t at = clock_.now_ms + 60'000;
  source_.Add(kSource, 3, 0, Rec("u9", at));
  ASSERT_TRUE(worker_->RunOnce().ok());
  ASSERT_EQ(Outputs().size(), 1u);
  clock_.now_ms = at - 1;
  ASSERT_TRUE(worker_->RunOnce().ok());
  EXPECT_EQ(Outputs().size(), 1u) << "fired early";
  clock_.now_ms = at;
  ASSERT_TRUE(worker_->RunOnce().ok());
  ASSERT_EQ(Outputs().size(), 2u);
  EXPECT_EQ(Outputs()[1], nlohmann::json({{"user", "u9"}, {"expired", at}}).dump());
  clock_.now_ms = at + 10;
  ASSERT_TRUE(worker_->RunOnce().ok());
  EXPECT_EQ(Outputs().size(), 2u) << "fired twice";
  EXPECT_EQ(DueTimers(*store_, 3, INT64_MAX)->size(), 0u);
  EXPECT_EQ(worker_->Stats().timers_fired, 1);
  // The timer's removal went to the changelog too (a tombstone).
  bool tombstone = false;
  for (const auto& r : sink_.sent) {
    if (r.topic == kChangelog && r.key == TimerKey(at, "u9")) tombstone |= r.value.empty();
  }
  EXPECT_TRUE(tombstone);
}

TEST_F(StatefulWorkerTest, TakingAPartitionOverCatchesUpItsStateFirstAndFollowsTheRest) {
  FakeFollower follower;
  Make({}, &follower);  // a standby
  EXPECT_EQ(follower.following, (std::vector<int32_t>{0, 1, 2, 3}));
  auto outcome = worker_->ApplyAssignment(1, {1, 3});
  EXPECT_EQ(outcome.result, AssignmentResult::kApplied);
  EXPECT_EQ(follower.calls,
            (std::vector<std::string>{"follow", "catchup:1,3", "follow"}));  // both at once
  EXPECT_EQ(follower.following, (std::vector<int32_t>{0, 2}));
  EXPECT_EQ(worker_->Snapshot().partitions, (std::vector<int32_t>{1, 3}));
  EXPECT_EQ(worker_->ApplyAssignment(0, {}).result, AssignmentResult::kStale);
  EXPECT_EQ(worker_->ApplyAssignment(1, {2}).result, AssignmentResult::kConflicting);
}

TEST_F(StatefulWorkerTest, ARecordWithoutAKeyIsCountedAndDoesNotBlockCommits) {
  Make({0});
  source_.Add(kSource, 0, 0, "{}");
  source_.Add(kSource, 0, 1, Rec("u1"));
  ASSERT_TRUE(worker_->RunOnce().ok());
  EXPECT_EQ(worker_->Stats().invalid, 1);
  EXPECT_EQ(source_.CommittedOffset(kSource, 0), 2);
}

TEST(StateCache, CountsItsBytesThroughOverwritesAndDropsAndForgetsAllPastTheBound) {
  StateCache cache(1000);
  cache.Put(1, "s/u1", std::string(100, 'a'));  // 4 + 100 + 64
  cache.Put(2, "s/u2", std::nullopt);           // 4 + 64: known absent
  EXPECT_EQ(cache.bytes(), 168u + 68u);
  ASSERT_NE(cache.Find(2, "s/u2"), nullptr);
  EXPECT_FALSE(cache.Find(2, "s/u2")->has_value());
  EXPECT_EQ(cache.Find(1, "s/u2"), nullptr) << "per partition";
  cache.Put(1, "s/u1", std::string(10, 'b'));
  EXPECT_EQ(cache.bytes(), 78u + 68u) << "an overwrite replaces its cost";
  EXPECT_EQ(**cache.Find(1, "s/u1"), std::string(10, 'b'));
  cache.DropPartition(2);
  EXPECT_EQ(cache.bytes(), 78u);
  EXPECT_EQ(cache.Find(2, "s/u2"), nullptr);
  cache.Put(3, "s/big", std::string(900, 'c'));  // 78 + 969 > 1000: all dropped first
  EXPECT_EQ(cache.Find(1, "s/u1"), nullptr);
  EXPECT_EQ(cache.bytes(), 969u);
  StateCache off(0);
  off.Put(1, "s/u1", std::string("x"));
  EXPECT_EQ(off.Find(1, "s/u1"), nullptr);
}

TEST(StateEnvelope, RoundTrips) {
  StateEnvelope e{{{"t", 5}}, std::string("abc")};
  auto d = DecodeStateEnvelope(EncodeStateEnvelope(e));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->offsets, e.offsets);
  EXPECT_EQ(d->state, e.state);
  EXPECT_FALSE(DecodeStateEnvelope("nope").ok());
}

TEST(StateEnvelope, BinaryFormatKeepsAnyStateBytesAndEveryTopic) {
  const std::string state = std::string("{\"a\":\"q\\\"\u00e9\"}\0\x02\xff", 16);
  for (const StateEnvelope& e :
       {StateEnvelope{{{"left", 0}, {"right", int64_t{1} << 40}, {"x", -1}}, state},
        StateEnvelope{{{"t", 7}}, std::nullopt}, StateEnvelope{{}, std::string()}}) {
    const std::string bytes = EncodeStateEnvelope(e);
    EXPECT_EQ(bytes[0], '\x02');
    auto d = DecodeStateEnvelope(bytes);
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    EXPECT_EQ(d->offsets, e.offsets);
    EXPECT_EQ(d->state, e.state);
    // Every truncation is an error, never a misread.
    for (size_t n = 0; n < bytes.size(); ++n) {
      auto t = DecodeStateEnvelope(std::string_view(bytes).substr(0, n));
      if (t.ok()) {  // only a shorter state can still parse: the state is the tail
        ASSERT_TRUE(e.state.has_value());
        EXPECT_EQ(t->offsets, e.offsets);
        EXPECT_LT(t->state->size(), e.state->size());
      }
    }
  }
  EXPECT_FALSE(DecodeStateEnvelope(std::string("\x02\x05", 2)).ok());
  EXPECT_FALSE(DecodeStateEnvelope(std::string("\x02\x00\x07", 3)).ok());
}

TEST(StateEnvelope, TheFormerJsonFormatStillDecodes) {
  StateEnvelope e{{{"usp.signal.searches", 41}}, std::string(R"({"n":"quote \" here"})")};
  const std::string old = EncodeJsonStateEnvelope(e);
  EXPECT_EQ(old, R"({"o":{"usp.signal.searches":41},"s":"{\"n\":\"quote \\\" here\"}"})");
  auto d = DecodeStateEnvelope(old);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->offsets, e.offsets);
  EXPECT_EQ(d->state, e.state);
  auto none = DecodeStateEnvelope(R"({"o":{"t":3}})");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->state.has_value());
}

TEST_F(StatefulWorkerTest, AStateWrittenInTheFormerJsonFormatIsRestoredAndRewrittenInBinary) {
  // What an older worker left: u1 counted 5, source offset 0 applied.
  ASSERT_TRUE(store_->Apply(1, {{"s/u1", EncodeJsonStateEnvelope({{{kSource, 0}}, "5"})}}).ok());
  Make({1});
  source_.Add(kSource, 1, 0, Rec("u1"));  // replayed: already in the state
  source_.Add(kSource, 1, 1, Rec("u1"));
  ASSERT_TRUE(worker_->RunOnce().ok());
  EXPECT_EQ(Outputs(), (std::vector<std::string>{R"({"count":6,"user":"u1"})"}));
  EXPECT_EQ(worker_->Stats().replayed, 1);
  auto stored = store_->Get(1, "s/u1");
  ASSERT_TRUE(stored.ok() && stored->has_value());
  EXPECT_EQ((**stored)[0], '\x02');
  auto env = DecodeStateEnvelope(**stored);
  ASSERT_TRUE(env.ok());
  EXPECT_EQ(env->state, "6");
  EXPECT_EQ(env->offsets.at(kSource), 1);
}

TEST_F(StatefulWorkerTest, TimersOfATakenOverPartitionAreLoadedAndThoseOfAReleasedOneAreNot) {
  FakeFollower follower;
  // A previous owner's state and timer, as the changelog replicated them.
  const int64_t at = clock_.now_ms + 5'000;
  ASSERT_TRUE(store_->Apply(2, {{"s/u7", EncodeStateEnvelope({{{kSource, 0}}, "1"})},
                                {TimerKey(at, "u7"), "1"}})
                  .ok());
  ASSERT_TRUE(store_->Apply(0, {{"s/u8", EncodeStateEnvelope({{{kSource, 0}}, "1"})},
                                {TimerKey(at, "u8"), "1"}})
                  .ok());
  Make({}, &follower);
  ASSERT_EQ(worker_->ApplyAssignment(1, {0, 2}).result, AssignmentResult::kApplied);
  EXPECT_EQ(processor_.forgotten, (std::vector<std::vector<int32_t>>{{0, 2}}));
  ASSERT_EQ(worker_->ApplyAssignment(2, {2}).result, AssignmentResult::kApplied);
  EXPECT_EQ(processor_.forgotten.back(), (std::vector<int32_t>{0}));
  clock_.now_ms = at;
  ASSERT_TRUE(worker_->RunOnce().ok());
  EXPECT_EQ(Outputs(), (std::vector<std::string>{
                           nlohmann::json({{"user", "u7"}, {"expired", at}}).dump()}))
      << "u8's partition 0 was released: its timer is the next owner's";
  EXPECT_EQ(DueTimers(*store_, 2, INT64_MAX)->size(), 0u);
  EXPECT_EQ(DueTimers(*store_, 0, INT64_MAX)->size(), 1u);
}

// A takeover reads only the timers due within the horizon (a segment's
// expiry timers are days ahead: reading them all made a takeover of 1e5
// users' state ~80 ms slower); later ones are read as the clock nears them
// and fire at exactly their time, once, as do timers this owner sets.
TEST_F(StatefulWorkerTest, TimersBeyondTheHorizonAreReadWhenTheClockNearsThem) {
  FakeFollower follower;
  const int64_t soon = clock_.now_ms + 5'000;
  const int64_t days = clock_.now_ms + 3 * 86'400'000LL;
  ASSERT_TRUE(store_->Apply(1, {{"s/u1", EncodeStateEnvelope({{{kSource, 0}}, "1"})},
                                {TimerKey(soon, "u1"), "1"},
                                {"s/u2", EncodeStateEnvelope({{{kSource, 0}}, "1"})},
                                {TimerKey(days, "u2"), "1"}})
                  .ok());
  options_.timer_horizon_ms = 60'000;
  Make({}, &follower);
  ASSERT_EQ(worker_->ApplyAssignment(1, {1}).result, AssignmentResult::kApplied);
  source_.Add(kSource, 1, 0, Rec("u3", days + 1));  // set by this owner, days ahead too
  ASSERT_TRUE(worker_->RunOnce().ok());
  const auto expired = [&] {
    std::vector<std::string> users;
    for (const auto& out : Outputs()) {
      auto j = nlohmann::json::parse(out);
      if (j.contains("expired")) users.push_back(j["user"].get<std::string>());
    }
    return users;
  };
  clock_.now_ms = soon;
  ASSERT_TRUE(worker_->RunOnce().ok());
  EXPECT_EQ(expired(), std::vector<std::string>{"u1"});
  // Through the days in steps of 20 s of clock: nothing early, then both.
  while (clock_.now_ms < days - 20'000) {
    clock_.now_ms += 20'000;
    ASSERT_TRUE(worker_->RunOnce().ok());
  }
  EXPECT_EQ(expired(), std::vector<std::string>{"u1"});
  clock_.now_ms = days + 1;
  ASSERT_TRUE(worker_->RunOnce().ok());
  EXPECT_EQ(expired(), (std::vector<std::string>{"u1", "u2", "u3"}));
  clock_.now_ms += 60'000;
  ASSERT_TRUE(worker_->RunOnce().ok());
  EXPECT_EQ(expired().size(), 3u) << "each once";
  EXPECT_EQ(DueTimers(*store_, 1, INT64_MAX)->size(), 0u);
}

// The worker keeps owned partitions' state values in memory (no RocksDB
// read per record); a partition lost and taken over again must be read from
// the store again, where the changelog put what another owner did meanwhile.
TEST_F(StatefulWorkerTest, AStateCachedBeforeAPartitionWasLostIsNotUsedAfterItIsRegained) {
  FakeFollower follower;
  Make({}, &follower);
  ASSERT_EQ(worker_->ApplyAssignment(1, {1}).result, AssignmentResult::kApplied);
  source_.Add(kSource, 1, 0, Rec("u1"));
  ASSERT_TRUE(worker_->RunOnce().ok());
  ASSERT_EQ(worker_->ApplyAssignment(2, {}).result, AssignmentResult::kApplied);
  // Another owner counted u1 to 5 (offset 4); the changelog brought it here.
  ASSERT_TRUE(store_->Apply(1, {{"s/u1", EncodeStateEnvelope({{{kSource, 4}}, "5"})}}).ok());
  source_.committed[{kSource, 1}] = 5;
  ASSERT_EQ(worker_->ApplyAssignment(3, {1}).result, AssignmentResult::kApplied);
  source_.batches.emplace_back();
  source_.Add(kSource, 1, 5, Rec("u1"));
  ASSERT_TRUE(worker_->RunOnce().ok());
  EXPECT_EQ(Outputs().back(), R"({"count":6,"user":"u1"})");
}

}  // namespace
}  // namespace usp
