#include "core/user_signal.h"

#include <gtest/gtest.h>

#include <functional>

namespace usp {
namespace {

using nlohmann::json;

json Minimal() {
  return json::parse(R"({
    "apiVersion": "usp.dev/v1alpha1", "kind": "UserSignal",
    "metadata": {"name": "searches"},
    "spec": {"eventSources": [{"kafkaTopic": "search-events"}]}
  })");
}

json Full() {
  return json::parse(R"({
    "apiVersion": "usp.dev/v1alpha1", "kind": "UserSignal",
    "metadata": {"name": "searches", "namespace": "team-a", "generation": 3,
                 "labels": {"team": "growth"}, "uid": "ignored"},
    "spec": {
      "type": "simple",
      "eventSources": [
        {"kafkaTopic": "search-events", "filter": {"field": "/kind", "op": "eq", "value": "search"}},
        {"kafkaTopic": "app-events"}
      ],
      "userIdField": "/user/id",
      "eventTimeField": "/ts",
      "eventIdField": "/id",
      "filter": {"not": {"field": "/bot", "op": "eq", "value": true}},
      "attributes": {"city": "/geo/city", "query": "/q"},
      "transform": "lowercase_query",
      "onError": "skip",
      "deadLetterTopic": "dlq.searches",
      "retention": "14d",
      "outputTopic": "signals.searches",
      "parallelism": 4,
      "standbyReplicas": 2,
      "failover": {"probeInterval": "1s", "failureThreshold": 3}
    },
    "status": {"observedGeneration": 2}
  })");
}

std::optional<UserSignal> Parse(const json& doc, FieldErrors* errors) {
  return ParseUserSignal(doc, errors);
}

TEST(ParseUserSignal, AppliesDefaultsToAMinimalSignal) {
  FieldErrors errors;
  std::optional<UserSignal> s = Parse(Minimal(), &errors);
  ASSERT_TRUE(s.has_value()) << errors[0].ToString();
  EXPECT_EQ(s->metadata.name, "searches");
  EXPECT_EQ(s->metadata.namespace_, "default");
  const UserSignalSpec& spec = s->spec;
  EXPECT_EQ(spec.type, SignalType::kSimple);
  ASSERT_EQ(spec.event_sources.size(), 1u);
  EXPECT_EQ(spec.event_sources[0].kafka_topic, "search-events");
  EXPECT_EQ(spec.event_sources[0].filter, nullptr);
  EXPECT_EQ(spec.user_id_field.text(), "/user_id");
  EXPECT_EQ(spec.event_time_field.text(), "/event_time");
  EXPECT_FALSE(spec.event_id_field.has_value());
  EXPECT_EQ(spec.filter, nullptr);
  EXPECT_TRUE(spec.attributes.empty());
  EXPECT_EQ(spec.transform, "");
  EXPECT_EQ(spec.on_error, OnError::kDeadLetter);
  EXPECT_EQ(spec.dead_letter_topic, "usp.dlq.searches");
  EXPECT_EQ(spec.output_topic, "usp.signal.searches");
  EXPECT_EQ(spec.retention_ms, 30LL * 24 * 3600 * 1000);
  EXPECT_EQ(spec.join_window_ms, 24LL * 3600 * 1000);
  EXPECT_EQ(spec.parallelism, 1);
  EXPECT_EQ(spec.standby_replicas, 1);
  EXPECT_EQ(spec.failover.probe_interval_ms, 500);
  EXPECT_EQ(spec.failover.failure_threshold, 2);
}

