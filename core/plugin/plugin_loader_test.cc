// Loads the example plug-in (examples/plugins, built as a module) and broken
// ones by path, and runs events and signal records through what they
// register: SignalTransform with a `spec.transform`, SegmentProcessor with a
// segment `transform`.
#include "core/plugin/plugin_loader.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "core/resource_loader.h"
#include "core/segment/segment_processor.h"
#include "core/segment/test_signals.h"
#include "core/signal_transform.h"

namespace usp {
namespace {

using nlohmann::json;
using segment_testing::kDay;
using segment_testing::SegmentFrom;
using segment_testing::TestSignals;

class PluginLoaderTest : public ::testing::Test {
 protected:
  Status Load(const std::string& path) { return loader_.Load(path); }

  SignalTransformRegistry transforms_;
  SegmentLogicRegistry segment_logics_;
  PluginLoader loader_{&transforms_, &segment_logics_};
};

UserSignal CleanSearches(const json& extra = json::object()) {
  json doc = {{"apiVersion", "usp.dev/v1alpha1"},
              {"kind", "UserSignal"},
              {"metadata", {{"name", "clean-searches"}}},
              {"spec",
               {{"eventSources", json::array({{{"kafkaTopic", "events.search"}}})},
                {"eventIdField", "/event_id"},
                {"transform", "example.clean_search"}}}};
  doc["spec"].update(extra);
  FieldErrors errors;
  std::optional<UserSignal> signal = ParseUserSignal(doc, &errors);
  EXPECT_TRUE(signal.has_value()) << (errors.empty() ? "" : errors[0].ToString());
  return signal.value_or(UserSignal{});
}

TEST_F(PluginLoaderTest, RegistersTheExamplePlugInsByName) {
  ASSERT_TRUE(Load(USP_EXAMPLE_PLUGIN).ok()) << Load(USP_EXAMPLE_PLUGIN).ToString();
  EXPECT_EQ(transforms_.Names(), std::vector<std::string>{"example.clean_search"});
  EXPECT_EQ(segment_logics_.Names(), std::vector<std::string>{"example.planner_until_checkin"});
  EXPECT_EQ(loader_.Loaded(), std::vector<std::string>{USP_EXAMPLE_PLUGIN});
}

TEST_F(PluginLoaderTest, LoadingTheSameLibraryTwiceRegistersOnce) {
  ASSERT_TRUE(Load(USP_EXAMPLE_PLUGIN).ok());
  Status again = Load(USP_EXAMPLE_PLUGIN);
  EXPECT_TRUE(again.ok()) << again.ToString();
  EXPECT_EQ(loader_.Loaded().size(), 1u);
}

TEST_F(PluginLoaderTest, RunsAnEventThroughSignalTransformWithThePlugIn) {
  ASSERT_TRUE(Load(USP_EXAMPLE_PLUGIN).ok());
  auto transform = SignalTransform::Create(CleanSearches(), transforms_);
  ASSERT_TRUE(transform.ok()) << transform.status().ToString();
  SignalRecord record;
  TransformError error;
  const std::string payload =
      R"({"event_id":"s1","user_id":"alice","event_time":"2026-11-22T10:00:00Z",)"
      R"("query":{"destination":"  new   YORK ","checkin":"2026-12-20","guests":2},)"
      R"("context":{"platform":"ios","user_agent":"Mozilla/5.0"}})";
  ASSERT_EQ((*transform)->Apply({"events.search", 0, 7, payload}, 1795341609999, &record, &error),
            TransformOutcome::kEmitted)
      << error.reason << ": " << error.message;
  EXPECT_EQ(record.user_id, "alice");
  EXPECT_EQ(record.signal, "clean-searches");
  EXPECT_EQ(record.event_id, "s1");
  EXPECT_EQ(record.event_time, 1795341600000);
  EXPECT_EQ(json::parse(record.attributes_json),
            json::parse(R"({"destination":"New York","destination_key":"new york",)"
                        R"("checkin":"2026-12-20","checkout":null,"guests":2,"platform":"ios"})"));
}

TEST_F(PluginLoaderTest, ThePlugInFiltersBotsAndFailsEventsWithoutDestination) {
  ASSERT_TRUE(Load(USP_EXAMPLE_PLUGIN).ok());
  auto transform = SignalTransform::Create(CleanSearches(), transforms_);
  ASSERT_TRUE(transform.ok()) << transform.status().ToString();
  SignalRecord record;
  TransformError error;
  auto apply = [&](const std::string& payload) {
    error = {};
    return (*transform)->Apply({"events.search", 0, 1, payload}, 1, &record, &error);
  };
  // Filtered before the user id is even looked at.
  EXPECT_EQ(apply(R"({"context":{"user_agent":"Googlebot/2.1"},"query":{"destination":"x"}})"),
            TransformOutcome::kFiltered);
  EXPECT_EQ(apply(R"({"user_id":"u","event_time":1,"context":{"is_bot":true}})"),
            TransformOutcome::kFiltered);
  EXPECT_EQ(apply(R"({"user_id":"u","event_time":1,"event_id":"e","query":{}})"),
            TransformOutcome::kFailed);
  EXPECT_EQ(error.reason, "transform_failed");
  EXPECT_EQ(error.message,
            "plug-in \"example.clean_search\": no destination string at /query/destination");
}

TEST_F(PluginLoaderTest, ThePlugInsFactoryCanRefuseASignal) {
  ASSERT_TRUE(Load(USP_EXAMPLE_PLUGIN).ok());
  auto transform = SignalTransform::Create(
      CleanSearches({{"attributes", {{"where", "/destination"}}}}), transforms_);
  ASSERT_FALSE(transform.ok());
  EXPECT_EQ(transform.status().message(),
            "spec.transform: plug-in \"example.clean_search\" refused UserSignal clean-searches: "
            "example.clean_search writes the attributes itself: leave spec.attributes out");
}

TEST_F(PluginLoaderTest, RunsSignalRecordsThroughThePlugInSegmentLogic) {
  ASSERT_TRUE(Load(USP_EXAMPLE_PLUGIN).ok());
  UserSegment segment = SegmentFrom(R"({
    "apiVersion": "usp.dev/v1alpha1", "kind": "UserSegment",
    "metadata": {"name": "planner-until-checkin"},
    "spec": {"enter": {"signals": ["clean-searches"]}, "exit": {"signals": ["bookings"]},
             "expireAfter": "14d", "transform": "example.planner_until_checkin"}})");
  Result<SegmentProcessor> processor = SegmentProcessor::Create(segment, segment_logics_);
  ASSERT_TRUE(processor.ok()) << processor.status().ToString();

