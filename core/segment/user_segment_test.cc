#include "core/segment/user_segment.h"

#include <gtest/gtest.h>

#include <functional>
#include <ostream>

namespace usp {

// Readable failures: errors print as users see them.
void PrintTo(const FieldError& error, std::ostream* os) { *os << error.ToString(); }

namespace {

using nlohmann::json;

json Minimal() {
  return json::parse(R"({
    "apiVersion": "usp.dev/v1alpha1", "kind": "UserSegment",
    "metadata": {"name": "active-trip-planner"},
    "spec": {"enter": {"signals": ["searches"]}}
  })");
}

json Full() {
  return json::parse(R"({
    "apiVersion": "usp.dev/v1alpha1", "kind": "UserSegment",
    "metadata": {"name": "active-trip-planner", "namespace": "growth", "generation": 4,
                 "labels": {"team": "growth"}, "uid": "ignored"},
    "spec": {
      "enter": {"signals": ["searches", "home-views"],
                "filter": {"field": "/attributes/guests", "op": "gte", "value": 1}},
      "exit": {"signals": ["bookings"],
               "filter": {"not": {"field": "/attributes/status", "op": "eq", "value": "cancelled"}}},
      "expireAfter": "336h",
      "transform": "trip_planner_v2",
      "outputTopic": "segments.trip-planner",
      "parallelism": 3,
      "standbyReplicas": 0,
      "failover": {"probeInterval": "1s", "failureThreshold": 4}
    },
    "status": {"observedGeneration": 3}
  })");
}

TEST(ParseUserSegment, AppliesDefaultsToAMinimalSegment) {
  FieldErrors errors;
  std::optional<UserSegment> s = ParseUserSegment(Minimal(), &errors);
  ASSERT_TRUE(s.has_value()) << errors[0].ToString();
  EXPECT_EQ(s->metadata.name, "active-trip-planner");
  EXPECT_EQ(s->metadata.namespace_, "default");
  const UserSegmentSpec& spec = s->spec;
  EXPECT_EQ(spec.enter.signals, std::vector<std::string>{"searches"});
  EXPECT_EQ(spec.enter.filter, nullptr);
  EXPECT_FALSE(spec.exit.has_value());
  EXPECT_FALSE(spec.expire_after_ms.has_value());
  EXPECT_EQ(spec.transform, "");
  EXPECT_EQ(spec.output_topic, "usp.segment.active-trip-planner");
  EXPECT_EQ(spec.parallelism, 1);
  EXPECT_EQ(spec.standby_replicas, 1);
  EXPECT_EQ(spec.failover.probe_interval_ms, 500);
  EXPECT_EQ(spec.failover.failure_threshold, 2);
}

TEST(ParseUserSegment, ReadsEveryFieldOfAFullSegment) {
  FieldErrors errors;
  std::optional<UserSegment> s = ParseUserSegment(Full(), &errors);
  ASSERT_TRUE(s.has_value()) << errors[0].ToString();
  EXPECT_EQ(s->metadata.namespace_, "growth");
  EXPECT_EQ(s->metadata.generation, 4);
  EXPECT_EQ(s->metadata.labels.at("team"), "growth");
  const UserSegmentSpec& spec = s->spec;
  EXPECT_EQ(spec.enter.signals, (std::vector<std::string>{"searches", "home-views"}));
  ASSERT_NE(spec.enter.filter, nullptr);
  EXPECT_EQ(spec.enter.filter->ToJson(),
            json::parse(R"({"field": "/attributes/guests", "op": "gte", "value": 1})"));
  ASSERT_TRUE(spec.exit.has_value());
  EXPECT_EQ(spec.exit->signals, std::vector<std::string>{"bookings"});
  ASSERT_NE(spec.exit->filter, nullptr);
  EXPECT_EQ(spec.expire_after_ms, 14LL * 24 * 3600 * 1000);
  EXPECT_EQ(spec.transform, "trip_planner_v2");
  EXPECT_EQ(spec.output_topic, "segments.trip-planner");
  EXPECT_EQ(spec.parallelism, 3);
  EXPECT_EQ(spec.standby_replicas, 0);
  EXPECT_EQ(spec.failover.probe_interval_ms, 1000);
  EXPECT_EQ(spec.failover.failure_threshold, 4);
  EXPECT_EQ(s->TriggerSignals(), (std::vector<std::string>{"searches", "home-views", "bookings"}));
}