TEST(ParseUserSignal, ReadsEveryFieldOfAFullSignal) {
  FieldErrors errors;
  std::optional<UserSignal> s = Parse(Full(), &errors);
  ASSERT_TRUE(s.has_value()) << errors[0].ToString();
  EXPECT_EQ(s->metadata.namespace_, "team-a");
  EXPECT_EQ(s->metadata.generation, 3);
  EXPECT_EQ(s->metadata.labels.at("team"), "growth");
  const UserSignalSpec& spec = s->spec;
  ASSERT_EQ(spec.event_sources.size(), 2u);
  ASSERT_NE(spec.event_sources[0].filter, nullptr);
  EXPECT_EQ(spec.event_sources[1].kafka_topic, "app-events");
  EXPECT_EQ(spec.user_id_field.text(), "/user/id");
  EXPECT_EQ(spec.event_time_field.text(), "/ts");
  EXPECT_EQ(spec.event_id_field->text(), "/id");
  ASSERT_NE(spec.filter, nullptr);
  EXPECT_EQ(spec.attributes.size(), 2u);
  EXPECT_EQ(spec.attributes.at("city").text(), "/geo/city");
  EXPECT_EQ(spec.transform, "lowercase_query");
  EXPECT_EQ(spec.on_error, OnError::kSkip);
  EXPECT_EQ(spec.dead_letter_topic, "dlq.searches");
  EXPECT_EQ(spec.retention_ms, 14LL * 24 * 3600 * 1000);
  EXPECT_EQ(spec.output_topic, "signals.searches");
  EXPECT_EQ(spec.parallelism, 4);
  EXPECT_EQ(spec.standby_replicas, 2);
  EXPECT_EQ(spec.failover.probe_interval_ms, 1000);
  EXPECT_EQ(spec.failover.failure_threshold, 3);
  EXPECT_EQ(s->SourceTopics(), (std::vector<std::string>{"search-events", "app-events"}));
}

TEST(ParseUserSignal, ReadsALeftJoinSignal) {
  json doc = Minimal();
  doc["spec"] = json::parse(R"({
    "type": "left_join", "joinWindow": "2h",
    "leftEventSource": {"kafkaTopic": "bookings", "joinKeyField": "/listing_id"},
    "rightEventSource": {"kafkaTopic": "listings", "joinKeyField": "/id"},
    "userIdField": "/left/user_id"})");
  FieldErrors errors;
  std::optional<UserSignal> s = Parse(doc, &errors);
  ASSERT_TRUE(s.has_value()) << errors[0].ToString();
  EXPECT_EQ(s->spec.type, SignalType::kLeftJoin);
  EXPECT_EQ(s->spec.join_window_ms, 2 * 3600 * 1000);
  EXPECT_EQ(s->spec.left_event_source->join_key_field.text(), "/listing_id");
  EXPECT_EQ(s->spec.right_event_source->kafka_topic, "listings");
  EXPECT_EQ(s->SourceTopics(), (std::vector<std::string>{"bookings", "listings"}));
}

TEST(UserSignal, SourceTopicsDropDuplicates) {
  json doc = Minimal();
  doc["spec"]["eventSources"] = json::parse(
      R"([{"kafkaTopic": "a"}, {"kafkaTopic": "b"}, {"kafkaTopic": "a", "filter": {"field": "/x", "op": "exists"}}])");
  FieldErrors errors;
  std::optional<UserSignal> s = Parse(doc, &errors);
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->SourceTopics(), (std::vector<std::string>{"a", "b"}));
}

TEST(ToJson, WritesEveryFieldWithDefaultsAndCanonicalDurations) {
  FieldErrors errors;
  json doc = Minimal();
  doc["spec"]["retention"] = "720h";
  doc["spec"]["failover"] = {{"probeInterval", "1000ms"}};
  std::optional<UserSignal> s = Parse(doc, &errors);
  ASSERT_TRUE(s.has_value());
  const json expected = json::parse(R"({
    "apiVersion": "usp.dev/v1alpha1", "kind": "UserSignal",
    "metadata": {"name": "searches", "namespace": "default"},
    "spec": {
      "type": "simple",
      "eventSources": [{"kafkaTopic": "search-events"}],
      "joinWindow": "1d",
      "userIdField": "/user_id",
      "eventTimeField": "/event_time",
      "attributes": {},
      "onError": "deadLetter",
      "deadLetterTopic": "usp.dlq.searches",
      "retention": "30d",
      "outputTopic": "usp.signal.searches",
      "parallelism": 1,
      "standbyReplicas": 1,
      "failover": {"probeInterval": "1s", "failureThreshold": 2}
    }
  })");
  EXPECT_EQ(ToJson(*s), expected);
}

