#include "core/session/session_job.h"

#include <gtest/gtest.h>

#include <functional>

namespace usp {
namespace {

using nlohmann::json;

json Minimal() {
  return json::parse(R"({
    "apiVersion": "usp.dev/v1alpha1", "kind": "SessionJob",
    "metadata": {"name": "engagement"},
    "spec": {
      "signals": ["searches"],
      "window": {"type": "sliding", "size": "10m", "slide": "5m"},
      "aggregations": [{"name": "events", "fn": "count"}]
    }
  })");
}

// The example from issue 5: a 10-minute/5-minute sliding session job.
json IssueExample() {
  return json::parse(R"({
    "apiVersion": "usp.dev/v1alpha1", "kind": "SessionJob",
    "metadata": {"name": "recent-engagement", "namespace": "team-a", "generation": 2,
                 "labels": {"team": "growth"}, "uid": "ignored"},
    "spec": {
      "signals": ["searches", "home-views"],
      "window": {"type": "sliding", "size": "10m", "slide": "5m"},
      "aggregations": [
        {"name": "events", "fn": "count"},
        {"name": "cities", "fn": "distinct_count", "field": "/attributes/city"},
        {"name": "top_cities", "fn": "top_k", "field": "/attributes/city", "k": 3},
        {"name": "avg_price", "fn": "avg", "field": "/attributes/price"},
        {"name": "max_price", "fn": "max", "field": "/attributes/price"},
        {"name": "recent", "fn": "last_n", "field": "/attributes/listing_id", "n": 5}
      ],
      "allowedLateness": "2m",
      "asyncCompute": {"url": "http://ranker.ml:8080/score", "timeout": "500ms",
                       "maxInFlight": 8, "retries": 1},
      "outputTopic": "sessions.recent",
      "parallelism": 2,
      "standbyReplicas": 2,
      "failover": {"probeInterval": "1s", "failureThreshold": 3}
    },
    "status": {"observedGeneration": 1}
  })");
}

std::vector<std::string> ErrorsOf(const json& doc) {
  FieldErrors errors;
  std::optional<SessionJob> job = ParseSessionJob(doc, &errors);
  EXPECT_FALSE(job.has_value());
  std::vector<std::string> out;
  for (const FieldError& e : errors) out.push_back(e.ToString());
  return out;
}

json With(json doc, const std::function<void(json&)>& edit) {
  edit(doc);
  return doc;
}

TEST(ParseSessionJob, AppliesDefaultsToAMinimalJob) {
  FieldErrors errors;
  std::optional<SessionJob> job = ParseSessionJob(Minimal(), &errors);
  ASSERT_TRUE(job.has_value()) << errors[0].ToString();
  EXPECT_EQ(job->metadata.name, "engagement");
  EXPECT_EQ(job->metadata.namespace_, "default");
  const SessionJobSpec& spec = job->spec;
  EXPECT_EQ(spec.signals, std::vector<std::string>{"searches"});
  EXPECT_EQ(spec.window.type, WindowType::kSliding);
  EXPECT_EQ(spec.window.size_ms, 10 * 60 * 1000);
  EXPECT_EQ(spec.window.slide_ms, 5 * 60 * 1000);
  ASSERT_EQ(spec.aggregations.size(), 1u);
  EXPECT_EQ(spec.aggregations[0].name, "events");
  EXPECT_EQ(spec.aggregations[0].fn, AggregationFn::kCount);
  EXPECT_FALSE(spec.aggregations[0].field.has_value());
  EXPECT_EQ(spec.allowed_lateness_ms, 60 * 1000);
  EXPECT_FALSE(spec.async_compute.has_value());
  EXPECT_EQ(spec.output_topic, "usp.session.engagement");
  EXPECT_EQ(spec.parallelism, 1);
  EXPECT_EQ(spec.standby_replicas, 1);
  EXPECT_EQ(spec.failover.probe_interval_ms, 500);
  EXPECT_EQ(spec.failover.failure_threshold, 2);
}

