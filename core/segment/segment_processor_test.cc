#include "core/segment/segment_processor.h"

#include <gtest/gtest.h>

#include <ostream>

#include "core/segment/segment_query.h"
#include "core/segment/test_signals.h"

namespace usp {

// Readable failures: records print as their JSON.
void PrintTo(const SegmentRecord& record, std::ostream* os) {
  *os << SerializeSegmentRecord(record);
}

namespace {

using nlohmann::json;
using segment_testing::kDay;
using segment_testing::kHour;
using segment_testing::SegmentFrom;
using segment_testing::TestSignals;
using segment_testing::TripPlanner;

constexpr int64_t T0 = 1'700'000'000'000;  // 2023-11-14T22:13:20Z
constexpr int64_t kLag = 250;              // processing time = event time + kLag

// What a record says, without user, segment and version.
struct Said {
  bool in_segment;
  int64_t start;
  std::optional<int64_t> expiration;
  SegmentReason reason;
  bool operator==(const Said&) const = default;
  friend std::ostream& operator<<(std::ostream& os, const Said& s) {
    return os << "{in=" << s.in_segment << " start=T0+" << (s.start - T0) << " expiration="
              << (s.expiration ? "T0+" + std::to_string(*s.expiration - T0) : "null")
              << " reason=" << ToString(s.reason) << "}";
  }
};

Said In(int64_t start, std::optional<int64_t> expiration) {
  return {true, start, expiration, SegmentReason::kEnter};
}
Said Exited(int64_t start, int64_t end) { return {false, start, end, SegmentReason::kExit}; }
Said Expired(int64_t start, int64_t end) { return {false, start, end, SegmentReason::kExpired}; }

std::vector<Said> Says(const std::vector<SegmentRecord>& records) {
  std::vector<Said> out;
  for (const SegmentRecord& r : records) {
    out.push_back({r.in_segment, r.start, r.expiration, r.reason});
  }
  return out;
}

// One user's life in a segment, with explicit event and processing times.
class SegmentProcessorTest : public ::testing::Test {
 protected:
  explicit SegmentProcessorTest(const UserSegment& segment = TripPlanner())
      : segment_(segment), processor_(MakeProcessor(segment)) {}

  static SegmentProcessor MakeProcessor(const UserSegment& segment) {
    Result<SegmentProcessor> p = SegmentProcessor::Create(segment);
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    return std::move(p).value();
  }

  // A signal record at event time t, processed at t + kLag (or `processed_at`).
  std::vector<SegmentRecord> Signal(const std::string& signal, int64_t t,
                                    const json& attributes = json::object(),
                                    std::optional<int64_t> processed_at = std::nullopt) {
    std::vector<SegmentRecord> out = processor_.Apply(
        &state_, signals_.Make("u1", signal, t, attributes), processed_at.value_or(t + kLag));
    all_.insert(all_.end(), out.begin(), out.end());
    return out;
  }
  std::vector<SegmentRecord> Search(int64_t t) { return Signal("searches", t); }
  std::vector<SegmentRecord> Book(int64_t t) { return Signal("bookings", t); }
  std::vector<SegmentRecord> Timer(int64_t now) {
    std::vector<SegmentRecord> out = processor_.FireTimer("u1", &state_, now);
    all_.insert(all_.end(), out.begin(), out.end());
    return out;
  }

  UserSegment segment_;
  SegmentProcessor processor_;
  TestSignals signals_;
  SegmentState state_;
  std::vector<SegmentRecord> all_;  // every record emitted, in order
};

TEST_F(SegmentProcessorTest, EnterPutsTheUserInFromTheEventTimeForExpireAfter) {
  std::vector<SegmentRecord> out = Search(T0);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], (SegmentRecord{"u1", "active-trip-planner", true, T0, T0 + 14 * kDay, T0 + kLag,
                                   SegmentReason::kEnter}));
  EXPECT_TRUE(state_.in_segment);
  EXPECT_EQ(SegmentProcessor::NextTimer(state_), T0 + 14 * kDay);
}