TEST(ToJson, RoundTripsThroughParseUserSignal) {
  json left_join = Minimal();
  left_join["spec"] = json::parse(R"({
    "type": "left_join",
    "leftEventSource": {"kafkaTopic": "bookings", "joinKeyField": "/listing_id"},
    "rightEventSource": {"kafkaTopic": "listings", "joinKeyField": "/id"}})");
  for (const json& doc : {Minimal(), Full(), left_join}) {
    FieldErrors errors;
    std::optional<UserSignal> first = Parse(doc, &errors);
    ASSERT_TRUE(first.has_value()) << errors[0].ToString();
    const json normalized = ToJson(*first);
    std::optional<UserSignal> second = Parse(normalized, &errors);
    ASSERT_TRUE(second.has_value()) << normalized.dump() << ": " << errors[0].ToString();
    EXPECT_EQ(ToJson(*second), normalized);
    EXPECT_EQ(*second, *first);
    EXPECT_EQ(second->SourceTopics(), first->SourceTopics());
    EXPECT_EQ(second->spec.output_topic, first->spec.output_topic);
    EXPECT_EQ(second->spec.failover.probe_interval_ms, first->spec.failover.probe_interval_ms);
  }
}

// Applies `mutate` to Minimal() and expects exactly `expected` (in order).
void ExpectErrors(const std::function<void(json&)>& mutate, const FieldErrors& expected) {
  json doc = Minimal();
  mutate(doc);
  FieldErrors errors;
  EXPECT_FALSE(ParseUserSignal(doc, &errors).has_value()) << doc.dump();
  EXPECT_EQ(errors, expected) << doc.dump();
}

TEST(ParseUserSignal, ReportsEachProblemWithItsFieldPath) {
  ExpectErrors([](json& d) { d["spec"]["eventSources"][0].erase("kafkaTopic"); },
               {{"spec.eventSources[0].kafkaTopic", "required"}});
  ExpectErrors([](json& d) { d["spec"]["onError"] = "ignore"; },
               {{"spec.onError", "must be one of fail, skip, deadLetter"}});
  ExpectErrors(
      [](json& d) {
        d["spec"]["failover"] = {{"probeInterval", "5x"}};
      },
      {{"spec.failover.probeInterval",
        "invalid duration \"5x\": unknown unit \"x\" (use ms, s, m, h or d)"}});
  ExpectErrors([](json& d) { d["metadata"].erase("name"); }, {{"metadata.name", "required"}});
  ExpectErrors(
      [](json& d) {
        d["spec"]["filter"] = json::parse(
            R"({"all": [{"field": "/a", "op": "eq", "value": 1}, {"field": "/b", "op": "is"}]})");
      },
      {{"spec.filter.all[1].op", "must be one of eq, ne, gt, gte, lt, lte, in, exists, prefix"}});
  ExpectErrors([](json& d) { d["spec"]["colour"] = "blue"; }, {{"spec.colour", "unknown field"}});
  ExpectErrors([](json& d) { d["spec"]["eventSources"][0]["topic"] = "x"; },
               {{"spec.eventSources[0].topic", "unknown field"}});
  ExpectErrors([](json& d) { d["spec"]["failover"]["probe"] = "1s"; },
               {{"spec.failover.probe", "unknown field"}});
  ExpectErrors([](json& d) { d["spec"]["outputTopic"] = 7; },
               {{"spec.outputTopic", "must be a string"}});
  ExpectErrors([](json& d) { d["spec"]["parallelism"] = 0; },
               {{"spec.parallelism", "must be >= 1"}});
  ExpectErrors([](json& d) { d["spec"]["parallelism"] = "2"; },
               {{"spec.parallelism", "must be an integer"}});
  ExpectErrors([](json& d) { d["spec"]["parallelism"] = 1.5; },
               {{"spec.parallelism", "must be an integer"}});
  ExpectErrors([](json& d) { d["spec"]["standbyReplicas"] = -1; },
               {{"spec.standbyReplicas", "must be >= 0"}});
  ExpectErrors(
      [](json& d) {
        d["spec"]["failover"] = {{"failureThreshold", 0}};
      },
      {{"spec.failover.failureThreshold", "must be >= 1"}});
  ExpectErrors([](json& d) { d["spec"]["failover"] = "fast"; },
               {{"spec.failover", "must be an object"}});
  ExpectErrors([](json& d) { d["spec"]["retention"] = 30; },
               {{"spec.retention", "must be a string"}});
  ExpectErrors([](json& d) { d["spec"]["retention"] = "0s"; },
               {{"spec.retention", "must be greater than 0"}});
  ExpectErrors(
      [](json& d) { d["spec"]["userIdField"] = "user_id"; },
      {{"spec.userIdField", "invalid JSON pointer \"user_id\": must be empty or start with '/'"}});
  ExpectErrors(
      [](json& d) {
        d["spec"]["attributes"] = {{"city", "/geo/~2"}};
      },
      {{"spec.attributes.city",
        "invalid JSON pointer \"/geo/~2\": '~' must be followed by '0' or '1'"}});
  ExpectErrors(
      [](json& d) {
        d["spec"]["attributes"] = {{"city", 1}};
      },
      {{"spec.attributes.city", "must be a string (a JSON pointer)"}});
  ExpectErrors([](json& d) { d["spec"]["attributes"] = json::array(); },
               {{"spec.attributes", "must be an object"}});
  ExpectErrors([](json& d) { d["spec"]["type"] = "join"; },
               {{"spec.type", "must be one of simple, left_join"}});
  ExpectErrors([](json& d) { d["spec"]["eventSources"] = json::array(); },
               {{"spec.eventSources", "must not be empty"}});
  ExpectErrors([](json& d) { d["spec"].erase("eventSources"); },
               {{"spec.eventSources", "required"}});
  ExpectErrors([](json& d) { d["spec"]["eventSources"] = "search-events"; },
               {{"spec.eventSources", "must be a list"}});
  ExpectErrors([](json& d) { d["spec"]["eventSources"][0] = "search-events"; },
               {{"spec.eventSources[0]", "must be an object"}});
  ExpectErrors([](json& d) { d["spec"]["eventSources"][0]["kafkaTopic"] = "bad topic!"; },
               {{"spec.eventSources[0].kafkaTopic",
                 "invalid Kafka topic name \"bad topic!\": use letters, digits, '.', '_' and "
                 "'-', at most 249 characters"}});
  ExpectErrors(
      [](json& d) {
        d["spec"]["leftEventSource"] = {{"kafkaTopic", "x"}};
      },
      {{"spec.leftEventSource.joinKeyField", "required"},
       {"spec.leftEventSource", "only allowed when type is left_join"}});
  ExpectErrors([](json& d) { d["spec"]["transform"] = ""; },
               {{"spec.transform", "must not be empty"}});
  ExpectErrors([](json& d) { d.erase("spec"); }, {{"spec", "required"}});
  ExpectErrors([](json& d) { d["extra"] = 1; }, {{"extra", "unknown field"}});
}