TEST(ParseSessionJob, ReadsTheIssueExample) {
  FieldErrors errors;
  std::optional<SessionJob> job = ParseSessionJob(IssueExample(), &errors);
  ASSERT_TRUE(job.has_value()) << errors[0].ToString();
  const SessionJobSpec& spec = job->spec;
  EXPECT_EQ(job->metadata.namespace_, "team-a");
  EXPECT_EQ(job->metadata.generation, 2);
  EXPECT_EQ(spec.signals, (std::vector<std::string>{"searches", "home-views"}));
  ASSERT_EQ(spec.aggregations.size(), 6u);
  EXPECT_EQ(spec.aggregations[1].fn, AggregationFn::kDistinctCount);
  EXPECT_EQ(spec.aggregations[1].field->text(), "/attributes/city");
  EXPECT_EQ(spec.aggregations[2].fn, AggregationFn::kTopK);
  EXPECT_EQ(spec.aggregations[2].k, 3);
  EXPECT_EQ(spec.aggregations[5].fn, AggregationFn::kLastN);
  EXPECT_EQ(spec.aggregations[5].n, 5);
  EXPECT_EQ(spec.allowed_lateness_ms, 2 * 60 * 1000);
  ASSERT_TRUE(spec.async_compute.has_value());
  EXPECT_EQ(spec.async_compute->url, "http://ranker.ml:8080/score");
  EXPECT_EQ(spec.async_compute->timeout_ms, 500);
  EXPECT_EQ(spec.async_compute->max_in_flight, 8);
  EXPECT_EQ(spec.async_compute->retries, 1);
  EXPECT_EQ(spec.output_topic, "sessions.recent");
  EXPECT_EQ(spec.parallelism, 2);
  EXPECT_EQ(spec.standby_replicas, 2);
  EXPECT_EQ(spec.failover.probe_interval_ms, 1000);
  EXPECT_EQ(spec.failover.failure_threshold, 3);
}

TEST(ParseSessionJob, ReadsASessionWindow) {
  json doc = With(Minimal(), [](json& d) {
    d["spec"]["window"] = {{"type", "session"}, {"gap", "30m"}};
  });
  FieldErrors errors;
  std::optional<SessionJob> job = ParseSessionJob(doc, &errors);
  ASSERT_TRUE(job.has_value()) << errors[0].ToString();
  EXPECT_EQ(job->spec.window.type, WindowType::kSession);
  EXPECT_EQ(job->spec.window.gap_ms, 30 * 60 * 1000);
}

TEST(ParseSessionJob, AsyncComputeDefaults) {
  json doc = With(Minimal(), [](json& d) {
    d["spec"]["asyncCompute"] = {{"url", "https://model.internal/predict"}};
  });
  FieldErrors errors;
  std::optional<SessionJob> job = ParseSessionJob(doc, &errors);
  ASSERT_TRUE(job.has_value()) << errors[0].ToString();
  ASSERT_TRUE(job->spec.async_compute.has_value());
  EXPECT_EQ(job->spec.async_compute->timeout_ms, 5000);
  EXPECT_EQ(job->spec.async_compute->max_in_flight, 32);
  EXPECT_EQ(job->spec.async_compute->retries, 2);
}

TEST(ParseSessionJob, AllowsZeroLateness) {
  json doc = With(Minimal(), [](json& d) { d["spec"]["allowedLateness"] = "0s"; });
  FieldErrors errors;
  std::optional<SessionJob> job = ParseSessionJob(doc, &errors);
  ASSERT_TRUE(job.has_value()) << errors[0].ToString();
  EXPECT_EQ(job->spec.allowed_lateness_ms, 0);
}

TEST(ParseSessionJob, LastNAndCountTakeAnOptionalField) {
  json doc = With(Minimal(), [](json& d) {
    d["spec"]["aggregations"] = json::parse(R"([
      {"name": "events", "fn": "count"},
      {"name": "with_city", "fn": "count", "field": "/attributes/city"},
      {"name": "last", "fn": "last_n", "n": 2}
    ])");
  });
  FieldErrors errors;
  std::optional<SessionJob> job = ParseSessionJob(doc, &errors);
  ASSERT_TRUE(job.has_value()) << errors[0].ToString();
  EXPECT_TRUE(job->spec.aggregations[1].field.has_value());
  EXPECT_FALSE(job->spec.aggregations[2].field.has_value());
}

struct ErrorCase {
  const char* what;
  std::function<void(json&)> edit;
  std::vector<std::string> errors;
};

class SessionJobErrors : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(SessionJobErrors, ReportsTheFieldPath) {
  EXPECT_EQ(ErrorsOf(With(Minimal(), GetParam().edit)), GetParam().errors) << GetParam().what;
}