TEST_F(SegmentProcessorTest, ReEnterKeepsStartAndExtendsExpiration) {
  Search(T0);
  EXPECT_EQ(Says(Search(T0 + 3 * kDay)), std::vector<Said>{In(T0, T0 + 17 * kDay)});
  EXPECT_EQ(SegmentProcessor::NextTimer(state_), T0 + 17 * kDay);
}

TEST_F(SegmentProcessorTest, ExitTakesTheUserOutAtTheExitTime) {
  Search(T0);
  EXPECT_EQ(Says(Book(T0 + 2 * kDay)), std::vector<Said>{Exited(T0, T0 + 2 * kDay)});
  EXPECT_FALSE(state_.in_segment);
  EXPECT_EQ(SegmentProcessor::NextTimer(state_), std::nullopt);
  EXPECT_TRUE(Timer(T0 + 14 * kDay).empty()) << "no expiry after an exit";
}

TEST_F(SegmentProcessorTest, ExitWhenOutDoesNothing) {
  EXPECT_TRUE(Book(T0).empty());
  EXPECT_EQ(state_, SegmentState{});
}

TEST_F(SegmentProcessorTest, ExpiryFiresExactlyAtTheExpirationTime) {
  Search(T0);
  const int64_t expiration = T0 + 14 * kDay;
  EXPECT_TRUE(Timer(expiration - 1).empty()) << "one millisecond early";
  EXPECT_TRUE(state_.in_segment);
  std::vector<SegmentRecord> out = Timer(expiration);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], (SegmentRecord{"u1", "active-trip-planner", false, T0, expiration, expiration,
                                   SegmentReason::kExpired}));
  EXPECT_FALSE(state_.in_segment);
  EXPECT_EQ(SegmentProcessor::NextTimer(state_), std::nullopt);
  EXPECT_TRUE(Timer(expiration + 1).empty()) << "expires once";
}

TEST_F(SegmentProcessorTest, StaleTimerAfterAnExtensionEmitsNothing) {
  Search(T0);             // timer at T0+14d
  Search(T0 + 5 * kDay);  // timer moves to T0+19d; the first one stays registered
  EXPECT_TRUE(Timer(T0 + 14 * kDay).empty());
  EXPECT_TRUE(state_.in_segment);
  EXPECT_EQ(Says(Timer(T0 + 19 * kDay)), std::vector<Said>{Expired(T0, T0 + 19 * kDay)});
}

TEST_F(SegmentProcessorTest, ExitThenEnterStartsANewMembership) {
  Search(T0);
  Book(T0 + 1 * kDay);
  EXPECT_EQ(Says(Search(T0 + 2 * kDay)), std::vector<Said>{In(T0 + 2 * kDay, T0 + 16 * kDay)});
}

TEST_F(SegmentProcessorTest, ExpiryThenEnterStartsANewMembership) {
  Search(T0);
  Timer(T0 + 14 * kDay);
  EXPECT_EQ(Says(Search(T0 + 20 * kDay)), std::vector<Said>{In(T0 + 20 * kDay, T0 + 34 * kDay)});
}

TEST_F(SegmentProcessorTest, SignalsTheSegmentDoesNotNameAreIgnored) {
  EXPECT_TRUE(Signal("home-views", T0).empty());
  EXPECT_EQ(state_, SegmentState{});
  Search(T0);
  const SegmentState in = state_;
  EXPECT_TRUE(Signal("home-views", T0 + 20 * kDay).empty())
      << "not even a passed expiration is acted on for an unrelated signal";
  EXPECT_EQ(state_, in);
}

TEST_F(SegmentProcessorTest, AnEventPastTheExpirationClosesTheMembershipFirst) {
  Search(T0);
  // The timer has not fired (the worker was down, or this is a replay).
  std::vector<SegmentRecord> out = Search(T0 + 20 * kDay);
  EXPECT_EQ(Says(out),
            (std::vector<Said>{Expired(T0, T0 + 14 * kDay), In(T0 + 20 * kDay, T0 + 34 * kDay)}));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_LT(out[0].version, out[1].version);
}