TEST(ParseUserSignal, ChecksApiVersionAndKind) {
  ExpectErrors([](json& d) { d["apiVersion"] = "usp.dev/v1"; },
               {{"apiVersion", "must be usp.dev/v1alpha1, got \"usp.dev/v1\""}});
  ExpectErrors([](json& d) { d.erase("apiVersion"); }, {{"apiVersion", "required"}});
  ExpectErrors([](json& d) { d["kind"] = "UserSegment"; },
               {{"kind", "must be UserSignal, got \"UserSegment\""}});
  FieldErrors errors;
  EXPECT_FALSE(ParseUserSignal(json::array(), &errors).has_value());
  EXPECT_EQ(errors, (FieldErrors{{"document", "must be an object"}}));
}

TEST(ParseUserSignal, ValidatesMetadataName) {
  for (const char* good : {"a", "searches", "search-v2", "team.searches", "0abc"}) {
    json doc = Minimal();
    doc["metadata"]["name"] = good;
    FieldErrors errors;
    EXPECT_TRUE(ParseUserSignal(doc, &errors).has_value()) << good;
  }
  for (const std::string& bad : {std::string(""), std::string("Searches"), std::string("-a"),
                                 std::string("a-"), std::string("a_b"), std::string("a..b"),
                                 std::string("a b"), std::string(".a"), std::string(254, 'a')}) {
    json doc = Minimal();
    doc["metadata"]["name"] = bad;
    FieldErrors errors;
    EXPECT_FALSE(ParseUserSignal(doc, &errors).has_value()) << bad;
    ASSERT_EQ(errors.size(), 1u) << bad;
    EXPECT_EQ(errors[0].path, "metadata.name");
  }
  json doc = Minimal();
  doc["metadata"]["name"] = std::string(239, 'a');  // valid DNS name, too long for a topic
  FieldErrors errors;
  EXPECT_FALSE(ParseUserSignal(doc, &errors).has_value());
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].path, "metadata.name");
}

