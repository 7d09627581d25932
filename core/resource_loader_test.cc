#include "core/resource_loader.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <random>

namespace usp {
namespace {

using nlohmann::json;

const char* kSignalYaml = R"(apiVersion: usp.dev/v1alpha1
kind: UserSignal
metadata:
  name: searches
spec:
  eventSources:
    - kafkaTopic: search-events
      filter: {field: /kind, op: eq, value: search}
  attributes:
    city: /geo/city
  retention: 14d
  parallelism: 2
)";

json Scalar(const std::string& yaml_value) {
  Result<std::vector<json>> docs = YamlDocumentsToJson("v: " + yaml_value + "\n");
  EXPECT_TRUE(docs.ok()) << yaml_value << ": " << docs.status().ToString();
  if (!docs.ok()) return "<error>";
  return (*docs)[0]["v"];
}

TEST(YamlDocumentsToJson, ResolvesPlainScalarsWithTheCoreSchema) {
  const struct {
    const char* yaml;
    json expected;
  } cases[] = {
      {"42", 42},
      {"-7", -7},
      {"+7", 7},
      {"0", 0},
      {"0o17", 15},
      {"0x1F", 31},
      {"18446744073709551615", 18446744073709551615ULL},
      {"1.5", 1.5},
      {"-2.5e3", -2500.0},
      {".5", 0.5},
      {"1e3", 1000.0},
      {"true", true},
      {"True", true},
      {"FALSE", false},
      {"null", nullptr},
      {"~", nullptr},
      {"", nullptr},
      {"hello", "hello"},
      {"yes", "yes"},  // YAML 1.1 booleans are strings in 1.2
      {"on", "on"},
      {"500ms", "500ms"},
      {"1_000", "1_000"},
      {"0x", "0x"},
      {"1.2.3", "1.2.3"},
      {"/user_id", "/user_id"},
      {"2026-11-22", "2026-11-22"},  // no timestamp type in the core schema
  };
  for (const auto& c : cases) EXPECT_EQ(Scalar(c.yaml), c.expected) << c.yaml;
  EXPECT_TRUE(std::isinf(Scalar(".inf").get<double>()));
  EXPECT_TRUE(std::isnan(Scalar(".nan").get<double>()));
}

TEST(YamlDocumentsToJson, KeepsQuotedAndBlockScalarsAsStrings) {
  const struct {
    const char* yaml;
    json expected;
  } cases[] = {
      {"\"42\"", "42"}, {"'true'", "true"},    {"\"null\"", "null"},
      {"''", ""},       {"'1.5'", "1.5"},      {"!!str 42", "42"},
      {"!!int 42", 42}, {"|\n  12\n", "12\n"}, {">-\n  true\n", "true"},
  };
  for (const auto& c : cases) EXPECT_EQ(Scalar(c.yaml), c.expected) << c.yaml;
}

TEST(YamlDocumentsToJson, ConvertsNestedMapsAndSequences) {
  Result<std::vector<json>> docs = YamlDocumentsToJson("a:\n  b: [1, x, {c: null}]\n  d: {}\n");
  ASSERT_TRUE(docs.ok());
  EXPECT_EQ((*docs)[0], json::parse(R"({"a": {"b": [1, "x", {"c": null}], "d": {}}})"));
}

TEST(YamlDocumentsToJson, SplitsMultipleDocuments) {
  Result<std::vector<json>> docs = YamlDocumentsToJson("a: 1\n---\nb: 2\n---\n---\nc: 3\n");
  ASSERT_TRUE(docs.ok());
  ASSERT_EQ(docs->size(), 4u);
  EXPECT_EQ((*docs)[0], json({{"a", 1}}));
  EXPECT_EQ((*docs)[1], json({{"b", 2}}));
  EXPECT_TRUE((*docs)[2].is_null());
  EXPECT_EQ((*docs)[3], json({{"c", 3}}));
}

TEST(YamlDocumentsToJson, ReportsSyntaxErrorsWithLineAndColumn) {
  Result<std::vector<json>> docs = YamlDocumentsToJson("a: 1\nb: [1, 2\nc: 3\n");
  ASSERT_FALSE(docs.ok());
  EXPECT_NE(docs.status().message().find("line "), std::string::npos) << docs.status().message();
  EXPECT_NE(docs.status().message().find(", column "), std::string::npos);

  docs = YamlDocumentsToJson("a: 1\n  b: 2\n");
  ASSERT_FALSE(docs.ok());
  EXPECT_NE(docs.status().message().find("line 2"), std::string::npos) << docs.status().message();
}

// yaml-cpp 0.7 never returns on these (found by fuzz/fuzz_resource_parser;
// reproducer fuzz/corpus/fuzz_resource_parser/leading_flow_entry.yaml).
TEST(YamlDocumentsToJson, RejectsADocumentStartingWithAFlowEntry) {
  for (std::string_view yaml : {",", ", a 1[:2", "  ,", "# c\n,", "a: 1\n---\n,", "--- ,",
                                "a: 1\n...\n,", "%YAML 1.2\n---\n,"}) {
    Result<std::vector<json>> docs = YamlDocumentsToJson(yaml);
    ASSERT_FALSE(docs.ok()) << yaml;
    EXPECT_NE(docs.status().message().find("cannot start with ','"), std::string::npos)
        << docs.status().message();
  }
  Result<std::vector<json>> docs = YamlDocumentsToJson("--- # c\n  ,");
  ASSERT_FALSE(docs.ok());
  EXPECT_NE(docs.status().message().find("line 2, column 3"), std::string::npos)
      << docs.status().message();
  // A ',' anywhere else is yaml-cpp's to judge.
  docs = YamlDocumentsToJson("a: [1, 2]\nb: x,y\n");
  ASSERT_TRUE(docs.ok()) << docs.status().ToString();
  EXPECT_EQ(docs.value()[0]["b"], "x,y");
}

// Found by fuzz/fuzz_resource_parser: the error message's dump() threw.
TEST(LoadResources, ReportsABadApiVersionOrKindThatIsNotUtf8) {
  Result<std::vector<LoadedResource>> loaded =
      LoadResources("apiVersion: usp.d\x9bv/v1\nkind: U\xff\nmetadata:\n  name: x\n", "t.yaml");
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  ASSERT_EQ(loaded.value().size(), 1u);
  const FieldErrors& errors = loaded.value()[0].errors;
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0].ToString(), "apiVersion: must be usp.dev/v1alpha1, got \"usp.d\xEF\xBF\xBDv/v1\"");
  EXPECT_EQ(errors[1].ToString(),
            "kind: must be one of UserSignal, UserSegment, SessionJob, got \"U\xEF\xBF\xBD\"");
}