TEST_F(SegmentProcessorTest, AnExitPastTheExpirationOnlyExpires) {
  Search(T0);
  EXPECT_EQ(Says(Book(T0 + 15 * kDay)), std::vector<Said>{Expired(T0, T0 + 14 * kDay)});
}

TEST_F(SegmentProcessorTest, AnEnterAtExactlyTheExpirationStartsANewMembership) {
  Search(T0);
  EXPECT_EQ(Says(Search(T0 + 14 * kDay)),
            (std::vector<Said>{Expired(T0, T0 + 14 * kDay), In(T0 + 14 * kDay, T0 + 28 * kDay)}));
}

// Out of order: the rules look at event times only.

TEST_F(SegmentProcessorTest, AnEnterOlderThanTheStartDoesNotMoveStartBack) {
  Search(T0 + 5 * kDay);
  EXPECT_TRUE(Search(T0).empty());
  EXPECT_EQ(state_.start, T0 + 5 * kDay);
  EXPECT_EQ(state_.expiration, T0 + 19 * kDay);
}

TEST_F(SegmentProcessorTest, ALateEnterNeverShortensTheExpiration) {
  Search(T0);
  Search(T0 + 5 * kDay);
  EXPECT_TRUE(Search(T0 + 2 * kDay).empty());
  EXPECT_EQ(state_.expiration, T0 + 19 * kDay);
}

TEST_F(SegmentProcessorTest, AnExitOlderThanTheNewestEnterIsIgnored) {
  Search(T0);
  Search(T0 + 5 * kDay);
  EXPECT_TRUE(Book(T0 + 3 * kDay).empty());
  EXPECT_TRUE(state_.in_segment);
  // An exit at the same millisecond as the newest enter counts.
  EXPECT_EQ(Says(Book(T0 + 5 * kDay)), std::vector<Said>{Exited(T0, T0 + 5 * kDay)});
}

TEST_F(SegmentProcessorTest, AnEnterOlderThanAnExitIsIgnored) {
  Search(T0);
  Book(T0 + 5 * kDay);
  EXPECT_TRUE(Search(T0 + 3 * kDay).empty());
  EXPECT_FALSE(state_.in_segment);
  EXPECT_EQ(state_.expiration, T0 + 5 * kDay);
}

TEST_F(SegmentProcessorTest, ALateEnterReopensAMembershipTheTimerExpired) {
  Search(T0);
  Timer(T0 + 14 * kDay);
  // A search from day 10 arrives after the timer fired (lag): the user was
  // still planning, so the same membership continues (same start).
  std::vector<SegmentRecord> out =
      Signal("searches", T0 + 10 * kDay, json::object(), T0 + 14 * kDay + kHour);
  EXPECT_EQ(Says(out), std::vector<Said>{In(T0, T0 + 24 * kDay)});
  EXPECT_EQ(SegmentProcessor::NextTimer(state_), T0 + 24 * kDay);
  // An even older one changes nothing.
  EXPECT_TRUE(Search(T0 - kDay).empty());
}

TEST_F(SegmentProcessorTest, ALateEnterThatWouldNotHaveExtendedAnExpiredMembershipIsIgnored) {
  Search(T0);
  Search(T0 + 4 * kDay);
  Timer(T0 + 18 * kDay);
  EXPECT_TRUE(Search(T0 + 2 * kDay).empty());
  EXPECT_TRUE(Search(T0 - kDay).empty()) << "older than the membership's start";
  EXPECT_FALSE(state_.in_segment);
}

TEST_F(SegmentProcessorTest, ALateExitInsideAnExpiredMembershipMovesItsEndEarlier) {
  Search(T0);
  Timer(T0 + 14 * kDay);
  EXPECT_EQ(Says(Book(T0 + 13 * kDay)), std::vector<Said>{Exited(T0, T0 + 13 * kDay)});
  // Then a search after that booking starts a new membership, even though it
  // is older than the old expiration.
  EXPECT_EQ(Says(Search(T0 + 13 * kDay + kHour)),
            std::vector<Said>{In(T0 + 13 * kDay + kHour, T0 + 27 * kDay + kHour)});
}

