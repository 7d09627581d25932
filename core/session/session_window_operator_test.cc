#include "core/session/session_window_operator.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <map>
#include <random>
#include <tuple>

namespace usp {
namespace {

using nlohmann::json;

constexpr int64_t kSecond = 1000;
constexpr int64_t kMinute = 60 * kSecond;
// 2023-11-14T22:00:00Z, a multiple of an hour, so windows start at kT0 + k * slide.
constexpr int64_t kT0 = 1699999200000;
constexpr int64_t kNow = 1800000000000;  // processing time passed to Advance

int64_t At(int64_t minutes, int64_t seconds = 0) {
  return kT0 + minutes * kMinute + seconds * kSecond;
}

SessionJob Job(const json& window, const json& aggregations, const char* lateness = "1m") {
  json doc = {{"apiVersion", "usp.dev/v1alpha1"},
              {"kind", "SessionJob"},
              {"metadata", {{"name", "engagement"}}},
              {"spec",
               {{"signals", {"searches", "home-views"}},
                {"window", window},
                {"aggregations", aggregations},
                {"allowedLateness", lateness}}}};
  FieldErrors errors;
  std::optional<SessionJob> job = ParseSessionJob(doc, &errors);
  EXPECT_TRUE(job.has_value()) << (errors.empty() ? "" : errors[0].ToString());
  return *job;
}

json Count() { return json::parse(R"([{"name": "events", "fn": "count"}])"); }

SessionJob Sliding(const char* size, const char* slide, const char* lateness = "1m",
                   const json& aggregations = Count()) {
  return Job({{"type", "sliding"}, {"size", size}, {"slide", slide}}, aggregations, lateness);
}

SessionJob Sessions(const char* gap, const char* lateness = "1m",
                    const json& aggregations = Count()) {
  return Job({{"type", "session"}, {"gap", gap}}, aggregations, lateness);
}

json Record(const std::string& user, int64_t t, const json& attributes = json::object(),
            const std::string& signal = "searches") {
  return {{"user_id", user}, {"signal", signal}, {"event_time", t},
          {"event_id", "e"}, {"version", 1},     {"attributes", attributes}};
}

AddOutcome Add(SessionWindowOperator& op, const std::string& user, int64_t t,
               const json& attributes = json::object()) {
  Result<AddOutcome> outcome = op.Add(user, t, Record(user, t, attributes));
  EXPECT_TRUE(outcome.ok()) << outcome.status().ToString();
  return outcome.ok() ? *outcome : AddOutcome::kIgnored;
}

// A compact view of a result for assertions.
struct Row {
  std::string user;
  int64_t start;
  int64_t end;
  json aggregations;
  bool operator==(const Row&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Row& r) {
  return os << r.user << " [" << r.start << ", " << r.end << ") " << r.aggregations.dump();
}

std::vector<Row> Rows(const std::vector<SessionResult>& results) {
  std::vector<Row> rows;
  for (const SessionResult& r : results) {
    rows.push_back({r.record.user_id, r.record.window_start, r.record.window_end,
                    json::parse(r.record.aggregations_json)});
  }
  return rows;
}

json Events(int n) { return {{"events", n}}; }

// ---------------------------------------------------------------- sliding

TEST(SlidingWindows, AnEventIsCountedInExactlyTwoOverlappingWindows) {
  SessionWindowOperator op(Sliding("10m", "5m"));
  EXPECT_EQ(Add(op, "u1", At(12)), AddOutcome::kOnTime);
  EXPECT_TRUE(op.Advance(At(14, 59), kNow).empty());
  EXPECT_EQ(Rows(op.Advance(At(15), kNow)), (std::vector<Row>{{"u1", At(5), At(15), Events(1)}}));
  EXPECT_TRUE(op.Advance(At(19, 59), kNow).empty());
  EXPECT_EQ(Rows(op.Advance(At(20), kNow)), (std::vector<Row>{{"u1", At(10), At(20), Events(1)}}));
  EXPECT_TRUE(op.Advance(At(60), kNow).empty());
  EXPECT_EQ(op.user_count(), 0u);  // finalized windows are forgotten
}

TEST(SlidingWindows, BoundariesAreStartInclusiveEndExclusive) {
  SessionWindowOperator op(Sliding("10m", "5m"));
  Add(op, "u1", At(10));      // in [5m, 15m) and [10m, 20m), not [0, 10m)
  Add(op, "u1", At(10) - 1);  // in [0, 10m) and [5m, 15m)
  EXPECT_EQ(Rows(op.Advance(At(20), kNow)), (std::vector<Row>{{"u1", At(0), At(10), Events(1)},
                                                              {"u1", At(5), At(15), Events(2)},
                                                              {"u1", At(10), At(20), Events(1)}}));
}

TEST(SlidingWindows, OverlappingWindowsEachCountTheirEvents) {
  SessionWindowOperator op(Sliding("10m", "5m"));
  for (int64_t minute : {1, 4, 6, 11, 16}) Add(op, "u1", At(minute));
  Add(op, "u2", At(7));
  EXPECT_EQ(Rows(op.Advance(At(30), kNow)), (std::vector<Row>{{"u1", At(-5), At(5), Events(2)},
                                                              {"u1", At(0), At(10), Events(3)},
                                                              {"u2", At(0), At(10), Events(1)},
                                                              {"u1", At(5), At(15), Events(2)},
                                                              {"u2", At(5), At(15), Events(1)},
                                                              {"u1", At(10), At(20), Events(2)},
                                                              {"u1", At(15), At(25), Events(1)}}));
}

TEST(SlidingWindows, EmptyWindowsAreNotEmitted) {
  SessionWindowOperator op(Sliding("10m", "5m"));
  Add(op, "u1", At(1));
  Add(op, "u1", At(61));  // an hour later: nothing in between
  EXPECT_EQ(Rows(op.Advance(At(80), kNow)), (std::vector<Row>{{"u1", At(-5), At(5), Events(1)},
                                                              {"u1", At(0), At(10), Events(1)},
                                                              {"u1", At(55), At(65), Events(1)},
                                                              {"u1", At(60), At(70), Events(1)}}));
}

// ---------------------------------------------------------------- watermark

TEST(Watermark, NothingIsEmittedBeforeTheFirstWatermark) {
  SessionWindowOperator op(Sliding("10m", "5m"));
  Add(op, "u1", At(1));
  EXPECT_EQ(op.watermark(), kNoWatermark);
  EXPECT_TRUE(op.Advance(kNoWatermark, kNow).empty());
}

TEST(Watermark, AWindowIsEmittedWhenTheWatermarkReachesItsEnd) {
  SessionWindowOperator op(Sliding("10m", "5m"));
  Add(op, "u1", At(1));
  EXPECT_TRUE(op.Advance(At(5) - 1, kNow).empty());
  EXPECT_EQ(op.Advance(At(5), kNow).size(), 1u);  // watermark == end closes it
}

TEST(Watermark, NeverGoesBackAndRepeatedAdvancesEmitNothingNew) {
  SessionWindowOperator op(Sliding("10m", "5m"));
  Add(op, "u1", At(1));
  EXPECT_EQ(op.Advance(At(7), kNow).size(), 1u);
  EXPECT_TRUE(op.Advance(At(7), kNow).empty());
  EXPECT_TRUE(op.Advance(At(2), kNow).empty());
  EXPECT_EQ(op.watermark(), At(7));
  // The lower watermark was ignored: an event at 6m is on time for [5m, 15m) only... and
  // late for [0, 10m)? No: 10m > 7m, both windows are still open.
  EXPECT_EQ(Add(op, "u1", At(6)), AddOutcome::kOnTime);
}

TEST(Watermark, ALargeJumpEmitsEveryCompleteWindowOnceThenForgetsThem) {
  SessionWindowOperator op(Sliding("10m", "5m", "1m"));
  Add(op, "u1", At(1));
  Add(op, "u1", At(12));
  // Far past end + lateness of every window: each is still emitted once.
  EXPECT_EQ(Rows(op.Advance(At(600), kNow)), (std::vector<Row>{{"u1", At(-5), At(5), Events(1)},
                                                               {"u1", At(0), At(10), Events(1)},
                                                               {"u1", At(5), At(15), Events(1)},
                                                               {"u1", At(10), At(20), Events(1)}}));
  EXPECT_EQ(op.user_count(), 0u);
}

// ---------------------------------------------------------------- lateness

TEST(Lateness, ALateEventWithinAllowedLatenessEmitsAnUpdatedResultWithANewerVersion) {
  SessionWindowOperator op(Sliding("10m", "5m", "2m"));
  Add(op, "u1", At(3));
  std::vector<SessionResult> first = op.Advance(At(10), kNow);
  ASSERT_EQ(Rows(first),
            (std::vector<Row>{{"u1", At(-5), At(5), Events(1)}, {"u1", At(0), At(10), Events(1)}}));
  // [0, 10m) was emitted at watermark 10m and is final at 12m; 11m is within lateness.
  EXPECT_EQ(Add(op, "u1", At(9)), AddOutcome::kLate);
  std::vector<SessionResult> update = op.Advance(At(11), kNow);
  ASSERT_EQ(Rows(update), (std::vector<Row>{{"u1", At(0), At(10), Events(2)}}));
  EXPECT_GT(update[0].record.version, first[1].record.version);
  EXPECT_EQ(op.stats().events_late, 1);
  // [5m, 15m) also holds the late event; it was not emitted yet and simply includes it.
  EXPECT_EQ(Rows(op.Advance(At(15), kNow)), (std::vector<Row>{{"u1", At(5), At(15), Events(1)}}));
}

TEST(Lateness, ALateEventIsEmittedAgainEvenWithoutANewWatermark) {
  SessionWindowOperator op(Sliding("10m", "5m", "10m"));
  Add(op, "u1", At(3));
  EXPECT_EQ(op.Advance(At(10), kNow).size(), 2u);
  Add(op, "u1", At(4));  // late for [-5m, 5m) and [0, 10m)
  EXPECT_EQ(Rows(op.Advance(At(10), kNow)),
            (std::vector<Row>{{"u1", At(-5), At(5), Events(2)}, {"u1", At(0), At(10), Events(2)}}));
}

TEST(Lateness, ALateEventIntoAnEmptyDueWindowEmitsItForTheFirstTime) {
  SessionWindowOperator op(Sliding("10m", "5m", "2m"));
  Add(op, "u1", At(30));
  EXPECT_TRUE(op.Advance(At(30), kNow).empty());
  // [20m, 30m) is due (end <= watermark) but had no events; 28m is within lateness.
  EXPECT_EQ(Add(op, "u1", At(28)), AddOutcome::kLate);
  EXPECT_EQ(Rows(op.Advance(At(30), kNow)), (std::vector<Row>{{"u1", At(20), At(30), Events(1)}}));
}

TEST(Lateness, EventsBeyondAllowedLatenessAreCountedNotApplied) {
  SessionWindowOperator op(Sliding("10m", "5m", "2m"));
  Add(op, "u1", At(3));
  EXPECT_EQ(op.Advance(At(17), kNow).size(), 2u);  // [-5m, 5m) and [0, 10m)
  // At(4) is in [-5m, 5m) and [0, 10m): both final (10m + 2m <= 17m).
  EXPECT_EQ(Add(op, "u1", At(4)), AddOutcome::kDroppedLate);
  EXPECT_EQ(Add(op, "u2", At(4)), AddOutcome::kDroppedLate);
  EXPECT_EQ(op.stats().events_dropped_late, 2);
  EXPECT_TRUE(op.Advance(At(17), kNow).empty());
  EXPECT_EQ(op.user_count(), 0u);
}

TEST(Lateness, AnEventLateForOneWindowStillUpdatesTheOtherStillOpenToIt) {
  SessionWindowOperator op(Sliding("10m", "5m", "2m"));
  Add(op, "u1", At(8));
  EXPECT_EQ(op.Advance(At(16), kNow).size(), 2u);  // [0,10) and [5,15)
  // At(9): [0, 10m) is final at 12m, [5m, 15m) only at 17m.
  EXPECT_EQ(Add(op, "u1", At(9)), AddOutcome::kLate);
  EXPECT_EQ(Rows(op.Advance(At(16), kNow)), (std::vector<Row>{{"u1", At(5), At(15), Events(2)}}));
  EXPECT_EQ(op.stats().events_dropped_late, 0);
}

TEST(Lateness, ZeroLatenessFinalizesAWindowWhenItIsEmitted) {
  SessionWindowOperator op(Sliding("10m", "5m", "0s"));
  Add(op, "u1", At(3));
  EXPECT_EQ(op.Advance(At(10), kNow).size(), 2u);
  EXPECT_EQ(Add(op, "u1", At(9)), AddOutcome::kOnTime);  // only [5m, 15m) is open to it
  EXPECT_EQ(Add(op, "u1", At(4)), AddOutcome::kDroppedLate);
}

// ---------------------------------------------------------------- session windows

TEST(SessionWindows, AnEventWithinTheGapExtendsTheSession) {
  SessionWindowOperator op(Sessions("30m"));
  Add(op, "u1", At(0));
  Add(op, "u1", At(29, 59));
  EXPECT_TRUE(op.Advance(At(59, 58), kNow).empty());
  EXPECT_EQ(Rows(op.Advance(At(59, 59), kNow)),
            (std::vector<Row>{{"u1", At(0), At(59, 59), Events(2)}}));
}

TEST(SessionWindows, SplitWhenTheGapIsReached) {
  SessionWindowOperator op(Sessions("30m"));
  Add(op, "u1", At(0));
  Add(op, "u1", At(10));
  Add(op, "u1", At(40));  // exactly gap after the last event: a new session
  Add(op, "u1", At(75));
  EXPECT_EQ(Rows(op.Advance(At(200), kNow)),
            (std::vector<Row>{{"u1", At(0), At(40), Events(2)},
                              {"u1", At(40), At(70), Events(1)},
                              {"u1", At(75), At(105), Events(1)}}));
}

TEST(SessionWindows, ABridgingEventMergesTwoSessions) {
  SessionWindowOperator op(Sessions("30m", "1m", json::parse(R"([{"name": "events", "fn": "count"},
      {"name": "cities", "fn": "top_k", "field": "/attributes/city", "k": 2}])")));
  Add(op, "u1", At(0), {{"city", "Paris"}});
  Add(op, "u1", At(50), {{"city", "Rome"}});
  Add(op, "u1", At(55), {{"city", "Rome"}});
  // Two sessions, [0, 30m) and [50m, 85m); At(25) is within gap of both.
  EXPECT_EQ(Add(op, "u1", At(25), {{"city", "Paris"}}), AddOutcome::kOnTime);
  EXPECT_EQ(op.stats().sessions_merged, 1);
  std::vector<SessionResult> results = op.Advance(At(85), kNow);
  EXPECT_EQ(Rows(results),
            (std::vector<Row>{{"u1", At(0), At(85), json::parse(R"({"events":4,"cities":[
                                 {"value":"Paris","count":2},{"value":"Rome","count":2}]})")}}));
  EXPECT_TRUE(results[0].superseded.empty());
}

TEST(SessionWindows, ALateBridgingEventMergesEmittedSessionsAndSupersedesThem) {
  SessionWindowOperator op(Sessions("20m", "2h"));
  Add(op, "u1", At(0));
  Add(op, "u1", At(10));
  Add(op, "u1", At(40));
  Add(op, "u1", At(50));
  Add(op, "u1", At(100));
  std::vector<SessionResult> first = op.Advance(At(100), kNow);
  ASSERT_EQ(Rows(first), (std::vector<Row>{{"u1", At(0), At(30), Events(2)},
                                           {"u1", At(40), At(70), Events(2)}}));
  EXPECT_EQ(Add(op, "u1", At(25)), AddOutcome::kLate);  // within 20m of 10m and of 40m
  std::vector<SessionResult> merged = op.Advance(At(100), kNow);
  ASSERT_EQ(Rows(merged), (std::vector<Row>{{"u1", At(0), At(70), Events(5)}}));
  EXPECT_EQ(merged[0].superseded, (std::vector<TimeWindow>{{At(0), At(30)}, {At(40), At(70)}}));
  EXPECT_GT(merged[0].record.version, first[1].record.version);
}

TEST(SessionWindows, ALateEventInsideAnEmittedSessionKeepsItsWindow) {
  SessionWindowOperator op(Sessions("20m", "1h"));
  Add(op, "u1", At(0));
  Add(op, "u1", At(10));
  ASSERT_EQ(op.Advance(At(30), kNow).size(), 1u);
  EXPECT_EQ(Add(op, "u1", At(5)), AddOutcome::kLate);
  std::vector<SessionResult> update = op.Advance(At(30), kNow);
  ASSERT_EQ(Rows(update), (std::vector<Row>{{"u1", At(0), At(30), Events(3)}}));
  EXPECT_TRUE(update[0].superseded.empty());  // same identity: the newer version wins
}

TEST(SessionWindows, ALateEventThatExtendsAnEmittedSessionReopensIt) {
  SessionWindowOperator op(Sessions("20m", "1h"));
  Add(op, "u1", At(0));
  ASSERT_EQ(op.Advance(At(25), kNow).size(), 1u);  // [0, 20m)
  EXPECT_EQ(Add(op, "u1", At(15)), AddOutcome::kLate);
  EXPECT_TRUE(op.Advance(At(25), kNow).empty());  // now [0, 35m): not complete yet
  std::vector<SessionResult> update = op.Advance(At(35), kNow);
  ASSERT_EQ(Rows(update), (std::vector<Row>{{"u1", At(0), At(35), Events(2)}}));
  EXPECT_EQ(update[0].superseded, (std::vector<TimeWindow>{{At(0), At(20)}}));
}

TEST(SessionWindows, ANewSessionBeyondAllowedLatenessIsDropped) {
  SessionWindowOperator op(Sessions("10m", "5m"));
  Add(op, "u1", At(100));
  EXPECT_TRUE(op.Advance(At(100), kNow).empty());
  // [84m, 94m) + 5m = 99m <= 100m: too late. [86m, 96m) + 5m = 101m: late but accepted.
  EXPECT_EQ(Add(op, "u1", At(84)), AddOutcome::kDroppedLate);
  EXPECT_EQ(Add(op, "u1", At(86)), AddOutcome::kLate);
  // An event that joins a live session is never too late.
  EXPECT_EQ(Add(op, "u1", At(90)), AddOutcome::kLate);  // joins [86m, 96m) -> [86m, 100m)
  EXPECT_EQ(op.stats().events_dropped_late, 1);
  EXPECT_EQ(Rows(op.Advance(At(100), kNow)),
            (std::vector<Row>{{"u1", At(86), At(100), Events(2)}}));
}

TEST(SessionWindows, FinalizedSessionsAreForgotten) {
  SessionWindowOperator op(Sessions("10m", "5m"));
  Add(op, "u1", At(0));
  EXPECT_EQ(op.Advance(At(10), kNow).size(), 1u);
  EXPECT_EQ(op.user_count(), 1u);  // kept for late events until 15m
  EXPECT_TRUE(op.Advance(At(15), kNow).empty());
  EXPECT_EQ(op.user_count(), 0u);
}

// ---------------------------------------------------------------- the issue's example

TEST(IssueExample, TenMinuteWindowsSlidingByFiveMinutes) {
  SessionWindowOperator op(Sliding("10m", "5m", "1m", json::parse(R"([
    {"name": "events", "fn": "count"},
    {"name": "cities", "fn": "distinct_count", "field": "/attributes/city"},
    {"name": "top_cities", "fn": "top_k", "field": "/attributes/city", "k": 2},
    {"name": "avg_price", "fn": "avg", "field": "/attributes/price"},
    {"name": "min_price", "fn": "min", "field": "/attributes/price"},
    {"name": "max_price", "fn": "max", "field": "/attributes/price"},
    {"name": "spend", "fn": "sum", "field": "/attributes/price"},
    {"name": "recent", "fn": "last_n", "field": "/attributes/listing", "n": 2}
  ])")));
  Add(op, "guest", At(2), {{"city", "Paris"}, {"price", 100}, {"listing", "L1"}});
  Add(op, "guest", At(6), {{"city", "Rome"}, {"price", 80}, {"listing", "L2"}});
  Add(op, "guest", At(8), {{"city", "Paris"}, {"price", 120}, {"listing", "L3"}});
  Add(op, "guest", At(13), {{"city", "Oslo"}, {"listing", "L4"}});
  std::vector<SessionResult> results = op.Advance(At(20), kNow);
  EXPECT_EQ(Rows(results),
            (std::vector<Row>{{"guest", At(-5), At(5), json::parse(R"({"events":1,"cities":1,
                   "top_cities":[{"value":"Paris","count":1}],"avg_price":100.0,
                   "min_price":100,"max_price":100,"spend":100,"recent":["L1"]})")},
                              {"guest", At(0), At(10), json::parse(R"({"events":3,"cities":2,
                   "top_cities":[{"value":"Paris","count":2},{"value":"Rome","count":1}],
                   "avg_price":100.0,"min_price":80,"max_price":120,"spend":300,
                   "recent":["L3","L2"]})")},
                              {"guest", At(5), At(15), json::parse(R"({"events":3,"cities":3,
                   "top_cities":[{"value":"Oslo","count":1},{"value":"Paris","count":1}],
                   "avg_price":100.0,"min_price":80,"max_price":120,"spend":200,
                   "recent":["L4","L3"]})")},
                              {"guest", At(10), At(20), json::parse(R"({"events":1,"cities":1,
                   "top_cities":[{"value":"Oslo","count":1}],"avg_price":null,
                   "min_price":null,"max_price":null,"spend":0,"recent":["L4"]})")}}));
  // The encoded record, as written to usp.session.engagement.
  EXPECT_EQ(SerializeSessionRecord(results[3].record),
            R"({"user_id":"guest","job":"engagement","window_start":)" + std::to_string(At(10)) +
                R"(,"window_end":)" + std::to_string(At(20)) +
                R"(,"aggregations":{"events":1,"cities":1,"top_cities":[{"count":1,)"
                R"("value":"Oslo"}],"avg_price":null,"min_price":null,"max_price":null,"spend":0,)"
                R"("recent":["L4"]},"version":)" +
                std::to_string(results[3].record.version) + "}");
}

// ---------------------------------------------------------------- versions, inputs

TEST(Versions, StrictlyIncreaseEvenWhenTheClockDoesNot) {
  SessionWindowOperator op(Sliding("10m", "5m"));
  Add(op, "u1", At(1));
  Add(op, "u2", At(1));
  std::vector<SessionResult> a = op.Advance(At(5), 1000);
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].record.version, 1000);
  EXPECT_EQ(a[1].record.version, 1001);
  std::vector<SessionResult> b = op.Advance(At(10), 500);  // the clock went back
  ASSERT_EQ(b.size(), 2u);
  EXPECT_EQ(b[0].record.version, 1002);
  std::vector<SessionResult> c = op.Advance(At(60), 5000);
  EXPECT_TRUE(c.empty());
  Add(op, "u1", At(61));
  std::vector<SessionResult> d = op.Advance(At(65), 5000);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].record.version, 5000);
  EXPECT_EQ(op.last_version(), 5000);
}

TEST(Inputs, OtherSignalsAreIgnoredAndCounted) {
  SessionWindowOperator op(Sliding("10m", "5m"));
  Result<AddOutcome> other = op.Add("u1", At(1), Record("u1", At(1), {}, "bookings"));
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(*other, AddOutcome::kIgnored);
  Result<AddOutcome> views = op.Add("u1", At(1), Record("u1", At(1), {}, "home-views"));
  EXPECT_EQ(*views, AddOutcome::kOnTime);
  EXPECT_EQ(op.stats().events_ignored, 1);
  EXPECT_EQ(op.stats().events_on_time, 1);
}

TEST(Inputs, BadInputsAreErrorsAndChangeNothing) {
  SessionWindowOperator op(Sliding("10m", "5m"));
  EXPECT_EQ(op.Add("", At(1), Record("", At(1))).status().message(), "user id must not be empty");
  EXPECT_FALSE(op.Add("u1", -1, Record("u1", -1)).ok());
  EXPECT_FALSE(op.Add("u1", kMaxEventTimeMs + 1, Record("u1", 0)).ok());
  EXPECT_EQ(op.Add("u1", At(1), json::array()).status().message(),
            "signal record must be a JSON object");
  EXPECT_EQ(op.AddJson("u1", At(1), "{not json").status().message(),
            "signal record is not valid JSON");
  EXPECT_EQ(op.stats().events_invalid, 5);
  EXPECT_EQ(op.user_count(), 0u);
  Result<AddOutcome> ok = op.AddJson("u1", At(1), Record("u1", At(1)).dump());
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, AddOutcome::kOnTime);
}

// ---------------------------------------------------------------- state

// Copies every user's state and the operator state from `from` into a fresh operator.
SessionWindowOperator Restore(const SessionWindowOperator& from,
                              const std::vector<std::string>& users) {
  SessionWindowOperator to(from.job());
  EXPECT_TRUE(to.RestoreOperatorState(from.SerializeOperatorState()).ok());
  for (const std::string& user : users) {
    std::optional<std::string> state = from.SerializeUserState(user);
    if (state) {
      EXPECT_TRUE(to.RestoreUserState(user, *state).ok()) << *state;
    }
  }
  return to;
}

template <typename Feed>
void ExpectRestoredOperatorContinuesIdentically(const SessionJob& job, Feed feed) {
  SessionWindowOperator original(job);
  feed(original, 0);
  SessionWindowOperator restored = Restore(original, {"u1", "u2", "u3"});
  EXPECT_EQ(restored.watermark(), original.watermark());
  EXPECT_EQ(restored.last_version(), original.last_version());
  EXPECT_EQ(restored.stats(), original.stats());
  EXPECT_EQ(restored.user_count(), original.user_count());
  for (int phase = 1; phase <= 2; ++phase) {
    std::vector<SessionResult> a = feed(original, phase);
    std::vector<SessionResult> b = feed(restored, phase);
    ASSERT_EQ(a.size(), b.size()) << "phase " << phase;
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_EQ(a[i].record, b[i].record);
      EXPECT_EQ(a[i].superseded, b[i].superseded);
    }
  }
  EXPECT_EQ(restored.stats(), original.stats());
}

TEST(State, ASlidingOperatorRestoredMidStreamContinuesIdentically) {
  ExpectRestoredOperatorContinuesIdentically(
      Sliding("10m", "5m", "3m", json::parse(R"([{"name": "events", "fn": "count"},
        {"name": "last", "fn": "last_n", "n": 3},
        {"name": "cities", "fn": "top_k", "field": "/attributes/city", "k": 2}])")),
      [](SessionWindowOperator& op, int phase) {
        std::vector<SessionResult> out;
        if (phase == 0) {
          Add(op, "u1", At(1), {{"city", "Paris"}});
          Add(op, "u2", At(3), {{"city", "Rome"}});
          Add(op, "u1", At(7), {{"city", "Oslo"}});
          out = op.Advance(At(10), kNow);
          Add(op, "u1", At(9), {{"city", "Oslo"}});  // late, pending at snapshot time
        } else if (phase == 1) {
          out = op.Advance(At(11), kNow);
          Add(op, "u3", At(12));
          Add(op, "u1", At(2));  // dropped for [-5, 5), late for [0, 10)? 10+3 > 11: late
        } else {
          out = op.Advance(At(40), kNow);
        }
        return out;
      });
}

TEST(State, ASessionOperatorRestoredMidStreamContinuesIdentically) {
  ExpectRestoredOperatorContinuesIdentically(
      Sessions("20m", "30m", json::parse(R"([{"name": "events", "fn": "count"},
        {"name": "spend", "fn": "sum", "field": "/attributes/price"},
        {"name": "cities", "fn": "distinct_count", "field": "/attributes/city"}])")),
      [](SessionWindowOperator& op, int phase) {
        std::vector<SessionResult> out;
        if (phase == 0) {
          Add(op, "u1", At(0), {{"price", 5}, {"city", "Paris"}});
          Add(op, "u1", At(40), {{"price", 2.5}});
          Add(op, "u2", At(10), {{"city", "Rome"}});
          out = op.Advance(At(65), kNow);
        } else if (phase == 1) {
          Add(op, "u1", At(25), {{"city", "Oslo"}});  // bridges two emitted sessions
          out = op.Advance(At(65), kNow);
        } else {
          Add(op, "u3", At(70));
          out = op.Advance(At(200), kNow);
        }
        return out;
      });
}

// The state text written directly (AppendUserState, AppendOperatorState:
// what SessionJobProcessor stores) is byte for byte nlohmann's dump of the
// state documents, so both restore alike; checked over random streams with
// every aggregation fn and awkward values (doubles, inf, strings that need
// escaping, non-ASCII, nested objects).
TEST(State, StateTextWrittenDirectlyIsTheDumpOfTheStateDocument) {
  const json aggregations = json::parse(R"([
    {"name": "events", "fn": "count"},
    {"name": "spend", "fn": "sum", "field": "/attributes/price"},
    {"name": "avg_price", "fn": "avg", "field": "/attributes/price"},
    {"name": "cheapest", "fn": "min", "field": "/attributes/price"},
    {"name": "dearest", "fn": "max", "field": "/attributes/price"},
    {"name": "cities", "fn": "distinct_count", "field": "/attributes/city"},
    {"name": "top", "fn": "top_k", "field": "/attributes/city", "k": 2},
    {"name": "last", "fn": "last_n", "field": "/attributes/city", "n": 3}])");
  const json cities[] = {"Paris", "Z\u00fcrich", "quote\"back\\slash", "tab\tnew\nline\u0001",
                         json::object({{"b", 2}, {"a", {1, 2.5}}}), 7, nullptr};
  const json prices[] = {5, 2.5, -1, 1e300, json(9007199254740993ULL), "cheap", nullptr};
  for (const SessionJob& job : {Sliding("10m", "5m", "2m", aggregations),
                                Sessions("7m", "3m", aggregations)}) {
    SCOPED_TRACE(ToString(job.spec.window.type));
    SessionWindowOperator op(job);
    std::mt19937 rng(11);
    int64_t watermark = At(0);
    size_t checked = 0;
    auto check = [&](const std::string& user) {
      std::string text;
      const bool has = op.AppendUserState(user, &text);
      std::optional<json> doc = op.UserStateJson(user);
      ASSERT_EQ(has, doc.has_value());
      if (has) {
        ASSERT_EQ(text, doc->dump(-1, ' ', false, json::error_handler_t::replace));
        ++checked;
      }
      std::string op_text;
      op.AppendOperatorState(&op_text);
      ASSERT_EQ(op_text, op.OperatorStateJson().dump());
    };
    for (int step = 0; step < 400; ++step) {
      const std::string user = "u" + std::to_string(rng() % 4);
      if (rng() % 5 == 0) {
        watermark += static_cast<int64_t>(rng() % 6) * kMinute;
        op.Advance(watermark, kNow);
      } else {
        const int64_t t = watermark + (static_cast<int64_t>(rng() % 12) - 4) * kMinute;
        json attributes = {{"city", cities[rng() % std::size(cities)]},
                           {"price", prices[rng() % std::size(prices)]}};
        if (rng() % 3 == 0) attributes["price"] = std::numeric_limits<double>::infinity();
        Add(op, user, std::max<int64_t>(t, 0), attributes);
      }
      check(user);
    }
    EXPECT_GT(checked, 100u);
  }
}

TEST(State, ChangedUsersAreReportedOnceAndForgottenUsersAreTombstones) {
  SessionWindowOperator op(Sessions("10m", "0s"));
  Add(op, "u1", At(0));
  Add(op, "u2", At(0));
  EXPECT_EQ(op.TakeChangedUsers(), (std::vector<std::string>{"u1", "u2"}));
  EXPECT_TRUE(op.TakeChangedUsers().empty());
  EXPECT_EQ(op.Advance(At(10), kNow).size(), 2u);  // emitted and final at once
  EXPECT_EQ(op.TakeChangedUsers(), (std::vector<std::string>{"u1", "u2"}));
  EXPECT_FALSE(op.SerializeUserState("u1").has_value());  // tombstone
}

TEST(State, RestoreRejectsForeignOrCorruptState) {
  SessionWindowOperator sliding(Sliding("10m", "5m"));
  SessionWindowOperator sessions(Sessions("10m"));
  Add(sliding, "u1", At(1));
  Add(sessions, "u1", At(1));
  EXPECT_FALSE(sessions.RestoreUserState("u1", *sliding.SerializeUserState("u1")).ok());
  EXPECT_FALSE(sliding.RestoreUserState("u1", *sessions.SerializeUserState("u1")).ok());
  EXPECT_FALSE(sliding.RestoreUserState("u1", "{").ok());
  EXPECT_FALSE(sliding.RestoreUserState("u1", R"({"format":2})").ok());
  EXPECT_FALSE(
      sliding.RestoreUserState("u1", R"({"format":1,"window":"sliding","windows":{}})").ok());
  EXPECT_FALSE(sliding.RestoreOperatorState("[]").ok());
  EXPECT_FALSE(sliding.RestoreOperatorState(R"({"format":1})").ok());
  // A failed restore leaves the user as it was.
  EXPECT_EQ(Rows(sliding.Advance(At(5), kNow)),
            (std::vector<Row>{{"u1", At(-5), At(5), Events(1)}}));
}

// ---------------------------------------------------------------- against a reference model

// Random users, event times and disorder; the watermark follows the largest
// event time seen (as WatermarkTracker does for one source) and is advanced
// every few events. For every sliding window, the newest emitted version must
// equal the count of the events that were applied to it: those in the window
// that arrived while the watermark was below end + lateness.
TEST(ReferenceModel, SlidingWindowsMatchABruteForceCount) {
  for (const auto& [size, slide, lateness] :
       std::vector<std::tuple<const char*, const char*, const char*>>{{"10m", "5m", "2m"},
                                                                      {"10m", "10m", "0s"},
                                                                      {"30m", "5m", "7m"},
                                                                      {"6m", "1m", "1m"},
                                                                      {"10m", "5m", "20m"}}) {
    const SessionJob job = Sliding(size, slide, lateness);
    const int64_t size_ms = job.spec.window.size_ms;
    const int64_t slide_ms = job.spec.window.slide_ms;
    const int64_t lateness_ms = job.spec.allowed_lateness_ms;
    SessionWindowOperator op(job);
    std::mt19937_64 rng(42);
    std::map<std::tuple<std::string, int64_t>, int64_t> expected;  // (user, start) -> count
    std::map<std::tuple<std::string, int64_t>, std::pair<int64_t, int64_t>>
        newest;  // -> (version, count)
    int64_t max_time = kT0;
    int64_t watermark = kNoWatermark;
    int64_t dropped = 0;
    auto collect = [&](const std::vector<SessionResult>& results) {
      for (const SessionResult& r : results) {
        auto& slot = newest[{r.record.user_id, r.record.window_start}];
        ASSERT_GT(r.record.version, slot.first);
        slot = {r.record.version, json::parse(r.record.aggregations_json)["events"].get<int64_t>()};
      }
    };
    for (int i = 0; i < 3000; ++i) {
      const std::string user = "u" + std::to_string(rng() % 4);
      max_time += static_cast<int64_t>(rng() % (40 * kSecond));
      // Mostly a little out of order, sometimes very late.
      const int64_t disorder = rng() % 4 == 0 ? 45 * kMinute : 3 * kMinute;
      const int64_t t = max_time - static_cast<int64_t>(rng() % disorder);
      bool applied = false;
      for (const TimeWindow& w : SlidingWindowsFor(t, size_ms, slide_ms)) {
        if (watermark == kNoWatermark || w.end_ms + lateness_ms > watermark) {
          ++expected[{user, w.start_ms}];
          applied = true;
        }
      }
      const AddOutcome outcome = Add(op, user, t);
      EXPECT_EQ(outcome == AddOutcome::kDroppedLate, !applied);
      dropped += applied ? 0 : 1;
      if (rng() % 5 == 0) {
        watermark = max_time;
        collect(op.Advance(watermark, kNow));
      }
    }
    collect(op.Advance(std::numeric_limits<int64_t>::max(), kNow));
    EXPECT_EQ(op.user_count(), 0u);
    EXPECT_EQ(op.stats().events_dropped_late, dropped);
    EXPECT_GT(dropped, 0) << size << "/" << slide << " lateness " << lateness;
    if (lateness_ms > 0) {
      EXPECT_GT(op.stats().events_late, 0) << size << "/" << slide << " lateness " << lateness;
    }
    std::map<std::tuple<std::string, int64_t>, int64_t> got;
    for (const auto& [key, slot] : newest) got[key] = slot.second;
    EXPECT_EQ(got, expected) << size << "/" << slide << " lateness " << lateness;
  }
}

// With allowedLateness larger than any disorder nothing is dropped, so the
// current rows (every emitted row minus the superseded ones, newest version
// per window) must be exactly the sessions of all events: maximal runs whose
// consecutive events are less than gap apart.
TEST(ReferenceModel, SessionWindowsMatchGapConnectedRuns) {
  const SessionJob job = Sessions("10m", "2h");
  const int64_t gap = job.spec.window.gap_ms;
  SessionWindowOperator op(job);
  std::mt19937_64 rng(7);
  std::map<std::string, std::vector<int64_t>> times;
  std::map<std::tuple<std::string, int64_t, int64_t>, std::pair<int64_t, int64_t>> rows;
  int64_t superseded = 0;
  auto collect = [&](const std::vector<SessionResult>& results) {
    for (const SessionResult& r : results) {
      superseded += static_cast<int64_t>(r.superseded.size());
      for (const TimeWindow& old : r.superseded) {
        ASSERT_EQ(rows.erase({r.record.user_id, old.start_ms, old.end_ms}), 1u);
      }
      auto& slot = rows[{r.record.user_id, r.record.window_start, r.record.window_end}];
      ASSERT_GT(r.record.version, slot.first);
      slot = {r.record.version, json::parse(r.record.aggregations_json)["events"].get<int64_t>()};
    }
  };
  int64_t max_time = kT0;
  for (int i = 0; i < 3000; ++i) {
    const std::string user = "u" + std::to_string(rng() % 5);
    max_time += static_cast<int64_t>(rng() % (3 * kMinute));
    const int64_t t = max_time - static_cast<int64_t>(rng() % (60 * kMinute));
    times[user].push_back(t);
    EXPECT_NE(Add(op, user, t), AddOutcome::kDroppedLate);
    if (rng() % 4 == 0) collect(op.Advance(max_time, kNow));
  }
  collect(op.Advance(std::numeric_limits<int64_t>::max(), kNow));
  EXPECT_GT(op.stats().sessions_merged, 0);
  EXPECT_GT(op.stats().events_late, 0);
  EXPECT_GT(superseded, 0);
  std::map<std::tuple<std::string, int64_t, int64_t>, int64_t> expected;
  for (auto& [user, ts] : times) {
    std::sort(ts.begin(), ts.end());
    size_t begin = 0;
    for (size_t i = 1; i <= ts.size(); ++i) {
      if (i == ts.size() || ts[i] - ts[i - 1] >= gap) {
        expected[{user, ts[begin], ts[i - 1] + gap}] = static_cast<int64_t>(i - begin);
        begin = i;
      }
    }
  }
  std::map<std::tuple<std::string, int64_t, int64_t>, int64_t> got;
  for (const auto& [key, slot] : rows) got[key] = slot.second;
  EXPECT_EQ(got, expected);
}

}  // namespace
}  // namespace usp
