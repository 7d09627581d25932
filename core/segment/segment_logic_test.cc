#include "core/segment/segment_logic.h"

#include <gtest/gtest.h>

#include "core/segment/segment_logic_registry.h"
#include "core/segment/test_signals.h"

namespace usp {
namespace {

using segment_testing::kDay;
using segment_testing::SegmentFrom;
using segment_testing::TestSignals;
using segment_testing::TripPlanner;
using Match = DeclarativeSegmentLogic::Match;

TEST(ParseSignalView, ReadsTheFieldsLogicNeedsAndKeepsTheWholeRecord) {
  simdjson::dom::parser parser;
  Result<SignalView> view = ParseSignalView(
      R"({"user_id":"u1","signal":"searches","event_time":1700000000000,"event_id":"e1",)"
      R"("version":1,"attributes":{"destination":"Lisbon"}})",
      &parser);
  ASSERT_TRUE(view.ok()) << view.status().ToString();
  EXPECT_EQ(view->user_id, "u1");
  EXPECT_EQ(view->signal, "searches");
  EXPECT_EQ(view->event_time, 1700000000000);
  std::string_view destination;
  ASSERT_FALSE(view->record["attributes"]["destination"].get(destination));
  EXPECT_EQ(destination, "Lisbon");
}

TEST(ParseSignalView, NamesTheMissingOrMistypedField) {
  simdjson::dom::parser parser;
  auto error = [&](const char* json) {
    Result<SignalView> v = ParseSignalView(json, &parser);
    return v.ok() ? std::string("ok") : v.status().message();
  };
  EXPECT_EQ(error(R"({"signal":"s","event_time":1})"), "user_id: required");
  EXPECT_EQ(error(R"({"user_id":7,"signal":"s","event_time":1})"), "user_id: must be a string");
  EXPECT_EQ(error(R"({"user_id":"u","event_time":1})"), "signal: required");
  EXPECT_EQ(error(R"({"user_id":"u","signal":"s"})"), "event_time: required");
  EXPECT_EQ(error(R"({"user_id":"u","signal":"s","event_time":"2024-01-01T00:00:00Z"})"),
            "event_time: must be an integer");
  EXPECT_EQ(error("[]"), "signal record must be a JSON object");
  EXPECT_EQ(error("{").substr(0, 30), "signal record is not valid JSO");
}

TEST(DeclarativeSegmentLogic, ClassifiesEnterExitAndOtherSignals) {
  TestSignals signals;
  DeclarativeSegmentLogic logic(TripPlanner().spec);
  EXPECT_EQ(logic.Classify(signals.Make("u", "searches", 1)), Match::kEnter);
  EXPECT_EQ(logic.Classify(signals.Make("u", "bookings", 1)), Match::kExit);
  EXPECT_EQ(logic.Classify(signals.Make("u", "home-views", 1)), Match::kNone);
  EXPECT_FALSE(logic.IsTrigger(signals.Make("u", "home-views", 1)));
  EXPECT_TRUE(logic.InSegment(signals.Make("u", "searches", 1), SegmentState{}));
  EXPECT_FALSE(logic.InSegment(signals.Make("u", "bookings", 1), SegmentState{}));
}

TEST(DeclarativeSegmentLogic, StartsAtTheEventTimeAndExpiresExpireAfterLater) {
  TestSignals signals;
  DeclarativeSegmentLogic logic(TripPlanner().spec);
  const SignalView search = signals.Make("u", "searches", 5 * kDay);
  EXPECT_EQ(logic.StartTime(search, SegmentState{}), 5 * kDay);
  EXPECT_EQ(logic.ExpirationTime(search, SegmentState{}), 19 * kDay);
}

TEST(DeclarativeSegmentLogic, HasNoExpirationWithoutExpireAfter) {
  TestSignals signals;
  UserSegment segment = TripPlanner();
  segment.spec.expire_after_ms.reset();
  DeclarativeSegmentLogic logic(segment.spec);
  EXPECT_EQ(logic.ExpirationTime(signals.Make("u", "searches", 10), SegmentState{}), std::nullopt);
}

TEST(DeclarativeSegmentLogic, AppliesFiltersToTheSignalRecord) {
  TestSignals signals;
  UserSegment segment = SegmentFrom(R"({
    "apiVersion": "usp.dev/v1alpha1", "kind": "UserSegment", "metadata": {"name": "beach"},
    "spec": {
      "enter": {"signals": ["searches"],
                "filter": {"field": "/attributes/destination", "op": "in",
                           "value": ["Lisbon", "Nice"]}},
      "exit": {"signals": ["bookings"],
               "filter": {"field": "/attributes/status", "op": "eq", "value": "confirmed"}},
      "expireAfter": "7d"}})");
  DeclarativeSegmentLogic logic(segment.spec);
  EXPECT_EQ(logic.Classify(signals.Make("u", "searches", 1, {{"destination", "Nice"}})),
            Match::kEnter);
  EXPECT_EQ(logic.Classify(signals.Make("u", "searches", 1, {{"destination", "Oslo"}})),
            Match::kNone);
  EXPECT_EQ(logic.Classify(signals.Make("u", "searches", 1)), Match::kNone);
  EXPECT_EQ(logic.Classify(signals.Make("u", "bookings", 1, {{"status", "confirmed"}})),
            Match::kExit);
  EXPECT_EQ(logic.Classify(signals.Make("u", "bookings", 1, {{"status", "cancelled"}})),
            Match::kNone);
}

TEST(DeclarativeSegmentLogic, ExitWinsWhenARecordMatchesBoth) {
  TestSignals signals;
  UserSegment segment = SegmentFrom(R"({
    "apiVersion": "usp.dev/v1alpha1", "kind": "UserSegment", "metadata": {"name": "pending"},
    "spec": {
      "enter": {"signals": ["bookings"],
                "filter": {"field": "/attributes/amount", "op": "gt", "value": 100}},
      "exit": {"signals": ["bookings"],
               "filter": {"field": "/attributes/status", "op": "eq", "value": "confirmed"}}}})");
  DeclarativeSegmentLogic logic(segment.spec);
  EXPECT_EQ(logic.Classify(signals.Make("u", "bookings", 1, {{"amount", 500}})), Match::kEnter);
  EXPECT_EQ(
      logic.Classify(signals.Make("u", "bookings", 1, {{"amount", 500}, {"status", "confirmed"}})),
      Match::kExit);
}

