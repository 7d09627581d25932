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

// yaml-cpp 0.7's document loop never ends when a document starts at a token
// no node starts with (found by fuzz/fuzz_resource_parser; reproducer
// fuzz/corpus/fuzz_resource_parser/leading_flow_entry.yaml). The loader
// notices that the parser made no progress and fails there.
TEST(YamlDocumentsToJson, RejectsADocumentStartingWithAFlowEntry) {
  for (std::string_view yaml : {",", ", a 1[:2", "  ,", "# c\n,", "a: 1\n---\n,", "--- ,",
                                "a: 1\n...\n,", "%YAML 1.2\n---\n,"}) {
    Result<std::vector<json>> docs = YamlDocumentsToJson(yaml);
    ASSERT_FALSE(docs.ok()) << yaml;
    EXPECT_NE(docs.status().message().find("unexpected ','"), std::string::npos)
        << docs.status().message();
  }
  // A stray flow end is yaml-cpp's own error.
  for (std::string_view yaml : {"]", "}", "a: 1\n}"}) {
    Result<std::vector<json>> docs = YamlDocumentsToJson(yaml);
    ASSERT_FALSE(docs.ok()) << yaml;
    EXPECT_NE(docs.status().message().find("illegal flow end"), std::string::npos)
        << docs.status().message();
  }
  Result<std::vector<json>> docs = YamlDocumentsToJson("--- # c\n  ,");
  ASSERT_FALSE(docs.ok());
  EXPECT_EQ(docs.status().message(),
            "invalid YAML: line 2, column 3: unexpected ',' (no YAML node starts with it here)");
  // A ',' inside a plain scalar is fine.
  docs = YamlDocumentsToJson("a: [1, 2]\nb: x,y\nc: x, y\n");
  ASSERT_TRUE(docs.ok()) << docs.status().ToString();
  EXPECT_EQ(docs.value()[0]["b"], "x,y");
  EXPECT_EQ(docs.value()[0]["c"], "x, y");
}

// Every reproducer in fuzz/corpus/fuzz_resource_parser/known_hang_*.yaml
// (byte for byte): yaml-cpp 0.7's YAML::LoadAll never returned on them (the
// same loop as above, after a first document). Each must now fail, naming
// the position of the first problem (flow_key_1/2 hold a mapping used as a
// key before the spot where yaml-cpp got stuck); a hang fails the test by
// ctest's timeout.
TEST(LoadResources, RefusesEveryKnownYamlCppHangWithItsPosition) {
  const struct {
    const char* file;
    std::string yaml;
    const char* where;
  } cases[] = {
      {"known_hang_anchor_comma.yaml", std::string("&eete\x92ti, a # Bookings iVersion: usp.dev/v1a userIdFad\x9f\x88""a:\n  name:\xf7 searches\nspec:\n  type: simpearntIap", 103),
       "line 1, column 9: unexpected ','"},
      {"known_hang_comma_line.yaml", std::string("eetenti, a # Bookings iVersion: usp.dev/v1a userIdField: +u\n  ,ventwith what the user searapched ifVe", 101),
       "line 2, column 3: unexpected ','"},
      {"known_hang_flow_key_1.yaml", std::string("{\"apiVersion\":\"usp.dev/v1alpha1\",\"kind\":\"UserSignal\",{\"nam!\":\"x\"},\"sp!\":\"x\"},\"spec\":{\"type\":\"simple\",\"eve  ntSources\":[{\"kafkaTopic\":\"t\"}],\"userIdField\":\"/u\",\"event+imeField\":\"/t\"}}", 181),
       "line 1, column 54: mapping keys must be scalars"},
      {"known_hang_flow_key_2.yaml", std::string("{\"apiVersion\":\"us\xe1.dev/v1alpha1\",\"kind\":\"UserSignal\",{\"nam!\":2x\"},\"sp!\":\"x\"},\"spec\":{\"type\":\"simple\",Field\":\"/t\"}}", 114),
       "line 1, column 54: mapping keys must be scalars"},
      {"known_hang_flow_key_3.yaml", std::string("{\"apiVersion\":\"us\xe1.dev/v1alpha1\",\"kind\":\"UserSignal\",\x85\xdd\x91\x96m!\":\x00r\"},\"sp!\":\"x\"},\"spec\":{\"type\":\"si\x16mple\",Field\":\"/t\"}}", 115),
       "line 1, column 66: unexpected ','"},
  };
  for (const auto& c : cases) {
    Result<std::vector<LoadedResource>> loaded = LoadResources(c.yaml, c.file);
    ASSERT_FALSE(loaded.ok()) << c.file;
    EXPECT_EQ(loaded.status().message().rfind(std::string(c.file) + ": invalid YAML: ", 0), 0u)
        << loaded.status().message();
    EXPECT_NE(loaded.status().message().find(c.where), std::string::npos)
        << c.file << ": " << loaded.status().message();
  }
}

