#include "core/temp_dir_for_test.h"
#include "cli/import_seed.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "core/resource_loader.h"
#include "core/user_signal.h"

namespace usp {
namespace {

namespace fs = std::filesystem;

const fs::path kTestdata = fs::path(USP_CLI_TESTDATA_DIR) / "seed";

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::vector<ImportedSignal> Import(const std::string& file, ImportOptions options = {}) {
  auto result = ImportSeedConfigs(ReadFile(kTestdata / file), file, options);
  EXPECT_TRUE(result.ok()) << result.status().ToString();
  return result.ok() ? std::move(result).value() : std::vector<ImportedSignal>{};
}

// Loads the produced YAML exactly as `uspctl local` / `uspctl validate` do.
UserSignal Load(const ImportedSignal& imported) {
  auto loaded = LoadResources(imported.yaml, imported.source);
  EXPECT_TRUE(loaded.ok()) << loaded.status().ToString();
  if (!loaded.ok() || loaded->size() != 1) return {};
  const LoadedResource& r = (*loaded)[0];
  for (const auto& e : r.errors) ADD_FAILURE() << e.ToString() << "\n" << imported.yaml;
  EXPECT_EQ(r.kind, "UserSignal");
  return r.user_signal.value_or(UserSignal{});
}

bool HasWarningOn(const ImportedSignal& imported, std::string_view field) {
  for (const auto& w : imported.warnings) {
    if (w.starts_with(std::string(field) + ":")) return true;
  }
  return false;
}

TEST(ImportSeed, TheSeedsSimpleSignalBecomesAValidUserSignal) {
  auto imported = Import("example_signal.yaml");
  ASSERT_EQ(imported.size(), 1u);
  UserSignal signal = Load(imported[0]);
  EXPECT_EQ(signal.metadata.name, "example-signal");
  EXPECT_EQ(signal.spec.type, SignalType::kSimple);
  ASSERT_EQ(signal.spec.event_sources.size(), 1u);
  EXPECT_EQ(signal.spec.event_sources[0].kafka_topic, "example_source_event");
  EXPECT_EQ(signal.spec.event_sources[0].filter, nullptr);
  EXPECT_EQ(signal.spec.transform, "com.airbnb.usp.transforms.ExampleSignalTransform");
  EXPECT_EQ(signal.spec.output_topic, "usp.signal.example-signal");
  // Lossy: the name, the signal class (dropped), the Java transform.
  EXPECT_EQ(imported[0].warnings.size(), 3u);
  EXPECT_TRUE(HasWarningOn(imported[0], "name"));
  EXPECT_TRUE(HasWarningOn(imported[0], "signal_class"));
  EXPECT_TRUE(HasWarningOn(imported[0], "transform"));
  const auto& annotations = imported[0].resource["metadata"]["annotations"];
  EXPECT_EQ(annotations["usp.dev/seed-name"], "example_signal");
  EXPECT_EQ(annotations["usp.dev/seed-signal-class"], "com.airbnb.usp.api.ExampleSignal");
  EXPECT_EQ(annotations["usp.dev/imported-from"], "example_signal.yaml#0");
  // The warnings are in the file too, as comments.
  EXPECT_NE(imported[0].yaml.find("# warning: signal_class:"), std::string::npos);
}

TEST(ImportSeed, TheSeedsJoinSignalJoinsOnItsKeyAndReadsTheLeftEvent) {
  auto imported = Import("example_join_signal.yaml");
  ASSERT_EQ(imported.size(), 1u);
  UserSignal signal = Load(imported[0]);
  EXPECT_EQ(signal.metadata.name, "example-join-signal");
  EXPECT_EQ(signal.spec.type, SignalType::kLeftJoin);
  ASSERT_TRUE(signal.spec.left_event_source.has_value());
  ASSERT_TRUE(signal.spec.right_event_source.has_value());
  EXPECT_EQ(signal.spec.left_event_source->kafka_topic, "example_left_source_event");
  EXPECT_EQ(signal.spec.left_event_source->join_key_field.text(), "/example_join_key");
  EXPECT_EQ(signal.spec.right_event_source->kafka_topic, "example_right_source_event");
  EXPECT_EQ(signal.spec.right_event_source->join_key_field.text(), "/example_join_key");
  EXPECT_TRUE(signal.spec.event_sources.empty());
  // Pointers of a join address {"left", "right"}: user and time come from the left event.
  EXPECT_EQ(signal.spec.user_id_field.text(), "/left/user_id");
  EXPECT_EQ(signal.spec.event_time_field.text(), "/left/event_time");
  EXPECT_EQ(signal.spec.transform, "com.airbnb.usp.transforms.ExampleJoinSignalTransform");
  EXPECT_EQ(signal.spec.join_window_ms, 24LL * 3600 * 1000);
}

TEST(ImportSeed, UspFieldsInTheSeedsStyleMapToTheirSpecFields) {
  auto imported = Import("declarative.yaml", ImportOptions{"signals"});
  ASSERT_EQ(imported.size(), 2u);

  UserSignal searches = Load(imported[0]);
  EXPECT_EQ(searches.metadata.name, "searches");
  EXPECT_EQ(searches.metadata.namespace_, "signals");
  EXPECT_TRUE(imported[0].warnings.empty());
  ASSERT_EQ(searches.spec.event_sources.size(), 2u);
  EXPECT_EQ(searches.spec.event_sources[0].kafka_topic, "events.search");
  ASSERT_NE(searches.spec.event_sources[0].filter, nullptr);
  EXPECT_EQ(searches.spec.event_sources[1].kafka_topic, "events.search.v2");
  EXPECT_EQ(searches.spec.event_sources[1].filter, nullptr);
  EXPECT_EQ(searches.spec.user_id_field.text(), "/user/id");  // "a.b" -> /a/b
  EXPECT_EQ(searches.spec.event_time_field.text(), "/ts");
  ASSERT_TRUE(searches.spec.event_id_field.has_value());
  EXPECT_EQ(searches.spec.event_id_field->text(), "/event_id");
  ASSERT_NE(searches.spec.filter, nullptr);
  nlohmann::json spec = ToJson(searches)["spec"];
  EXPECT_EQ(spec["filter"],
            nlohmann::json::parse(R"({"field":"/query/destination","op":"exists","value":true})"))
      << spec.dump();
  EXPECT_EQ(spec["eventSources"][0]["filter"],
            nlohmann::json::parse(R"({"field":"/context/is_bot","op":"ne","value":true})"));
  EXPECT_EQ(searches.spec.attributes.at("destination").text(), "/query/destination");
  EXPECT_EQ(searches.spec.attributes.at("guests").text(), "/query/guests");
  EXPECT_EQ(searches.spec.on_error, OnError::kSkip);
  EXPECT_EQ(searches.spec.retention_ms, 14LL * 24 * 3600 * 1000);
  EXPECT_EQ(searches.spec.parallelism, 2);
  EXPECT_EQ(searches.spec.standby_replicas, 1);

  UserSignal joined = Load(imported[1]);
  EXPECT_EQ(joined.metadata.name, "booked-after-search");
  EXPECT_EQ(joined.spec.left_event_source->join_key_field.text(), "/user_id");
  EXPECT_EQ(joined.spec.right_event_source->join_key_field.text(), "/user_id");
  EXPECT_EQ(joined.spec.join_window_ms, 12LL * 3600 * 1000);
  EXPECT_EQ(joined.spec.event_id_field->text(), "/left/event_id");  // a field of the left event
  EXPECT_EQ(joined.spec.attributes.at("listing").text(), "/left/listing_id");
  EXPECT_EQ(joined.spec.attributes.at("searched").text(), "/right/query/destination");
}

TEST(ImportSeed, AJsonFileMayHoldManyConfigs) {
  auto imported = Import("many.json");
  ASSERT_EQ(imported.size(), 2u);
  UserSignal views = Load(imported[0]);
  EXPECT_EQ(views.metadata.name, "home-views");
  EXPECT_EQ(views.spec.event_sources[0].kafka_topic, "events.view");
  UserSignal bookings = Load(imported[1]);
  EXPECT_EQ(bookings.spec.type, SignalType::kSimple);  // the seed's default type
  EXPECT_EQ(bookings.spec.output_topic, "usp.signal.bookings.v2");
  EXPECT_EQ(imported[1].source, "many.json#1");
}

TEST(ImportSeed, AnInvalidConfigNamesTheFileTheConfigAndTheField) {
  auto result = ImportSeedConfigs(ReadFile(kTestdata / "invalid.yaml"), "invalid.yaml", {});
  ASSERT_FALSE(result.ok());
  const std::string& m = result.status().message();
  for (const char* expected : {
           "invalid.yaml: config 0 (no_topic): event_sources[0].kafka_topic: required",
           "invalid.yaml: config 1 (bad_type): type: must be simple or left_join, got "
           "\"right_join\"",
           "invalid.yaml: config 2 (unknown_field): sink_table: unknown field",
           "invalid.yaml: config 3 (bad_on_error): on_error: must be one of fail, skip, "
           "deadLetter",
           "invalid.yaml: config 4 (bad_topic): event_sources[0].kafka_topic: invalid Kafka "
           "topic name",
           "invalid.yaml: config 5 (join_without_key): left_event_source.join_key_field: "
           "required",
       }) {
    EXPECT_NE(m.find(expected), std::string::npos) << "missing: " << expected << "\nin:\n" << m;
  }
  EXPECT_EQ(std::count(m.begin(), m.end(), '\n'), 5) << m;  // one line per config
}

TEST(ImportSeed, YamlScalarsReadBackAsTheSameValues) {
  nlohmann::ordered_json doc = {
      {"strings",
       {"true", "123", "a: b", "", "-x", "#c", "null", "24h", "1h30m", "1e5", "0x1F", "1_000",
        "/a/b", "plain.name"}},
      {"numbers", {1, -2.5, true, nullptr}},
      {"nested", {{{"a", 1}, {"b", {{"c", {1, 2}}}}}, {{"d", nlohmann::ordered_json::object()}}}},
      {"empty", nlohmann::ordered_json::array()},
  };
  auto back = YamlDocumentsToJson(ToYaml(doc));
  ASSERT_TRUE(back.ok()) << back.status().ToString() << "\n" << ToYaml(doc);
  ASSERT_EQ(back->size(), 1u);
  EXPECT_EQ((*back)[0], nlohmann::json::parse(doc.dump())) << ToYaml(doc);
}

TEST(ImportSeed, FieldNamesBecomePointers) {
  EXPECT_EQ(FieldToPointer("user_id"), "/user_id");
  EXPECT_EQ(FieldToPointer("query.destination"), "/query/destination");
  EXPECT_EQ(FieldToPointer("/already/a/pointer"), "/already/a/pointer");
  EXPECT_EQ(FieldToPointer("a~b"), "/a~0b");
}

using testing::TempDir;

TEST(ImportCommand, WritesOneValidFilePerResource) {
  TempDir dir;
  ImportCommandOptions options;
  options.files = {(kTestdata / "example_signal.yaml").string(),
                   (kTestdata / "example_join_signal.yaml").string(),
                   (kTestdata / "declarative.yaml").string()};
  options.out_dir = (dir.path() / "resources").string();
  ASSERT_EQ(RunImport(options), 0);
  auto loaded = LoadResourcesFromPath(options.out_dir);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  ASSERT_EQ(loaded->size(), 4u);
  for (const auto& r : *loaded) {
    EXPECT_TRUE(r.valid()) << r.source << ": " << (r.errors.empty() ? "" : r.errors[0].ToString());
  }
  EXPECT_TRUE(fs::exists(dir.path() / "resources" / "example-join-signal.yaml"));

  // Existing files are kept unless --overwrite.
  EXPECT_EQ(RunImport(options), 1);
  options.overwrite = true;
  EXPECT_EQ(RunImport(options), 0);
}

TEST(ImportCommand, WritesNothingWhenAConfigFailsOrWarnsUnderStrict) {
  TempDir dir;
  ImportCommandOptions options;
  options.files = {(kTestdata / "many.json").string(), (kTestdata / "invalid.yaml").string()};
  options.out_dir = (dir.path() / "out").string();
  EXPECT_EQ(RunImport(options), 1);
  EXPECT_FALSE(fs::exists(dir.path() / "out" / "home-views.yaml"));

  options.files = {(kTestdata / "example_signal.yaml").string()};
  options.strict = true;
  EXPECT_EQ(RunImport(options), 1);
  EXPECT_FALSE(fs::exists(dir.path() / "out" / "example-signal.yaml"));
  options.strict = false;
  EXPECT_EQ(RunImport(options), 0);
  EXPECT_TRUE(fs::exists(dir.path() / "out" / "example-signal.yaml"));
}

TEST(ImportCommand, NamesThatCollideOnceRewrittenAreAnError) {
  TempDir dir;
  fs::path file = dir.path() / "dup.yaml";
  std::ofstream(file) << "- {name: home_views, event_sources: [{kafka_topic: a}]}\n"
                         "- {name: home-views, event_sources: [{kafka_topic: b}]}\n";
  ImportCommandOptions options;
  options.files = {file.string()};
  options.out_dir = (dir.path() / "out").string();
  EXPECT_EQ(RunImport(options), 1);
  EXPECT_FALSE(fs::exists(dir.path() / "out" / "home-views.yaml"));
}

}  // namespace
}  // namespace usp