TEST(YamlDocumentsToJson, RejectsDuplicateKeys) {
  Result<std::vector<json>> docs = YamlDocumentsToJson("a: 1\nb: 2\na: 3\n");
  ASSERT_FALSE(docs.ok());
  EXPECT_NE(docs.status().message().find("line 3, column 1: duplicate key \"a\""),
            std::string::npos)
      << docs.status().message();
}

TEST(LoadResources, ParsesAValidUserSignal) {
  Result<std::vector<LoadedResource>> loaded = LoadResources(kSignalYaml, "searches.yaml");
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  ASSERT_EQ(loaded->size(), 1u);
  const LoadedResource& r = (*loaded)[0];
  EXPECT_TRUE(r.valid()) << r.errors[0].ToString();
  EXPECT_EQ(r.source, "searches.yaml#0");
  EXPECT_EQ(r.kind, "UserSignal");
  EXPECT_EQ(r.name, "searches");
  ASSERT_TRUE(r.user_signal.has_value());
  EXPECT_EQ(r.user_signal->spec.parallelism, 2);
  EXPECT_EQ(r.user_signal->spec.retention_ms, 14LL * 24 * 3600 * 1000);
  EXPECT_EQ(r.user_signal->spec.attributes.at("city").text(), "/geo/city");
  EXPECT_EQ(r.document["spec"]["parallelism"], 2);
}

TEST(LoadResources, ReportsEachDocumentSeparately) {
  const std::string yaml = std::string(kSignalYaml) + R"(---
# an empty document is skipped
---
apiVersion: usp.dev/v1alpha1
kind: UserSignal
metadata: {name: broken}
spec:
  eventSources: [{}]
  onError: explode
---
apiVersion: usp.dev/v1alpha1
kind: UserSegment
metadata: {name: planners}
spec: {}
---
apiVersion: usp.dev/v1alpha1
kind: SessionJob
metadata: {name: sessions}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cm}
---
apiVersion: usp.dev/v1beta9
kind: UserSignal
metadata: {name: old}
spec: {eventSources: [{kafkaTopic: t}]}
)";
  Result<std::vector<LoadedResource>> loaded = LoadResources(yaml, "all.yaml");
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  ASSERT_EQ(loaded->size(), 6u);
  const std::vector<LoadedResource>& r = *loaded;
  EXPECT_TRUE(r[0].valid());
  EXPECT_EQ(r[1].source, "all.yaml#2");
  EXPECT_EQ(r[1].name, "broken");
  EXPECT_FALSE(r[1].user_signal.has_value());
  EXPECT_EQ(r[1].errors, (FieldErrors{{"spec.eventSources[0].kafkaTopic", "required"},
                                      {"spec.onError", "must be one of fail, skip, deadLetter"}}));
  EXPECT_FALSE(r[2].user_segment.has_value());
  EXPECT_EQ(r[2].name, "planners");
  ASSERT_FALSE(r[2].errors.empty());
  EXPECT_EQ(r[2].errors[0].path.rfind("spec.", 0), 0u) << r[2].errors[0].path;
  EXPECT_FALSE(r[3].session_job.has_value());
  ASSERT_FALSE(r[3].errors.empty());
  EXPECT_EQ(r[3].errors[0].path.rfind("spec", 0), 0u) << r[3].errors[0].path;
  ASSERT_EQ(r[4].errors.size(), 2u);
  EXPECT_EQ(r[4].errors[0].path, "apiVersion");
  EXPECT_EQ(r[4].errors[1].path, "kind");
  EXPECT_EQ(r[5].errors,
            (FieldErrors{{"apiVersion", "must be usp.dev/v1alpha1, got \"usp.dev/v1beta9\""}}));
}