TEST(ParseUserSignal, ReadsLookupsWithTheirDefaultInto) {
  json doc = Minimal();
  doc["spec"]["lookups"] = json::parse(R"([
    {"name": "listing", "kafkaTopic": "listings", "keyField": "/listing_id"},
    {"name": "host", "kafkaTopic": "hosts", "keyField": "/host/id", "into": "/host_row"},
    {"name": "listing-2", "kafkaTopic": "listings", "keyField": "/other_listing"}
  ])");
  FieldErrors errors;
  std::optional<UserSignal> s = ParseUserSignal(doc, &errors);
  ASSERT_TRUE(s.has_value()) << errors[0].ToString();
  ASSERT_EQ(s->spec.lookups.size(), 3u);
  EXPECT_EQ(s->spec.lookups[0].name, "listing");
  EXPECT_EQ(s->spec.lookups[0].kafka_topic, "listings");
  EXPECT_EQ(s->spec.lookups[0].key_field.text(), "/listing_id");
  EXPECT_EQ(s->spec.lookups[0].into.text(), "/lookups/listing");
  EXPECT_EQ(s->spec.lookups[1].into.text(), "/host_row");
  EXPECT_EQ(s->LookupTopics(), (std::vector<std::string>{"listings", "hosts"}));
  EXPECT_EQ(s->SourceTopics(), (std::vector<std::string>{"search-events"}));

  // Round trip through the normalized document.
  const json normalized = ToJson(*s);
  EXPECT_EQ(normalized["spec"]["lookups"][0]["into"], "/lookups/listing");
  std::optional<UserSignal> again = ParseUserSignal(normalized, &errors);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(*again, *s);
  // Without lookups the normalized document has no lookups field.
  std::optional<UserSignal> plain = ParseUserSignal(Minimal(), &errors);
  ASSERT_TRUE(plain.has_value());
  EXPECT_FALSE(ToJson(*plain)["spec"].contains("lookups"));
}

TEST(ParseUserSignal, ValidatesLookupsWithFieldPaths) {
  ExpectErrors([](json& d) { d["spec"]["lookups"] = json::object(); },
               {{"spec.lookups", "must be a list"}});
  ExpectErrors([](json& d) { d["spec"]["lookups"] = json::array({"x"}); },
               {{"spec.lookups[0]", "must be an object"}});
  ExpectErrors([](json& d) { d["spec"]["lookups"] = json::parse(R"([{}])"); },
               {{"spec.lookups[0].name", "required"},
                {"spec.lookups[0].kafkaTopic", "required"},
                {"spec.lookups[0].keyField", "required"}});
  ExpectErrors(
      [](json& d) {
        d["spec"]["lookups"] = json::parse(R"([
          {"name": "a", "kafkaTopic": "t", "keyField": "/k"},
          {"name": "a", "kafkaTopic": "u", "keyField": "/k"}])");
      },
      {{"spec.lookups[1].name", "duplicate lookup name \"a\""}});
  ExpectErrors(
      [](json& d) {
        d["spec"]["lookups"] =
            json::parse(R"([{"name": "a b", "kafkaTopic": "t/x", "keyField": "k", "into": ""}])");
      },
      {{"spec.lookups[0].name",
        "invalid lookup name \"a b\": use 1..63 letters, digits, '_' and '-'"},
       {"spec.lookups[0].kafkaTopic",
        "invalid Kafka topic name \"t/x\": use letters, digits, '.', '_' and '-', at most 249 "
        "characters"},
       {"spec.lookups[0].keyField",
        "invalid JSON pointer \"k\": must be empty or start with '/'"},
       {"spec.lookups[0].into", "must not be the whole event (\"\")"}});
  ExpectErrors(
      [](json& d) {
        d["spec"]["lookups"] = json::parse(R"([
          {"name": "a", "kafkaTopic": "t", "keyField": "/k", "into": "/x"},
          {"name": "b", "kafkaTopic": "t", "keyField": "/k", "into": "/x/y"}])");
      },
      {{"spec.lookups[1].into", "\"/x/y\" overlaps \"/x\" of lookup \"a\""}});
  ExpectErrors(
      [](json& d) {
        d["spec"]["lookups"] =
            json::parse(R"([{"name": "a", "kafkaTopic": "t", "keyField": "/k", "extra": 1}])");
      },
      {{"spec.lookups[0].extra", "unknown field"}});
  ExpectErrors(
      [](json& d) {
        d["spec"].erase("eventSources");
        d["spec"]["type"] = "left_join";
        d["spec"]["leftEventSource"] = {{"kafkaTopic", "a"}, {"joinKeyField", "/k"}};
        d["spec"]["rightEventSource"] = {{"kafkaTopic", "b"}, {"joinKeyField", "/k"}};
        d["spec"]["lookups"] = json::parse(R"([{"name": "a", "kafkaTopic": "t", "keyField": "/k"}])");
      },
      {{"spec.lookups", "only allowed when type is simple"}});
}