class AlwaysIn : public SegmentLogic {
 public:
  bool InSegment(const SignalView&, const SegmentState&) const override { return true; }
  int64_t StartTime(const SignalView& s, const SegmentState&) const override {
    return s.event_time;
  }
  std::optional<int64_t> ExpirationTime(const SignalView&, const SegmentState&) const override {
    return std::nullopt;
  }
};

TEST(SegmentLogicRegistry, CreatesRegisteredPlugInsByName) {
  SegmentLogicRegistry registry;
  int created = 0;
  ASSERT_TRUE(registry
                  .Register("always_in",
                            [&](const UserSegment&) -> Result<std::unique_ptr<SegmentLogic>> {
                              ++created;
                              return std::unique_ptr<SegmentLogic>(std::make_unique<AlwaysIn>());
                            })
                  .ok());
  EXPECT_TRUE(registry.Contains("always_in"));
  EXPECT_EQ(registry.Names(), std::vector<std::string>{"always_in"});
  Result<std::unique_ptr<SegmentLogic>> logic = registry.Create("always_in", TripPlanner());
  ASSERT_TRUE(logic.ok()) << logic.status().ToString();
  EXPECT_NE(*logic, nullptr);
  EXPECT_EQ(created, 1);
}

TEST(SegmentLogicRegistry, RefusesDuplicateEmptyAndUnknownNames) {
  SegmentLogicRegistry registry;
  auto factory = [](const UserSegment&) -> Result<std::unique_ptr<SegmentLogic>> {
    return std::unique_ptr<SegmentLogic>(std::make_unique<AlwaysIn>());
  };
  ASSERT_TRUE(registry.Register("a", factory).ok());
  Status duplicate = registry.Register("a", factory);
  EXPECT_EQ(duplicate.code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(duplicate.message(), "segment logic \"a\" is already registered");
  EXPECT_EQ(registry.Register("", factory).code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(registry.Register("b", nullptr).code(), Status::Code::kInvalidArgument);
  Result<std::unique_ptr<SegmentLogic>> missing = registry.Create("nope", TripPlanner());
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), Status::Code::kNotFound);
  EXPECT_EQ(missing.status().message(), "no segment logic plug-in named \"nope\" (registered: a)");
}

TEST(SegmentLogicRegistry, PassesFactoryErrorsThroughAndRefusesNullLogic) {
  SegmentLogicRegistry registry;
  ASSERT_TRUE(registry
                  .Register("picky",
                            [](const UserSegment& s) -> Result<std::unique_ptr<SegmentLogic>> {
                              return Status::InvalidArgument(s.metadata.name +
                                                             ": needs expireAfter <= 1d");
                            })
                  .ok());
  ASSERT_TRUE(registry
                  .Register("null",
                            [](const UserSegment&) -> Result<std::unique_ptr<SegmentLogic>> {
                              return std::unique_ptr<SegmentLogic>();
                            })
                  .ok());
  Result<std::unique_ptr<SegmentLogic>> picky = registry.Create("picky", TripPlanner());
  ASSERT_FALSE(picky.ok());
  EXPECT_EQ(picky.status().message(), "active-trip-planner: needs expireAfter <= 1d");
  Result<std::unique_ptr<SegmentLogic>> null = registry.Create("null", TripPlanner());
  ASSERT_FALSE(null.ok());
  EXPECT_EQ(null.status().code(), Status::Code::kInternal);
}

TEST(MakeSegmentLogic, IsDeclarativeWithoutTransformAndThePlugInWithOne) {
  SegmentLogicRegistry registry;
  Result<std::unique_ptr<SegmentLogic>> declarative = MakeSegmentLogic(TripPlanner(), registry);
  ASSERT_TRUE(declarative.ok());
  EXPECT_NE(dynamic_cast<DeclarativeSegmentLogic*>(declarative->get()), nullptr);

  UserSegment custom = TripPlanner();
  custom.spec.transform = "always_in";
  Status missing = MakeSegmentLogic(custom, registry).status();
  EXPECT_EQ(missing.code(), Status::Code::kNotFound);
  EXPECT_EQ(missing.message().rfind("spec.transform: no segment logic plug-in named \"always_in\"", 0), 0u)
      << missing.message();
  EXPECT_NE(missing.message().find("--plugin PATH"), std::string::npos) << missing.message();
  ASSERT_TRUE(registry
                  .Register("always_in",
                            [](const UserSegment&) -> Result<std::unique_ptr<SegmentLogic>> {
                              return std::unique_ptr<SegmentLogic>(std::make_unique<AlwaysIn>());
                            })
                  .ok());
  Result<std::unique_ptr<SegmentLogic>> plugin = MakeSegmentLogic(custom, registry);
  ASSERT_TRUE(plugin.ok());
  EXPECT_NE(dynamic_cast<AlwaysIn*>(plugin->get()), nullptr);
}

}  // namespace
}  // namespace usp