  TestSignals signals;
  SegmentState state;
  // 2026-11-22T10:00:00Z searching for a check-in on 2026-12-20: in until the
  // end of that day (later than 14 days after the search).
  const int64_t search_time = 1795341600000;
  std::vector<SegmentRecord> records = processor->Apply(
      &state, signals.Make("alice", "clean-searches", search_time, {{"checkin", "2026-12-20"}}),
      search_time);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_TRUE(records[0].in_segment);
  EXPECT_EQ(records[0].start, search_time);
  EXPECT_EQ(records[0].expiration, 1797811200000);  // 2026-12-21T00:00:00Z

  // Without a check-in date: expireAfter.
  SegmentState other;
  records = processor->Apply(&other, signals.Make("bob", "clean-searches", search_time), 1);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].expiration, search_time + 14 * kDay);

  // A booking takes the user out; other signals are not triggers.
  EXPECT_TRUE(
      processor->Apply(&state, signals.Make("alice", "home-views", search_time + 1), 2).empty());
  records = processor->Apply(&state, signals.Make("alice", "bookings", search_time + 2), 3);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_FALSE(records[0].in_segment);
  EXPECT_EQ(records[0].reason, SegmentReason::kExit);
}

TEST_F(PluginLoaderTest, UnknownTransformNamesTheFieldAndTheRegisteredNames) {
  auto none = SignalTransform::Create(CleanSearches(), transforms_);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(none.status().message(),
            "spec.transform: no signal transform plug-in named \"example.clean_search\" "
            "(registered: none); load the library that provides it with --plugin PATH or "
            "USP_PLUGIN_PATH");
  ASSERT_TRUE(Load(USP_EXAMPLE_PLUGIN).ok());
  auto other = SignalTransform::Create(CleanSearches({{"transform", "acme.nope"}}), transforms_);
  ASSERT_FALSE(other.ok());
  EXPECT_NE(other.status().message().find(
                "spec.transform: no signal transform plug-in named \"acme.nope\" "
                "(registered: example.clean_search)"),
            std::string::npos)
      << other.status().message();
}

TEST_F(PluginLoaderTest, MissingFileIsAClearError) {
  Status s = Load("/nonexistent/libnope.so");
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(s.message(), "plug-in /nonexistent/libnope.so: no such file");
  EXPECT_EQ(Load("").message(), "plug-in path must not be empty");
}

TEST_F(PluginLoaderTest, NotASharedLibraryIsAClearError) {
  std::filesystem::path path =
      std::filesystem::temp_directory_path() / ("usp_not_a_plugin_" + std::to_string(getpid()));
  std::ofstream(path) << "not an ELF file\n";
  Status s = Load(path.string());
  std::filesystem::remove(path);
  EXPECT_EQ(s.message().rfind("plug-in " + path.string() + ": cannot load: ", 0), 0u)
      << s.message();
  s = Load(std::filesystem::temp_directory_path().string());
  EXPECT_NE(s.message().find("is a directory"), std::string::npos) << s.message();
}