TEST_F(SegmentProcessorTest, ALateExitBeforeTheNewestEnterOfAnExpiredMembershipIsIgnored) {
  Search(T0);
  Search(T0 + 4 * kDay);
  Timer(T0 + 18 * kDay);
  EXPECT_TRUE(Book(T0 + 2 * kDay).empty());
  EXPECT_EQ(state_.reason, SegmentReason::kExpired);
}

TEST_F(SegmentProcessorTest, VersionsIncreasePerUserEvenWhenTheClockGoesBack) {
  std::vector<SegmentRecord> first = Signal("searches", T0, json::object(), T0 + 1000);
  std::vector<SegmentRecord> second = Signal("searches", T0 + kDay, json::object(), T0 + 10);
  std::vector<SegmentRecord> third = Timer(T0 + 500);  // not due: nothing
  std::vector<SegmentRecord> fourth = Book(T0 + 2 * kDay);
  ASSERT_EQ(first.size(), 1u);
  ASSERT_EQ(second.size(), 1u);
  ASSERT_EQ(fourth.size(), 1u);
  EXPECT_EQ(first[0].version, T0 + 1000) << "the processing time when it is new";
  EXPECT_EQ(second[0].version, T0 + 1001);
  EXPECT_TRUE(third.empty());
  EXPECT_EQ(fourth[0].version, T0 + 2 * kDay + kLag);
}

TEST_F(SegmentProcessorTest, GivesTheSameRecordsWhenStateIsRestoredBetweenEverySignal) {
  // What a standby taking over (state from the changelog) must reproduce.
  const std::vector<std::pair<std::string, int64_t>> events = {{"searches", T0},
                                                               {"searches", T0 + 2 * kDay},
                                                               {"bookings", T0 + kDay},
                                                               {"bookings", T0 + 3 * kDay},
                                                               {"searches", T0 + 4 * kDay},
                                                               {"searches", T0 + 40 * kDay}};
  std::vector<SegmentRecord> direct;
  for (const auto& [signal, t] : events) {
    auto out = processor_.Apply(&state_, signals_.Make("u1", signal, t), t + kLag);
    direct.insert(direct.end(), out.begin(), out.end());
  }
  SegmentState restored;
  std::vector<SegmentRecord> replayed;
  for (const auto& [signal, t] : events) {
    Result<SegmentState> state = ParseSegmentState(SerializeSegmentState(restored));
    ASSERT_TRUE(state.ok()) << state.status().ToString();
    restored = *state;
    auto out = processor_.Apply(&restored, signals_.Make("u1", signal, t), t + kLag);
    replayed.insert(replayed.end(), out.begin(), out.end());
  }
  EXPECT_EQ(replayed, direct);
  EXPECT_EQ(restored, state_);
  EXPECT_EQ(
      Says(direct),
      (std::vector<Said>{In(T0, T0 + 14 * kDay), In(T0, T0 + 16 * kDay), Exited(T0, T0 + 3 * kDay),
                         In(T0 + 4 * kDay, T0 + 18 * kDay), Expired(T0 + 4 * kDay, T0 + 18 * kDay),
                         In(T0 + 40 * kDay, T0 + 54 * kDay)}));
}

class FilteredSegmentTest : public SegmentProcessorTest {
 protected:
  FilteredSegmentTest()
      : SegmentProcessorTest(SegmentFrom(R"({
          "apiVersion": "usp.dev/v1alpha1", "kind": "UserSegment",
          "metadata": {"name": "family-trip"},
          "spec": {
            "enter": {"signals": ["searches"],
                      "filter": {"field": "/attributes/guests", "op": "gte", "value": 3}},
            "exit": {"signals": ["bookings"],
                     "filter": {"field": "/attributes/status", "op": "eq", "value": "confirmed"}},
            "expireAfter": "7d"}})")) {}
};