TEST(YamlDocumentsToJson, ExpandsAliasesAndRefusesAliasBombs) {
  Result<std::vector<json>> docs =
      YamlDocumentsToJson("base: &b {x: 1, y: [a, b]}\ncopy: *b\nkey: &k name\n*k : 2\n");
  ASSERT_TRUE(docs.ok()) << docs.status().ToString();
  EXPECT_EQ((*docs)[0], json::parse(R"({"base": {"x": 1, "y": ["a", "b"]},
                                       "copy": {"x": 1, "y": ["a", "b"]},
                                       "key": "name", "name": 2})"));

  // Nine levels of ten aliases each: 10^9 values once expanded.
  std::string bomb = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i <= 9; ++i) {
    std::string prev = "*a" + std::to_string(i - 1);
    bomb += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [" + prev;
    for (int k = 1; k < 10; ++k) bomb += ", " + prev;
    bomb += "]\n";
  }
  docs = YamlDocumentsToJson(bomb);
  ASSERT_FALSE(docs.ok());
  EXPECT_NE(docs.status().message().find("aliases expand to more than 1000000 values"),
            std::string::npos)
      << docs.status().message();
}

TEST(YamlDocumentsToJson, RefusesNonScalarKeysAndDeepNesting) {
  Result<std::vector<json>> docs = YamlDocumentsToJson("? [a, b]\n: 1\n");
  ASSERT_FALSE(docs.ok());
  EXPECT_NE(docs.status().message().find("line 1, column 3: mapping keys must be scalars"),
            std::string::npos)
      << docs.status().message();
  docs = YamlDocumentsToJson(std::string(300, '[') + std::string(300, ']'));
  ASSERT_FALSE(docs.ok());
  EXPECT_NE(docs.status().message().find("nested too deeply"), std::string::npos)
      << docs.status().message();
  docs = YamlDocumentsToJson(std::string(200, '[') + std::string(200, ']'));
  ASSERT_TRUE(docs.ok()) << docs.status().ToString();
}

// A resource may be well-formed YAML and still hold bytes that are not
// UTF-8; JSON cannot carry them (nlohmann's dump() throws). Each bad string
// is an error at its field path, and the document keeps U+FFFD instead.
TEST(LoadResources, RejectsStringsThatAreNotUtf8WithTheirFieldPath) {
  const std::string yaml =
      "apiVersion: usp.dev/v1alpha1\nkind: UserSignal\nmetadata:\n  name: s\n"
      "spec:\n  eventSources:\n    - kafkaTopic: t\n    - kafkaTopic: \"b\xff" "d\"\n"
      "  attributes:\n    ci\xffty: /geo/city\n    ok: \"/a\xc3\x28\"\n";
  Result<std::vector<LoadedResource>> loaded = LoadResources(yaml, "s.yaml");
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  ASSERT_EQ(loaded->size(), 1u);
  const LoadedResource& r = (*loaded)[0];
  EXPECT_FALSE(r.valid());
  EXPECT_FALSE(r.user_signal.has_value());
  ASSERT_GE(r.errors.size(), 3u);
  EXPECT_EQ(r.errors[0].ToString(),
            "spec.attributes: key \"ci\xEF\xBF\xBDty\" is not valid UTF-8");
  EXPECT_EQ(r.errors[1].ToString(), "spec.attributes.ok: not valid UTF-8");
  EXPECT_EQ(r.errors[2].ToString(), "spec.eventSources[1].kafkaTopic: not valid UTF-8");
  // The document is safe to write as JSON (dump() would throw otherwise).
  std::string text;
  ASSERT_NO_THROW(text = r.document.dump());
  EXPECT_NE(text.find("\"b\xEF\xBF\xBD""d\""), std::string::npos) << text;

  // The same resource with valid UTF-8 (and non-ASCII text) loads.
  loaded = LoadResources("apiVersion: usp.dev/v1alpha1\nkind: UserSignal\nmetadata:\n  name: s\n"
                         "spec:\n  eventSources:\n    - kafkaTopic: t\n"
                         "  attributes:\n    caf\xc3\xa9: /geo/city\n",
                         "s.yaml");
  ASSERT_TRUE(loaded.ok());
  EXPECT_TRUE((*loaded)[0].valid()) << (*loaded)[0].errors[0].ToString();
  ASSERT_NO_THROW(ToJson(*(*loaded)[0].user_signal).dump());
}

// Found by fuzz/fuzz_resource_parser: the error message's dump() threw.
TEST(LoadResources, ReportsABadApiVersionOrKindThatIsNotUtf8) {
  Result<std::vector<LoadedResource>> loaded =
      LoadResources("apiVersion: usp.d\x9bv/v1\nkind: U\xff\nmetadata:\n  name: x\n", "t.yaml");
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  ASSERT_EQ(loaded.value().size(), 1u);
  const FieldErrors& errors = loaded.value()[0].errors;
  ASSERT_EQ(errors.size(), 4u);
  EXPECT_EQ(errors[0].ToString(), "apiVersion: not valid UTF-8");
  EXPECT_EQ(errors[1].ToString(), "kind: not valid UTF-8");
  EXPECT_EQ(errors[2].ToString(), "apiVersion: must be usp.dev/v1alpha1, got \"usp.d\xEF\xBF\xBDv/v1\"");
  EXPECT_EQ(errors[3].ToString(),
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