TEST_F(PluginLoaderTest, AbiMismatchIsRefusedBeforeRegistering) {
  Status s = Load(USP_TEST_PLUGIN_WRONG_ABI);
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(s.message(),
            std::string("plug-in ") + USP_TEST_PLUGIN_WRONG_ABI +
                ": plug-in ABI version mismatch: built for version " +
                std::to_string(kUspPluginAbiVersion + 1000) +
                ", this usp-runtime implements version " + std::to_string(kUspPluginAbiVersion) +
                " (rebuild the plug-in against this release's core/plugin/usp_plugin.h)");
  EXPECT_TRUE(loader_.Loaded().empty());
}

TEST_F(PluginLoaderTest, MissingEntryPointsAreNamed) {
  Status s = Load(USP_TEST_PLUGIN_NO_REGISTER);
  EXPECT_NE(s.message().find("does not export usp_register_plugins()"), std::string::npos)
      << s.message();
  s = Load(USP_TEST_PLUGIN_NO_REGISTER);  // still refused, not "already loaded"
  EXPECT_FALSE(s.ok());
}

TEST_F(PluginLoaderTest, DuplicateNamesRegisterNothingAndNameTheOwner) {
  ASSERT_TRUE(Load(USP_EXAMPLE_PLUGIN).ok());
  Status s = Load(USP_TEST_PLUGIN_REFUSED);
  EXPECT_EQ(s.message(), std::string("plug-in ") + USP_TEST_PLUGIN_REFUSED +
                             ": signal transform \"example.clean_search\" is already registered "
                             "by " +
                             USP_EXAMPLE_PLUGIN);
  EXPECT_FALSE(transforms_.Contains("refused.keep"));  // all or nothing
  EXPECT_EQ(loader_.Loaded(), std::vector<std::string>{USP_EXAMPLE_PLUGIN});
}

TEST_F(PluginLoaderTest, NamesTakenByInProcessRegistrationsAreRefusedToo) {
  ASSERT_TRUE(
      transforms_
          .Register("example.clean_search",
                    [](const UserSignal&) -> Result<std::unique_ptr<SignalTransformPlugin>> {
                      return Status::Internal("unused");
                    })
          .ok());
  Status s = Load(USP_EXAMPLE_PLUGIN);
  EXPECT_NE(s.message().find("signal transform \"example.clean_search\" is already registered"),
            std::string::npos)
      << s.message();
  EXPECT_FALSE(segment_logics_.Contains("example.planner_until_checkin"));
}

TEST_F(PluginLoaderTest, TheExampleResourcesAreValidAndNameTheExamplePlugIns) {
  ASSERT_TRUE(Load(USP_EXAMPLE_PLUGIN).ok());
  auto loaded = LoadResourcesFromPath(USP_EXAMPLE_RESOURCES);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  ASSERT_EQ(loaded->size(), 2u);
  for (const LoadedResource& r : *loaded) {
    ASSERT_TRUE(r.valid()) << r.source << ": " << r.errors[0].ToString();
    if (r.user_signal) {
      auto transform = SignalTransform::Create(*r.user_signal, transforms_);
      EXPECT_TRUE(transform.ok()) << r.source << ": " << transform.status().ToString();
    } else {
      ASSERT_TRUE(r.user_segment.has_value()) << r.source;
      auto processor = SegmentProcessor::Create(*r.user_segment, segment_logics_);
      EXPECT_TRUE(processor.ok()) << r.source << ": " << processor.status().ToString();
    }
  }
}

TEST(SplitPluginPath, SplitsOnColonsAndSkipsEmptyItems) {
  EXPECT_EQ(SplitPluginPath(""), std::vector<std::string>{});
  EXPECT_EQ(SplitPluginPath("a.so"), std::vector<std::string>{"a.so"});
  EXPECT_EQ(SplitPluginPath(":/p/a.so::b.so:"), (std::vector<std::string>{"/p/a.so", "b.so"}));
}

TEST(LoadPlugins, ReadsUspPluginPathAfterTheFlags) {
  ASSERT_EQ(setenv(kPluginPathEnv, "/nonexistent/from-env.so", 1), 0);
  Status s = LoadPlugins({});
  unsetenv(kPluginPathEnv);
  EXPECT_EQ(s.message(), "plug-in /nonexistent/from-env.so: no such file");
  s = LoadPlugins({"/nonexistent/from-flag.so"});
  EXPECT_EQ(s.message(), "plug-in /nonexistent/from-flag.so: no such file");
  EXPECT_TRUE(LoadPlugins({}).ok());
}

}  // namespace
}  // namespace usp