TEST_F(FilteredSegmentTest, OnlyRecordsMatchingTheEnterFilterEnter) {
  EXPECT_TRUE(Signal("searches", T0, {{"guests", 2}}).empty());
  EXPECT_TRUE(Signal("searches", T0).empty()) << "missing field: no match";
  EXPECT_EQ(Says(Signal("searches", T0 + kHour, {{"guests", 4}})),
            std::vector<Said>{In(T0 + kHour, T0 + kHour + 7 * kDay)});
  EXPECT_TRUE(Signal("searches", T0 + 2 * kHour, {{"guests", 1}}).empty())
      << "a non-matching record does not extend";
  EXPECT_EQ(state_.expiration, T0 + kHour + 7 * kDay);
}

TEST_F(FilteredSegmentTest, OnlyRecordsMatchingTheExitFilterExit) {
  Signal("searches", T0, {{"guests", 4}});
  EXPECT_TRUE(Signal("bookings", T0 + kHour, {{"status", "cancelled"}}).empty());
  EXPECT_TRUE(state_.in_segment);
  EXPECT_EQ(Says(Signal("bookings", T0 + 2 * kHour, {{"status", "confirmed"}})),
            std::vector<Said>{Exited(T0, T0 + 2 * kHour)});
}

class NoExpirySegmentTest : public SegmentProcessorTest {
 protected:
  NoExpirySegmentTest()
      : SegmentProcessorTest(SegmentFrom(R"({
          "apiVersion": "usp.dev/v1alpha1", "kind": "UserSegment",
          "metadata": {"name": "has-searched"},
          "spec": {"enter": {"signals": ["searches"]}, "exit": {"signals": ["bookings"]}}})")) {}
};

TEST_F(NoExpirySegmentTest, MembershipLastsUntilAnExitAndNeedsNoTimer) {
  EXPECT_EQ(Says(Search(T0)), std::vector<Said>{In(T0, std::nullopt)});
  EXPECT_EQ(SegmentProcessor::NextTimer(state_), std::nullopt);
  EXPECT_TRUE(Search(T0 + 400 * kDay).empty()) << "nothing to extend";
  EXPECT_TRUE(Book(T0 + 300 * kDay).empty()) << "older than the newest enter";
  EXPECT_EQ(Says(Book(T0 + 500 * kDay)), std::vector<Said>{Exited(T0, T0 + 500 * kDay)});
}

// A plug-in: big spenders are in the segment from a booking over 1000 until
// the end of the (UTC) day after it; a cancellation takes them out.
class BigSpenderLogic : public SegmentLogic {
 public:
  bool IsTrigger(const SignalView& signal) const override {
    return signal.signal == "cancellations" || Amount(signal) >= 1000;
  }
  bool InSegment(const SignalView& signal, const SegmentState&) const override {
    return signal.signal == "bookings";
  }
  int64_t StartTime(const SignalView& signal, const SegmentState&) const override {
    return signal.event_time;
  }
  std::optional<int64_t> ExpirationTime(const SignalView& signal,
                                        const SegmentState&) const override {
    return (signal.event_time / kDay + 2) * kDay;
  }

 private:
  static int64_t Amount(const SignalView& signal) {
    int64_t amount = 0;
    if (signal.record["attributes"]["amount"].get(amount)) return 0;
    return amount;
  }
};

