#include "core/join/left_join.h"

#include <gtest/gtest.h>

#include <deque>

namespace usp {
namespace {

using nlohmann::json;

constexpr int64_t kHour = 3600 * 1000;
constexpr int64_t kT0 = 1'700'000'000'000;  // event times, epoch ms
constexpr char kLeftTopic[] = "search-events";
constexpr char kRightTopic[] = "booking-events";

UserSignal MakeSignal(const json& overrides = json::object()) {
  json spec = {
      {"type", "left_join"},
      {"leftEventSource", {{"kafkaTopic", kLeftTopic}, {"joinKeyField", "/search_id"}}},
      {"rightEventSource", {{"kafkaTopic", kRightTopic}, {"joinKeyField", "/search_id"}}},
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
  std::optional<UserSignal> signal = ParseUserSignal(doc, &errors);
  EXPECT_TRUE(signal.has_value()) << (errors.empty() ? "" : errors[0].ToString());
  return signal.value_or(UserSignal{});
}

std::string Left(const std::string& search, int64_t t, const std::string& query = "paris") {
  return json{{"search_id", search}, {"user_id", "u1"}, {"event_time", t}, {"query", query}}
      .dump();
}
std::string Right(const std::string& search, int64_t t, const std::string& booking) {
  return json{{"search_id", search}, {"event_time", t}, {"booking_id", booking}}.dump();
}

class LeftJoinTest : public ::testing::Test {
 protected:
  void Build(const json& overrides = json::object()) {
    auto join = LeftJoin::Create(MakeSignal(overrides));
    ASSERT_TRUE(join.ok()) << join.status().ToString();
    join_ = std::move(join).value();
  }
  // Processes one record at processing time `now`; returns its result.
  JoinResult Feed(JoinSide side, const std::string& payload, int64_t now) {
    stored_.push_back(payload);
    JoinRecordRef r{side, side == JoinSide::kLeft ? kLeftTopic : kRightTopic, 0, next_offset_++,
                    stored_.back()};
    JoinResult out;
    join_->Process(r, now, &state_, &out);
    // What the worker does: the state goes through its encoding.
    auto decoded = DecodeJoinState(EncodeJoinState(state_));
    EXPECT_TRUE(decoded.ok());
    EXPECT_EQ(*decoded, state_);
    return out;
  }
  static json Attrs(const SignalRecord& r) { return json::parse(r.attributes_json); }

  std::unique_ptr<LeftJoin> join_;
  JoinState state_;
  std::deque<std::string> stored_;
  int64_t next_offset_ = 0;
};

TEST_F(LeftJoinTest, LeftAloneIsEmittedAtOnceWithRightNull) {
  Build();
  JoinResult out = Feed(JoinSide::kLeft, Left("s1", kT0), kT0 + 5);
  ASSERT_EQ(out.records.size(), 1u);
  const SignalRecord& r = out.records[0];
  EXPECT_EQ(r.user_id, "u1");
  EXPECT_EQ(r.signal, "booked-searches");
  EXPECT_EQ(r.event_time, kT0);
  EXPECT_EQ(r.event_id, "search-events-0-0");
  EXPECT_EQ(r.version, kT0 + 5);
  EXPECT_EQ(Attrs(r), (json{{"booking", nullptr}, {"query", "paris"}}));
  EXPECT_EQ(out.timers, (std::vector<int64_t>{kT0 + 5 + kHour}));
  EXPECT_TRUE(out.state_changed);
  EXPECT_EQ(state_.lefts.size(), 1u);
}

TEST_F(LeftJoinTest, WholeJoinedDocumentIsTheDefaultAttributes) {
  Build({{"attributes", json::object()}});
  Feed(JoinSide::kRight, Right("s1", kT0 - 10, "b1"), kT0);
  JoinResult out = Feed(JoinSide::kLeft, Left("s1", kT0), kT0);
  ASSERT_EQ(out.records.size(), 1u);
  EXPECT_EQ(Attrs(out.records[0]),
            (json{{"left", json::parse(Left("s1", kT0))},
                  {"right", json::parse(Right("s1", kT0 - 10, "b1"))}}));
}

TEST_F(LeftJoinTest, RightBeforeLeftJoinsAtOnce) {
  Build();
  JoinResult right = Feed(JoinSide::kRight, Right("s1", kT0 - 10 * 60 * 1000, "b1"), kT0);
  EXPECT_TRUE(right.records.empty());
  EXPECT_EQ(right.timers.size(), 1u);
  JoinResult out = Feed(JoinSide::kLeft, Left("s1", kT0), kT0 + 1);
  ASSERT_EQ(out.records.size(), 1u);
  EXPECT_EQ(Attrs(out.records[0])["booking"], "b1");
  EXPECT_EQ(out.records[0].event_id, "search-events-0-1");
}

TEST_F(LeftJoinTest, RightAfterLeftWithinWindowEmitsNewerVersionOfTheSameRow) {
  Build();
  JoinResult first = Feed(JoinSide::kLeft, Left("s1", kT0), kT0 + 100);
  JoinResult second = Feed(JoinSide::kRight, Right("s1", kT0 + 30 * 60 * 1000, "b1"), kT0 + 100);
  ASSERT_EQ(first.records.size(), 1u);
  ASSERT_EQ(second.records.size(), 1u);
  const SignalRecord& a = first.records[0];
  const SignalRecord& b = second.records[0];
  EXPECT_EQ(b.user_id, a.user_id);
  EXPECT_EQ(b.event_time, a.event_time);
  EXPECT_EQ(b.event_id, a.event_id);
  EXPECT_GT(b.version, a.version);  // same processing time: previous + 1
  EXPECT_EQ(b.version, kT0 + 101);
  EXPECT_EQ(Attrs(a)["booking"], nullptr);
  EXPECT_EQ(Attrs(b)["booking"], "b1");
}

TEST_F(LeftJoinTest, RightBeyondTheWindowDoesNotJoin) {
  Build();
  Feed(JoinSide::kLeft, Left("s1", kT0), kT0);
  EXPECT_TRUE(Feed(JoinSide::kRight, Right("s1", kT0 + kHour + 1, "late"), kT0).records.empty());
  EXPECT_TRUE(Feed(JoinSide::kRight, Right("s1", kT0 - kHour - 1, "early"), kT0).records.empty());
  // The edge of the window joins.
  JoinResult edge = Feed(JoinSide::kRight, Right("s1", kT0 + kHour, "edge"), kT0);
  ASSERT_EQ(edge.records.size(), 1u);
  EXPECT_EQ(Attrs(edge.records[0])["booking"], "edge");
  // A right beyond the window of a later left does not join it either.
  JoinResult left = Feed(JoinSide::kLeft, Left("s1", kT0 + 3 * kHour), kT0);
  ASSERT_EQ(left.records.size(), 1u);
  EXPECT_EQ(Attrs(left.records[0])["booking"], nullptr);
}

TEST_F(LeftJoinTest, TheLatestRightByEventTimeWins) {
  Build();
  Feed(JoinSide::kLeft, Left("s1", kT0), kT0);
  JoinResult a = Feed(JoinSide::kRight, Right("s1", kT0 + 20, "b20"), kT0 + 1);
  JoinResult older = Feed(JoinSide::kRight, Right("s1", kT0 + 10, "b10"), kT0 + 2);
  JoinResult later = Feed(JoinSide::kRight, Right("s1", kT0 + 30, "b30"), kT0 + 3);
  ASSERT_EQ(a.records.size(), 1u);
  EXPECT_TRUE(older.records.empty());  // not better than the current match
  ASSERT_EQ(later.records.size(), 1u);
  EXPECT_EQ(Attrs(later.records[0])["booking"], "b30");
  // A new left picks the latest of the rights in its window.
  JoinResult left = Feed(JoinSide::kLeft, Left("s1", kT0 + 5), kT0 + 4);
  ASSERT_EQ(left.records.size(), 1u);
  EXPECT_EQ(Attrs(left.records[0])["booking"], "b30");
}

TEST_F(LeftJoinTest, SeveralLeftsThenOneRightEmitANewVersionOfEach) {
  Build();
  Feed(JoinSide::kLeft, Left("s1", kT0, "a"), kT0);
  Feed(JoinSide::kLeft, Left("s1", kT0 + 1000, "b"), kT0 + 1000);
  Feed(JoinSide::kLeft, Left("s1", kT0 - 2 * kHour, "old"), kT0 + 1000);  // out of the window
  JoinResult out = Feed(JoinSide::kRight, Right("s1", kT0 + 2000, "b1"), kT0 + 2000);
  ASSERT_EQ(out.records.size(), 2u);
  EXPECT_EQ(Attrs(out.records[0])["query"], "a");
  EXPECT_EQ(out.records[0].event_id, "search-events-0-0");
  EXPECT_EQ(Attrs(out.records[1])["query"], "b");
  EXPECT_EQ(out.records[1].event_id, "search-events-0-1");
  for (const auto& r : out.records) {
    EXPECT_EQ(Attrs(r)["booking"], "b1");
    EXPECT_EQ(r.version, kT0 + 2000);
  }
}

TEST_F(LeftJoinTest, StateExpiresWithTheWindowByTimer) {
  Build();
  JoinResult l = Feed(JoinSide::kLeft, Left("s1", kT0), kT0);
  JoinResult r = Feed(JoinSide::kRight, Right("s1", kT0 - kHour / 2, "b1"), kT0 + 10);
  ASSERT_EQ(l.timers, (std::vector<int64_t>{kT0 + kHour}));
  ASSERT_EQ(r.timers, (std::vector<int64_t>{kT0 + 10 + kHour}));

  JoinResult fired;
  join_->OnTimer(kT0 + kHour, &state_, &fired);
  EXPECT_TRUE(fired.state_changed);
  EXPECT_TRUE(fired.records.empty());
  EXPECT_TRUE(state_.lefts.empty());
  EXPECT_EQ(state_.rights.size(), 1u);

  JoinResult again;  // a stale timer changes nothing
  join_->OnTimer(kT0 + kHour, &state_, &again);
  EXPECT_FALSE(again.state_changed);

  JoinResult last;
  join_->OnTimer(kT0 + 10 + kHour, &state_, &last);
  EXPECT_TRUE(last.state_changed);
  EXPECT_TRUE(state_.empty());

  // Expired: a right within the window of the old left finds nothing.
  EXPECT_TRUE(Feed(JoinSide::kRight, Right("s1", kT0, "b2"), kT0 + kHour + 20).records.empty());
}

TEST_F(LeftJoinTest, LateEventsKeepStateForAWindowAfterTheirArrival) {
  Build();
  // A left whose event time is two windows old is kept a window from now.
  JoinResult l = Feed(JoinSide::kLeft, Left("s1", kT0), kT0 + 2 * kHour);
  EXPECT_EQ(l.timers, (std::vector<int64_t>{kT0 + 3 * kHour}));
}

TEST_F(LeftJoinTest, KeepsAtMostMaxEventsPerSideAndKey) {
  Build();
  for (size_t i = 0; i < kMaxEventsPerSide + 5; ++i) {
    JoinRecordRef r{JoinSide::kRight, kRightTopic, 0, static_cast<int64_t>(i), ""};
    const std::string payload = Right("s1", kT0 + static_cast<int64_t>(i), "b");
    r.payload = payload;
    JoinResult out;
    join_->Process(r, kT0, &state_, &out);
  }
  ASSERT_EQ(state_.rights.size(), kMaxEventsPerSide);
  EXPECT_EQ(state_.rights.front().event_time, kT0 + 5);  // the earliest expiring went first
}

TEST_F(LeftJoinTest, JoinKeysAreStringsOrIntegers) {
  Build();
  TransformError error;
  EXPECT_EQ(join_->JoinKey(JoinSide::kLeft, Left("s1", kT0), &error), "s1");
  EXPECT_EQ(join_->JoinKey(JoinSide::kRight, R"({"search_id": 42})", &error), "42");
  EXPECT_FALSE(join_->JoinKey(JoinSide::kRight, R"({"x": 1})", &error).has_value());
  EXPECT_EQ(error.reason, "missing_join_key");
  EXPECT_FALSE(join_->JoinKey(JoinSide::kLeft, R"({"search_id": true})", &error).has_value());
  EXPECT_EQ(error.reason, "bad_join_key");
  EXPECT_FALSE(join_->JoinKey(JoinSide::kLeft, R"({"search_id": ""})", &error).has_value());
  EXPECT_EQ(error.reason, "bad_join_key");
  EXPECT_FALSE(join_->JoinKey(JoinSide::kLeft, "nope", &error).has_value());
  EXPECT_EQ(error.reason, "not_json");
}

TEST_F(LeftJoinTest, BadRecordsAreDeadLetteredByDefault) {
  Build();
  const std::string payload = R"({"user_id":"u1"})";
  TransformError error;
  ASSERT_FALSE(join_->JoinKey(JoinSide::kLeft, payload, &error).has_value());
  JoinResult out;
  join_->Reject({JoinSide::kLeft, kLeftTopic, 3, 17, payload}, error, kT0, &out);
  EXPECT_EQ(out.bad, 1);
  EXPECT_TRUE(out.fatal.ok());
  ASSERT_EQ(out.dead_letters.size(), 1u);
  json dl = json::parse(out.dead_letters[0]);
  EXPECT_EQ(dl["source_topic"], kLeftTopic);
  EXPECT_EQ(dl["source_partition"], 3);
  EXPECT_EQ(dl["source_offset"], 17);
  EXPECT_EQ(dl["signal"], "booked-searches");
  EXPECT_EQ(dl["error"]["reason"], "missing_join_key");
  EXPECT_EQ(dl["payload"], payload);
  EXPECT_EQ(dl["time"], kT0);

  // A left without an event time, a right with a bad one: dead letters, no state.
  JoinResult no_time = Feed(JoinSide::kLeft, R"({"search_id":"s1","user_id":"u1"})", kT0);
  ASSERT_EQ(no_time.dead_letters.size(), 1u);
  EXPECT_EQ(json::parse(no_time.dead_letters[0])["error"]["reason"], "missing_event_time");
  JoinResult bad_time =
      Feed(JoinSide::kRight, R"({"search_id":"s1","event_time":"yesterday"})", kT0);
  ASSERT_EQ(bad_time.dead_letters.size(), 1u);
  EXPECT_EQ(json::parse(bad_time.dead_letters[0])["error"]["reason"], "bad_event_time");
  // A left without a user id cannot make a row.
  JoinResult no_user = Feed(JoinSide::kLeft, R"({"search_id":"s1","event_time":5})", kT0);
  ASSERT_EQ(no_user.dead_letters.size(), 1u);
  EXPECT_EQ(json::parse(no_user.dead_letters[0])["error"]["reason"], "missing_user_id");
  EXPECT_TRUE(state_.empty());
}

TEST_F(LeftJoinTest, BadRecordsAreCountedWhenSkippedAndFatalWhenFailing) {
  Build({{"onError", "skip"}});
  JoinResult skipped = Feed(JoinSide::kLeft, "not json", kT0);
  EXPECT_EQ(skipped.bad, 1);
  EXPECT_TRUE(skipped.dead_letters.empty());
  EXPECT_TRUE(skipped.fatal.ok());

  Build({{"onError", "fail"}});
  JoinResult failed = Feed(JoinSide::kRight, "[1]", kT0);
  EXPECT_EQ(failed.bad, 1);
  EXPECT_TRUE(failed.dead_letters.empty());
  EXPECT_FALSE(failed.fatal.ok());
  EXPECT_NE(failed.fatal.message().find("not_object"), std::string::npos);
}

TEST_F(LeftJoinTest, FilterAppliesToEachVersion) {
  Build({{"filter", {{"field", "/right/booking_id"}, {"op", "exists"}}}});
  EXPECT_TRUE(Feed(JoinSide::kLeft, Left("s1", kT0), kT0).records.empty());  // kept, not emitted
  JoinResult joined = Feed(JoinSide::kRight, Right("s1", kT0 + 1, "b1"), kT0 + 1);
  ASSERT_EQ(joined.records.size(), 1u);
  EXPECT_EQ(joined.records[0].event_id, "search-events-0-0");
}

TEST_F(LeftJoinTest, CreateNeedsALeftEventTime) {
  auto join = LeftJoin::Create(MakeSignal({{"eventTimeField", "/right/event_time"}}));
  EXPECT_FALSE(join.ok());
  EXPECT_NE(join.status().message().find("eventTimeField"), std::string::npos);
  UserSignal simple = MakeSignal();
  simple.spec.type = SignalType::kSimple;
  EXPECT_FALSE(LeftJoin::Create(simple).ok());
}

TEST(JoinStateTest, RoundTripsAndRejectsCorruptBytes) {
  JoinState s;
  s.lefts.push_back({5, "t", 1, 2, R"({"a":1})", 10, 7, 6});
  s.lefts.push_back({5, "t", 1, 3, R"({"a":2})", 10, 0, std::nullopt});
  s.rights.push_back({6, R"({"b":"\n"})", 11});
  auto back = DecodeJoinState(EncodeJoinState(s));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, s);
  EXPECT_FALSE(DecodeJoinState("{").ok());
  EXPECT_FALSE(DecodeJoinState(R"({"l":[{"t":1}],"r":[]})").ok());
}

TEST(RepartitionTopicTest, NamesTheSide) {
  EXPECT_EQ(RepartitionTopic("x", JoinSide::kLeft), "usp.repartition.x.left");
  EXPECT_EQ(RepartitionTopic("x", JoinSide::kRight), "usp.repartition.x.right");
}

}  // namespace
}  // namespace usp