json& Spec(json& d) { return d["spec"]; }
json& Agg(json& d, size_t i) { return d["spec"]["aggregations"][i]; }

INSTANTIATE_TEST_SUITE_P(
    Table, SessionJobErrors,
    ::testing::Values(
        ErrorCase{"kind", [](json& d) { d["kind"] = "UserSignal"; },
                  {"kind: must be SessionJob, got \"UserSignal\""}},
        ErrorCase{"no spec", [](json& d) { d.erase("spec"); }, {"spec: required"}},
        ErrorCase{"bad name", [](json& d) { d["metadata"]["name"] = "Bad_Name"; },
                  {"metadata.name: invalid name \"Bad_Name\": must consist of lowercase letters, "
                   "digits, '-' and '.', and start and end with a letter or digit"}},
        ErrorCase{"name too long for usp.session.<name>",
                  [](json& d) { d["metadata"]["name"] = std::string(238, 'a'); },
                  {"metadata.name: must be at most 237 characters (it becomes part of Kafka "
                   "topic names)"}},
        ErrorCase{"signals missing", [](json& d) { Spec(d).erase("signals"); },
                  {"spec.signals: required"}},
        ErrorCase{"signals empty", [](json& d) { Spec(d)["signals"] = json::array(); },
                  {"spec.signals: must not be empty"}},
        ErrorCase{"signal duplicate",
                  [](json& d) { Spec(d)["signals"] = {"a", "b", "a"}; },
                  {"spec.signals[2]: duplicate signal \"a\" (also spec.signals[0])"}},
        ErrorCase{"signal not a name", [](json& d) { Spec(d)["signals"] = {"a", 3}; },
                  {"spec.signals[1]: must be a string"}},
        ErrorCase{"window missing", [](json& d) { Spec(d).erase("window"); },
                  {"spec.window: required"}},
        ErrorCase{"window type", [](json& d) { Spec(d)["window"]["type"] = "tumbling"; },
                  {"spec.window.type: must be one of sliding, session"}},
        ErrorCase{"sliding needs slide", [](json& d) { Spec(d)["window"].erase("slide"); },
                  {"spec.window.slide: required for sliding windows"}},
        ErrorCase{"slide must divide size", [](json& d) { Spec(d)["window"]["slide"] = "3m"; },
                  {"spec.window.slide: must divide size (10m)"}},
        ErrorCase{"slide larger than size",
                  [](json& d) { Spec(d)["window"]["slide"] = "20m"; },
                  {"spec.window.slide: must divide size (10m)"}},
        ErrorCase{"too many windows per event",
                  [](json& d) {
                    Spec(d)["window"]["size"] = "1d";
                    Spec(d)["window"]["slide"] = "1s";
                  },
                  {"spec.window.slide: must be at least size/10000 (each event is in size/slide "
                   "windows)"}},
        ErrorCase{"gap on a sliding window", [](json& d) { Spec(d)["window"]["gap"] = "5m"; },
                  {"spec.window.gap: only allowed for session windows"}},
        ErrorCase{"session needs gap",
                  [](json& d) { Spec(d)["window"] = {{"type", "session"}}; },
                  {"spec.window.gap: required for session windows"}},
        ErrorCase{"size on a session window",
                  [](json& d) {
                    Spec(d)["window"] = {{"type", "session"}, {"gap", "5m"}, {"size", "10m"}};
                  },
                  {"spec.window.size: only allowed for sliding windows"}},
        ErrorCase{"zero size", [](json& d) { Spec(d)["window"]["size"] = "0s"; },
                  {"spec.window.size: must be greater than 0"}},
        ErrorCase{"bad duration", [](json& d) { Spec(d)["window"]["size"] = "10 minutes"; },
                  {"spec.window.size: invalid duration \"10 minutes\": unknown unit \" minutes\" "
                   "(use ms, s, m, h or d)"}},
        ErrorCase{"window field unknown", [](json& d) { Spec(d)["window"]["step"] = "1m"; },
                  {"spec.window.step: unknown field"}},
        ErrorCase{"aggregations empty",
                  [](json& d) { Spec(d)["aggregations"] = json::array(); },
                  {"spec.aggregations: must not be empty"}},
        ErrorCase{"fn unknown", [](json& d) { Agg(d, 0)["fn"] = "median"; },
                  {"spec.aggregations[0].fn: must be one of count, sum, avg, min, max, "
                   "distinct_count, top_k, last_n"}},
        ErrorCase{"k required for top_k",
                  [](json& d) {
                    Spec(d)["aggregations"].push_back({{"name", "b"}, {"fn", "count"}});
                    Spec(d)["aggregations"].push_back(
                        {{"name", "c"}, {"fn", "top_k"}, {"field", "/attributes/city"}});
                  },
                  {"spec.aggregations[2].k: required for top_k"}},
        ErrorCase{"n required for last_n",
                  [](json& d) { Agg(d, 0) = {{"name", "a"}, {"fn", "last_n"}}; },
                  {"spec.aggregations[0].n: required for last_n"}},
        ErrorCase{"field required for sum",
                  [](json& d) { Agg(d, 0) = {{"name", "a"}, {"fn", "sum"}}; },
                  {"spec.aggregations[0].field: required for sum"}},
        ErrorCase{"field required for distinct_count",
                  [](json& d) { Agg(d, 0) = {{"name", "a"}, {"fn", "distinct_count"}}; },
                  {"spec.aggregations[0].field: required for distinct_count"}},
        ErrorCase{"k only with top_k", [](json& d) { Agg(d, 0)["k"] = 3; },
                  {"spec.aggregations[0].k: only allowed with fn top_k"}},
        ErrorCase{"n only with last_n", [](json& d) { Agg(d, 0)["n"] = 3; },
                  {"spec.aggregations[0].n: only allowed with fn last_n"}},
        ErrorCase{"k bounds",
                  [](json& d) {
                    Agg(d, 0) = {{"name", "a"}, {"fn", "top_k"}, {"field", "/x"}, {"k", 0}};
                  },
                  {"spec.aggregations[0].k: must be >= 1"}},
        ErrorCase{"n bounds",
                  [](json& d) { Agg(d, 0) = {{"name", "a"}, {"fn", "last_n"}, {"n", 10001}}; },
                  {"spec.aggregations[0].n: must be at most 10000"}},
        ErrorCase{"bad pointer", [](json& d) { Agg(d, 0)["field"] = "attributes/city"; },
                  {"spec.aggregations[0].field: invalid JSON pointer \"attributes/city\": must "
                   "be empty or start with '/'"}},
        ErrorCase{"duplicate aggregation name",
                  [](json& d) { Spec(d)["aggregations"].push_back(Agg(d, 0)); },
                  {"spec.aggregations[1].name: duplicate name \"events\" (also "
                   "spec.aggregations[0])"}},
        ErrorCase{"aggregation name pattern", [](json& d) { Agg(d, 0)["name"] = "1st"; },
                  {"spec.aggregations[0].name: invalid name \"1st\": use letters, digits and "
                   "'_', not starting with a digit"}},
        ErrorCase{"aggregation unknown field", [](json& d) { Agg(d, 0)["window"] = "1m"; },
                  {"spec.aggregations[0].window: unknown field"}},
        ErrorCase{"aggregation not an object",
                  [](json& d) { Spec(d)["aggregations"].push_back("count"); },
                  {"spec.aggregations[1]: must be an object"}},
        ErrorCase{"lateness", [](json& d) { Spec(d)["allowedLateness"] = "soon"; },
                  {"spec.allowedLateness: invalid duration \"soon\": expected a number at "
                   "\"soon\" (forms: 500ms, 10s, 5m, 2h, 14d, 1h30m)"}},
        ErrorCase{"lateness bound", [](json& d) { Spec(d)["allowedLateness"] = "3651d"; },
                  {"spec.allowedLateness: must be at most 3650d"}},
        ErrorCase{"async url required",
                  [](json& d) { Spec(d)["asyncCompute"] = {{"timeout", "1s"}}; },
                  {"spec.asyncCompute.url: required"}},
        ErrorCase{"async url scheme",
                  [](json& d) { Spec(d)["asyncCompute"] = {{"url", "ftp://x"}}; },
                  {"spec.asyncCompute.url: must be an http:// or https:// URL without spaces, "
                   "got \"ftp://x\""}},
        ErrorCase{"async limits",
                  [](json& d) {
                    Spec(d)["asyncCompute"] = {{"url", "http://x"},
                                               {"timeout", "0s"},
                                               {"maxInFlight", 0},
                                               {"retries", 101},
                                               {"retry", 1}};
                  },
                  {"spec.asyncCompute.timeout: must be greater than 0",
                   "spec.asyncCompute.maxInFlight: must be >= 1",
                   "spec.asyncCompute.retries: must be at most 100",
                   "spec.asyncCompute.retry: unknown field"}},
        ErrorCase{"output topic", [](json& d) { Spec(d)["outputTopic"] = "a topic"; },
                  {"spec.outputTopic: invalid Kafka topic name \"a topic\": use letters, digits, "
                   "'.', '_' and '-', at most 249 characters"}},
        ErrorCase{"scaling",
                  [](json& d) {
                    Spec(d)["parallelism"] = 0;
                    Spec(d)["standbyReplicas"] = -1;
                    Spec(d)["failover"] = {{"failureThreshold", 0}};
                  },
                  {"spec.parallelism: must be >= 1", "spec.standbyReplicas: must be >= 0",
                   "spec.failover.failureThreshold: must be >= 1"}},
        ErrorCase{"unknown spec field", [](json& d) { Spec(d)["eventSources"] = json::array(); },
                  {"spec.eventSources: unknown field"}}));