TEST(SegmentProcessorPlugIn, RunsTheLogicNamedByTransformInsteadOfTheDeclarativeOne) {
  SegmentLogicRegistry registry;
  ASSERT_TRUE(registry
                  .Register("big-spender",
                            [](const UserSegment&) -> Result<std::unique_ptr<SegmentLogic>> {
                              return std::unique_ptr<SegmentLogic>(
                                  std::make_unique<BigSpenderLogic>());
                            })
                  .ok());
  const UserSegment segment = SegmentFrom(R"({
    "apiVersion": "usp.dev/v1alpha1", "kind": "UserSegment",
    "metadata": {"name": "big-spenders"},
    "spec": {"enter": {"signals": ["bookings"]}, "exit": {"signals": ["cancellations"]},
             "expireAfter": "30d", "transform": "big-spender"}})");
  Result<SegmentProcessor> processor = SegmentProcessor::Create(segment, registry);
  ASSERT_TRUE(processor.ok()) << processor.status().ToString();
  TestSignals signals;
  SegmentState state;
  const int64_t day = T0 / kDay * kDay;  // midnight UTC

  EXPECT_TRUE(processor
                  ->Apply(&state, signals.Make("u1", "bookings", day + kHour, {{"amount", 50}}),
                          day + kHour)
                  .empty())
      << "the plug-in's IsTrigger, not the declarative enter list, decides";
  std::vector<SegmentRecord> out = processor->Apply(
      &state, signals.Make("u1", "bookings", day + 3 * kHour, {{"amount", 1500}}), day + 3 * kHour);
  EXPECT_EQ(Says(out), std::vector<Said>{In(day + 3 * kHour, day + 2 * kDay)})
      << "the plug-in's expiration, not expireAfter (30d)";
  EXPECT_TRUE(
      processor->Apply(&state, signals.Make("u1", "searches", day + 4 * kHour), day + 4 * kHour)
          .empty())
      << "signals the segment does not name never reach the plug-in";
  EXPECT_EQ(Says(processor->Apply(&state, signals.Make("u1", "cancellations", day + 5 * kHour),
                                  day + 5 * kHour)),
            std::vector<Said>{Exited(day + 3 * kHour, day + 5 * kHour)});
}

TEST(SegmentProcessorPlugIn, CreateFailsForAnUnregisteredTransform) {
  UserSegment segment = TripPlanner();
  segment.spec.transform = "missing";
  SegmentLogicRegistry empty;
  Result<SegmentProcessor> processor = SegmentProcessor::Create(segment, empty);
  ASSERT_FALSE(processor.ok());
  EXPECT_EQ(processor.status().code(), Status::Code::kNotFound);
}

// The example of the design brief, end to end: records out of the processor,
// answers out of SegmentsAt.
TEST_F(SegmentProcessorTest, ActiveTripPlanner) {
  EXPECT_EQ(processor_.segment_name(), "active-trip-planner");
  EXPECT_EQ(processor_.trigger_signals(), (std::vector<std::string>{"searches", "bookings"}));

  Search(T0);                       // day 0: starts planning
  Signal("home-views", T0 + kDay);  // ignored
  Search(T0 + 3 * kDay);            // day 3: expiration -> day 17
  Book(T0 + 5 * kDay);              // day 5: booked: out
  Search(T0 + 10 * kDay);           // day 10: planning the next trip
  Search(T0 + 12 * kDay);           // day 12: expiration -> day 26
  EXPECT_TRUE(Timer(T0 + 24 * kDay).empty()) << "stale: set for day 24";
  EXPECT_EQ(Says(Timer(T0 + 26 * kDay)),
            std::vector<Said>{Expired(T0 + 10 * kDay, T0 + 26 * kDay)});

  EXPECT_EQ(
      Says(all_),
      (std::vector<Said>{In(T0, T0 + 14 * kDay), In(T0, T0 + 17 * kDay), Exited(T0, T0 + 5 * kDay),
                         In(T0 + 10 * kDay, T0 + 24 * kDay), In(T0 + 10 * kDay, T0 + 26 * kDay),
                         Expired(T0 + 10 * kDay, T0 + 26 * kDay)}));
  auto at = [&](int64_t t) { return SegmentsAt(all_, t); };
  EXPECT_TRUE(at(T0 - 1).empty()) << "before the first search";
  EXPECT_EQ(at(T0 + 4 * kDay),
            (std::vector<SegmentMembership>{{"active-trip-planner", true, T0, T0 + 5 * kDay}}))
      << "in, and the membership ended at the booking";
  EXPECT_EQ(at(T0 + 7 * kDay),
            (std::vector<SegmentMembership>{{"active-trip-planner", false, T0, T0 + 5 * kDay}}));
  EXPECT_EQ(at(T0 + 20 * kDay), (std::vector<SegmentMembership>{{"active-trip-planner", true,
                                                                 T0 + 10 * kDay, T0 + 26 * kDay}}));
  EXPECT_EQ(at(T0 + 26 * kDay), (std::vector<SegmentMembership>{{"active-trip-planner", false,
                                                                 T0 + 10 * kDay, T0 + 26 * kDay}}));
}

}  // namespace
}  // namespace usp