TEST(ParseUserSignal, RequiresBothSidesOfALeftJoin) {
  ExpectErrors(
      [](json& d) {
        d["spec"] = {{"type", "left_join"}};
      },
      {{"spec.leftEventSource", "required"}, {"spec.rightEventSource", "required"}});
  ExpectErrors(
      [](json& d) {
        d["spec"] = json::parse(R"({"type": "left_join",
            "leftEventSource": {"kafkaTopic": "a"}, "rightEventSource": {"joinKeyField": "/id"}})");
      },
      {{"spec.leftEventSource.joinKeyField", "required"},
       {"spec.rightEventSource.kafkaTopic", "required"}});
  ExpectErrors(
      [](json& d) {
        d["spec"]["type"] = "left_join";
        d["spec"]["leftEventSource"] = {{"kafkaTopic", "a"}, {"joinKeyField", "/k"}};
        d["spec"]["rightEventSource"] = {{"kafkaTopic", "b"}, {"joinKeyField", "/k"}};
      },
      {{"spec.eventSources",
        "only allowed when type is simple (left_join uses leftEventSource and rightEventSource)"}});
}

TEST(ParseUserSignal, CollectsAllErrorsNotJustTheFirst) {
  json doc = Minimal();
  doc["metadata"]["name"] = "Bad_Name";
  doc["spec"]["onError"] = "explode";
  doc["spec"]["parallelism"] = 0;
  doc["spec"]["eventSources"].push_back(json::object());
  doc["spec"]["unknown"] = true;
  FieldErrors errors;
  EXPECT_FALSE(ParseUserSignal(doc, &errors).has_value());
  std::vector<std::string> paths;
  for (const FieldError& e : errors) paths.push_back(e.path);
  EXPECT_EQ(paths, (std::vector<std::string>{"metadata.name", "spec.eventSources[1].kafkaTopic",
                                             "spec.onError", "spec.parallelism", "spec.unknown"}));
}

TEST(ParseUserSignal, TreatsNullFieldsAsUnset) {
  json doc = Minimal();
  doc["spec"]["eventIdField"] = nullptr;
  doc["spec"]["filter"] = nullptr;
  FieldErrors errors;
  std::optional<UserSignal> s = ParseUserSignal(doc, &errors);
  ASSERT_TRUE(s.has_value());
  EXPECT_FALSE(s->spec.event_id_field.has_value());
  EXPECT_EQ(s->spec.filter, nullptr);
}

TEST(UserSignal, EqualityComparesContentIncludingFilters) {
  FieldErrors errors;
  json doc = Minimal();
  doc["spec"]["filter"] = {{"field", "/a"}, {"op", "eq"}, {"value", 1}};
  std::optional<UserSignal> a = ParseUserSignal(doc, &errors);
  std::optional<UserSignal> b = ParseUserSignal(doc, &errors);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(*a, *b);  // distinct Predicate objects, same content
  doc["spec"]["filter"]["value"] = 2;
  std::optional<UserSignal> c = ParseUserSignal(doc, &errors);
  ASSERT_TRUE(c);
  EXPECT_FALSE(*a == *c);
}

TEST(EnumNames, MatchTheResourceSpelling) {
  EXPECT_STREQ(ToString(SignalType::kSimple), "simple");
  EXPECT_STREQ(ToString(SignalType::kLeftJoin), "left_join");
  EXPECT_STREQ(ToString(OnError::kFail), "fail");
  EXPECT_STREQ(ToString(OnError::kSkip), "skip");
  EXPECT_STREQ(ToString(OnError::kDeadLetter), "deadLetter");
}

}  // namespace
}  // namespace usp