TEST(ParseSessionJob, ReportsEveryProblemAtOnce) {
  json doc = With(Minimal(), [](json& d) {
    d["spec"]["signals"] = json::array();
    d["spec"]["window"]["slide"] = "3m";
    d["spec"]["aggregations"][0] = {{"name", "x"}, {"fn", "top_k"}};
  });
  EXPECT_EQ(ErrorsOf(doc), (std::vector<std::string>{
                               "spec.signals: must not be empty",
                               "spec.window.slide: must divide size (10m)",
                               "spec.aggregations[0].field: required for top_k",
                               "spec.aggregations[0].k: required for top_k",
                           }));
}

TEST(ParseSessionJob, RejectsANonObjectDocument) {
  EXPECT_EQ(ErrorsOf(json::array()), std::vector<std::string>{"document: must be an object"});
}

TEST(SessionJobToJson, WritesTheNormalizedDocument) {
  FieldErrors errors;
  std::optional<SessionJob> job = ParseSessionJob(Minimal(), &errors);
  ASSERT_TRUE(job.has_value());
  EXPECT_EQ(ToJson(*job), json::parse(R"({
    "apiVersion": "usp.dev/v1alpha1", "kind": "SessionJob",
    "metadata": {"name": "engagement", "namespace": "default"},
    "spec": {
      "signals": ["searches"],
      "window": {"type": "sliding", "size": "10m", "slide": "5m"},
      "aggregations": [{"name": "events", "fn": "count"}],
      "allowedLateness": "1m",
      "outputTopic": "usp.session.engagement",
      "parallelism": 1,
      "standbyReplicas": 1,
      "failover": {"probeInterval": "500ms", "failureThreshold": 2}
    }
  })"));
}