TEST(LoadResources, ParsesSegmentsAndSessionJobs) {
  const std::string yaml = R"(apiVersion: usp.dev/v1alpha1
kind: UserSegment
metadata: {name: active-trip-planner}
spec:
  enter: {signals: [searches]}
  exit: {signals: [bookings]}
  expireAfter: 14d
---
apiVersion: usp.dev/v1alpha1
kind: SessionJob
metadata: {name: engagement}
spec:
  signals: [searches]
  window: {type: sliding, size: 10m, slide: 5m}
  aggregations: [{name: events, fn: count}]
)";
  Result<std::vector<LoadedResource>> loaded = LoadResources(yaml, "jobs.yaml");
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  ASSERT_EQ(loaded->size(), 2u);
  const LoadedResource& segment = (*loaded)[0];
  EXPECT_TRUE(segment.valid()) << segment.errors.size();
  ASSERT_TRUE(segment.user_segment.has_value());
  EXPECT_EQ(segment.kind, "UserSegment");
  EXPECT_EQ(segment.user_segment->metadata.name, "active-trip-planner");
  const LoadedResource& session = (*loaded)[1];
  EXPECT_TRUE(session.valid());
  ASSERT_TRUE(session.session_job.has_value());
  EXPECT_EQ(session.session_job->metadata.name, "engagement");
  EXPECT_FALSE(session.user_signal.has_value());
}

TEST(LoadResources, TreatsQuotedNumbersAsStringsInValidation) {
  const std::string yaml = R"(apiVersion: usp.dev/v1alpha1
kind: UserSignal
metadata: {name: s}
spec:
  eventSources: [{kafkaTopic: t}]
  parallelism: "2"
  retention: 30
)";
  Result<std::vector<LoadedResource>> loaded = LoadResources(yaml, "s.yaml");
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ((*loaded)[0].errors, (FieldErrors{{"spec.retention", "must be a string"},
                                              {"spec.parallelism", "must be an integer"}}));
}

TEST(LoadResources, FailsWholeCallOnSyntaxErrors) {
  Result<std::vector<LoadedResource>> loaded = LoadResources("kind: [\n", "bad.yaml");
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().message().rfind("bad.yaml: invalid YAML: line ", 0), 0u)
      << loaded.status().message();
}

TEST(LoadResources, RejectsNonMappingDocuments) {
  Result<std::vector<LoadedResource>> loaded = LoadResources("- a\n- b\n", "list.yaml");
  ASSERT_TRUE(loaded.ok());
  ASSERT_EQ(loaded->size(), 1u);
  EXPECT_EQ((*loaded)[0].errors, (FieldErrors{{"document", "must be a mapping"}}));
}

class LoadResourcesFromPathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("usp-core-test-" + std::to_string(std::random_device{}()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
  }
  std::filesystem::path dir_;
};

TEST_F(LoadResourcesFromPathTest, ReadsSortedYamlFilesAndFlagsDuplicates) {
  Write("b.yaml", kSignalYaml);
  Write("a.yml", kSignalYaml);
  Write("notes.txt", "not yaml: [");
  std::filesystem::create_directories(dir_ / "sub.yaml");
  Result<std::vector<LoadedResource>> loaded = LoadResourcesFromPath(dir_);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  ASSERT_EQ(loaded->size(), 2u);
  EXPECT_EQ((*loaded)[0].source, (dir_ / "a.yml").string() + "#0");
  EXPECT_TRUE((*loaded)[0].valid());
  EXPECT_EQ((*loaded)[1].source, (dir_ / "b.yaml").string() + "#0");
  ASSERT_EQ((*loaded)[1].errors.size(), 1u);
  EXPECT_EQ((*loaded)[1].errors[0].path, "metadata.name");
  EXPECT_NE((*loaded)[1].errors[0].message.find("duplicate UserSignal \"searches\""),
            std::string::npos);
  EXPECT_FALSE((*loaded)[1].user_signal.has_value());
}

TEST_F(LoadResourcesFromPathTest, ReadsASingleFile) {
  Write("one.yaml", kSignalYaml);
  Result<std::vector<LoadedResource>> loaded = LoadResourcesFromPath(dir_ / "one.yaml");
  ASSERT_TRUE(loaded.ok());
  ASSERT_EQ(loaded->size(), 1u);
  EXPECT_TRUE((*loaded)[0].valid());
}

TEST_F(LoadResourcesFromPathTest, ReportsMissingPathsAndSyntaxErrors) {
  Result<std::vector<LoadedResource>> missing = LoadResourcesFromPath(dir_ / "nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), Status::Code::kNotFound);

  Write("bad.yaml", "a: [\n");
  Result<std::vector<LoadedResource>> bad = LoadResourcesFromPath(dir_);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("bad.yaml: invalid YAML"), std::string::npos);
}

}  // namespace
}  // namespace usp