TEST(UserSegment, TriggerSignalsListEnterThenExitWithoutDuplicates) {
  json doc = Minimal();
  doc["spec"]["enter"] = json::parse(
      R"({"signals": ["bookings", "searches"], "filter": {"field": "/attributes/status",
          "op": "eq", "value": "pending"}})");
  doc["spec"]["exit"] = json::parse(R"({"signals": ["bookings", "cancellations"]})");
  FieldErrors errors;
  std::optional<UserSegment> s = ParseUserSegment(doc, &errors);
  ASSERT_TRUE(s.has_value()) << errors[0].ToString();
  EXPECT_EQ(s->TriggerSignals(),
            (std::vector<std::string>{"bookings", "searches", "cancellations"}));
}

TEST(ToJson, WritesEveryFieldWithDefaultsAndCanonicalDurations) {
  FieldErrors errors;
  json doc = Minimal();
  doc["spec"]["expireAfter"] = "336h";
  std::optional<UserSegment> s = ParseUserSegment(doc, &errors);
  ASSERT_TRUE(s.has_value()) << errors[0].ToString();
  const json expected = json::parse(R"({
    "apiVersion": "usp.dev/v1alpha1", "kind": "UserSegment",
    "metadata": {"name": "active-trip-planner", "namespace": "default"},
    "spec": {
      "enter": {"signals": ["searches"]},
      "expireAfter": "14d",
      "outputTopic": "usp.segment.active-trip-planner",
      "parallelism": 1,
      "standbyReplicas": 1,
      "failover": {"probeInterval": "500ms", "failureThreshold": 2}
    }
  })");
  EXPECT_EQ(ToJson(*s), expected);
}

TEST(ToJson, RoundTripsThroughParseUserSegment) {
  for (const json& doc : {Minimal(), Full()}) {
    FieldErrors errors;
    std::optional<UserSegment> first = ParseUserSegment(doc, &errors);
    ASSERT_TRUE(first.has_value()) << errors[0].ToString();
    const json normalized = ToJson(*first);
    std::optional<UserSegment> second = ParseUserSegment(normalized, &errors);
    ASSERT_TRUE(second.has_value()) << normalized.dump() << ": " << errors[0].ToString();
    EXPECT_EQ(ToJson(*second), normalized);
    EXPECT_EQ(*second, *first);
    EXPECT_EQ(second->TriggerSignals(), first->TriggerSignals());
    EXPECT_EQ(second->spec.expire_after_ms, first->spec.expire_after_ms);
  }
}

TEST(UserSegment, EqualityComparesContentIncludingFilters) {
  FieldErrors errors;
  std::optional<UserSegment> a = ParseUserSegment(Full(), &errors);
  std::optional<UserSegment> b = ParseUserSegment(Full(), &errors);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(*a, *b);
  json changed = Full();
  changed["spec"]["enter"]["filter"]["value"] = 2;
  std::optional<UserSegment> c = ParseUserSegment(changed, &errors);
  ASSERT_TRUE(c.has_value());
  EXPECT_FALSE(*a == *c);
}

// Applies `mutate` to Minimal() and expects exactly `expected` (in order).
void ExpectErrors(const std::function<void(json&)>& mutate, const FieldErrors& expected) {
  json doc = Minimal();
  mutate(doc);
  FieldErrors errors;
  EXPECT_FALSE(ParseUserSegment(doc, &errors).has_value()) << doc.dump();
  EXPECT_EQ(errors, expected) << doc.dump();
}