TEST(SessionJobToJson, RoundTrips) {
  for (const json& doc : {Minimal(), IssueExample(), With(Minimal(), [](json& d) {
                            d["spec"]["window"] = {{"type", "session"}, {"gap", "90s"}};
                            d["spec"]["allowedLateness"] = "0ms";
                            d["spec"]["asyncCompute"] = {{"url", "http://m"}};
                          })}) {
    FieldErrors errors;
    std::optional<SessionJob> job = ParseSessionJob(doc, &errors);
    ASSERT_TRUE(job.has_value()) << errors[0].ToString();
    const json normalized = ToJson(*job);
    std::optional<SessionJob> again = ParseSessionJob(normalized, &errors);
    ASSERT_TRUE(again.has_value()) << errors[0].ToString();
    EXPECT_TRUE(*again == *job);
    EXPECT_EQ(ToJson(*again), normalized);
  }
}

TEST(SessionJobToJson, CanonicalizesDurations) {
  json doc = With(Minimal(), [](json& d) {
    d["spec"]["window"] = {{"type", "sliding"}, {"size", "600s"}, {"slide", "300000ms"}};
    d["spec"]["allowedLateness"] = "60s";
  });
  FieldErrors errors;
  std::optional<SessionJob> job = ParseSessionJob(doc, &errors);
  ASSERT_TRUE(job.has_value()) << errors[0].ToString();
  const json out = ToJson(*job);
  EXPECT_EQ(out["spec"]["window"]["size"], "10m");
  EXPECT_EQ(out["spec"]["window"]["slide"], "5m");
  EXPECT_EQ(out["spec"]["allowedLateness"], "1m");
}

}  // namespace
}  // namespace usp