TEST(ParseUserSegment, ReportsEachProblemWithItsFieldPath) {
  ExpectErrors([](json& d) { d["spec"].erase("enter"); }, {{"spec.enter", "required"}});
  ExpectErrors([](json& d) { d["spec"]["enter"] = "searches"; },
               {{"spec.enter", "must be an object"}});
  ExpectErrors([](json& d) { d["spec"]["enter"] = json::object(); },
               {{"spec.enter.signals", "required"}});
  ExpectErrors([](json& d) { d["spec"]["enter"]["signals"] = json::array(); },
               {{"spec.enter.signals", "must not be empty"}});
  ExpectErrors([](json& d) { d["spec"]["enter"]["signals"] = "searches"; },
               {{"spec.enter.signals", "must be a list"}});
  ExpectErrors(
      [](json& d) {
        d["spec"]["enter"]["signals"] = {"searches", 7};
      },
      {{"spec.enter.signals[1]", "must be a string (a UserSignal name)"}});
  ExpectErrors(
      [](json& d) {
        d["spec"]["enter"]["signals"] = {"searches", "Searches"};
      },
      {{"spec.enter.signals[1]",
        "invalid UserSignal name \"Searches\": must consist of lowercase letters, "
        "digits, '-' and '.', and start and end with a letter or digit"}});
  ExpectErrors(
      [](json& d) {
        d["spec"]["enter"]["signals"] = {"searches", "searches"};
      },
      {{"spec.enter.signals[1]", "duplicate signal \"searches\""}});
  ExpectErrors(
      [](json& d) {
        json many = json::array();
        for (int i = 0; i < 65; ++i) many.push_back("s" + std::to_string(i));
        d["spec"]["enter"]["signals"] = many;
      },
      {{"spec.enter.signals", "must have at most 64 items"}});
  ExpectErrors([](json& d) { d["spec"]["enter"]["signal"] = "x"; },
               {{"spec.enter.signal", "unknown field"}});
  ExpectErrors(
      [](json& d) {
        d["spec"]["enter"]["filter"] = {{"field", "/attributes/guests"}, {"op", "between"}};
      },
      {{"spec.enter.filter.op", "must be one of eq, ne, gt, gte, lt, lte, in, exists, prefix"}});
  ExpectErrors([](json& d) { d["spec"]["exit"] = json::object(); },
               {{"spec.exit.signals", "required"}});
  ExpectErrors(
      [](json& d) {
        d["spec"]["exit"] = {
            {"signals", {"bookings"}},
            {"filter", {{"any", {{{"field", "/a"}, {"op", "eq"}, {"value", 1}}, 3}}}}};
      },
      {{"spec.exit.filter.any[1]", "must be an object"}});
  ExpectErrors(
      [](json& d) {
        d["spec"]["exit"] = {{"signals", {"searches"}}};
      },
      {{"spec.exit.signals[0]",
        "\"searches\" is also an enter signal: without an enter or exit filter every "
        "record of it would exit"}});
  ExpectErrors([](json& d) { d["spec"]["expireAfter"] = "14 days"; },
               {{"spec.expireAfter",
                 "invalid duration \"14 days\": unknown unit \" days\" (use ms, s, m, h or d)"}});
  ExpectErrors([](json& d) { d["spec"]["expireAfter"] = "0d"; },
               {{"spec.expireAfter", "must be greater than 0"}});
  ExpectErrors([](json& d) { d["spec"]["expireAfter"] = 14; },
               {{"spec.expireAfter", "must be a string"}});
  ExpectErrors([](json& d) { d["spec"]["transform"] = ""; },
               {{"spec.transform", "must not be empty"}});
  ExpectErrors([](json& d) { d["spec"]["transform"] = std::string(254, 'x'); },
               {{"spec.transform", "must be at most 253 characters"}});
  ExpectErrors([](json& d) { d["spec"]["outputTopic"] = "bad topic!"; },
               {{"spec.outputTopic",
                 "invalid Kafka topic name \"bad topic!\": use letters, digits, '.', '_' and "
                 "'-', at most 249 characters"}});
  ExpectErrors([](json& d) { d["spec"]["parallelism"] = 0; },
               {{"spec.parallelism", "must be >= 1"}});
  ExpectErrors([](json& d) { d["spec"]["standbyReplicas"] = -1; },
               {{"spec.standbyReplicas", "must be >= 0"}});
  ExpectErrors(
      [](json& d) {
        d["spec"]["failover"] = {{"probeInterval", "0s"}};
      },
      {{"spec.failover.probeInterval", "must be greater than 0"}});
  ExpectErrors(
      [](json& d) {
        d["spec"]["failover"] = {{"threshold", 1}};
      },
      {{"spec.failover.threshold", "unknown field"}});
  ExpectErrors([](json& d) { d["spec"]["signals"] = {"searches"}; },
               {{"spec.signals", "unknown field"}});
  ExpectErrors([](json& d) { d["metadata"].erase("name"); }, {{"metadata.name", "required"}});
  ExpectErrors([](json& d) { d.erase("spec"); }, {{"spec", "required"}});
  ExpectErrors([](json& d) { d["kind"] = "UserSignal"; },
               {{"kind", "must be UserSegment, got \"UserSignal\""}});
  ExpectErrors([](json& d) { d["apiVersion"] = "usp.dev/v1"; },
               {{"apiVersion", "must be usp.dev/v1alpha1, got \"usp.dev/v1\""}});
  FieldErrors errors;
  EXPECT_FALSE(ParseUserSegment(json::array(), &errors).has_value());
  EXPECT_EQ(errors, (FieldErrors{{"document", "must be an object"}}));
}

TEST(ParseUserSegment, CollectsAllErrorsNotJustTheFirst) {
  ExpectErrors(
      [](json& d) {
        d["spec"]["enter"]["signals"] = json::array();
        d["spec"]["expireAfter"] = "soon";
        d["spec"]["parallelism"] = 0;
      },
      {{"spec.enter.signals", "must not be empty"},
       {"spec.expireAfter",
        "invalid duration \"soon\": expected a number at \"soon\" (forms: 500ms, 10s, 5m, "
        "2h, 14d, 1h30m)"},
       {"spec.parallelism", "must be >= 1"}});
}

TEST(ParseUserSegment, AllowsASignalInEnterAndExitWhenAFilterTellsThemApart) {
  json doc = Minimal();
  doc["spec"]["enter"] = json::parse(
      R"({"signals": ["bookings"], "filter": {"field": "/attributes/status", "op": "eq",
          "value": "pending"}})");
  doc["spec"]["exit"] = json::parse(R"({"signals": ["bookings"]})");
  FieldErrors errors;
  EXPECT_TRUE(ParseUserSegment(doc, &errors).has_value()) << errors[0].ToString();
}

TEST(ParseUserSegment, LimitsTheNameToWhatTheCrdAccepts) {
  json doc = Minimal();
  doc["metadata"]["name"] = std::string(63, 'a');
  FieldErrors errors;
  EXPECT_TRUE(ParseUserSegment(doc, &errors).has_value());
  ExpectErrors([](json& d) { d["metadata"]["name"] = std::string(64, 'a'); },
               {{"metadata.name",
                 "must be at most 63 characters: it names the worker Deployment and labels its "
                 "pods"}});
  ExpectErrors([](json& d) { d["metadata"]["name"] = "Trip_Planner"; },
               {{"metadata.name",
                 "invalid name \"Trip_Planner\": must consist of lowercase letters, digits, '-' "
                 "and '.', and start and end with a letter or digit"}});
}

TEST(ParseUserSegment, TreatsNullFieldsAsUnset) {
  json doc = Minimal();
  doc["spec"]["exit"] = nullptr;
  doc["spec"]["expireAfter"] = nullptr;
  doc["spec"]["enter"]["filter"] = nullptr;
  FieldErrors errors;
  std::optional<UserSegment> s = ParseUserSegment(doc, &errors);
  ASSERT_TRUE(s.has_value()) << errors[0].ToString();
  EXPECT_FALSE(s->spec.exit.has_value());
  EXPECT_FALSE(s->spec.expire_after_ms.has_value());
  EXPECT_EQ(s->spec.enter.filter, nullptr);
}

}  // namespace
}  // namespace usp
