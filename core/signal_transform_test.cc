#include "core/signal_transform.h"

#include <gtest/gtest.h>

#include <map>
#include <stdexcept>

#include "core/plugin/signal_transform_registry.h"

namespace usp {
namespace {

using nlohmann::json;

UserSignal MakeSignal(const json& spec_overrides) {
  json doc = {{"apiVersion", "usp.dev/v1alpha1"},
              {"kind", "UserSignal"},
              {"metadata", {{"name", "searches"}}},
              {"spec", {{"eventSources", json::array({{{"kafkaTopic", "search-events"}}})}}}};
  doc["spec"].update(spec_overrides);
  FieldErrors errors;
  std::optional<UserSignal> signal = ParseUserSignal(doc, &errors);
  EXPECT_TRUE(signal.has_value()) << (errors.empty() ? "" : errors[0].ToString());
  return signal.value_or(UserSignal{});
}

class SignalTransformTest : public ::testing::Test {
 protected:
  void Build(const json& spec_overrides = json::object()) {
    Result<std::unique_ptr<SignalTransform>> t =
        SignalTransform::Create(MakeSignal(spec_overrides));
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    transform_ = std::move(t.value());
  }
  TransformOutcome Apply(std::string_view payload, std::string_view topic = "search-events") {
    SourceEvent event{topic, 3, 42, payload};
    error_ = {};
    return transform_->Apply(event, 1795341609999, &record_, &error_);
  }
  std::unique_ptr<SignalTransform> transform_;
  SignalRecord record_;
  TransformError error_;
};

TEST_F(SignalTransformTest, EmitsARecordWithTheWholeEventAsAttributes) {
  Build();
  ASSERT_EQ(Apply(R"({ "user_id": "u1", "event_time": 1795341600123, "q": "paris hotels" })"),
            TransformOutcome::kEmitted);
  EXPECT_EQ(record_,
            (SignalRecord{"u1", "searches", 1795341600123, "search-events-3-42", 1795341609999,
                          R"({"user_id":"u1","event_time":1795341600123,"q":"paris hotels"})"}));
}

TEST_F(SignalTransformTest, ProjectsAttributesAndWritesNullForMissingOnes) {
  Build({{"attributes",
          {{"city", "/geo/city"}, {"tags", "/tags"}, {"missing", "/nope"}, {"all", ""}}}});
  ASSERT_EQ(Apply(R"({"user_id":"u1","event_time":"2026-11-22T10:00:00Z",
                      "geo":{"city":"Paris"},"tags":["a",1]})"),
            TransformOutcome::kEmitted);
  EXPECT_EQ(record_.event_time, 1795341600000);
  // std::map order: names sorted.
  EXPECT_EQ(record_.attributes_json,
            R"({"all":{"user_id":"u1","event_time":"2026-11-22T10:00:00Z","geo":{"city":"Paris"},)"
            R"("tags":["a",1]},"city":"Paris","missing":null,"tags":["a",1]})");
  EXPECT_TRUE(json::accept(SerializeSignalRecord(record_)));
}

TEST_F(SignalTransformTest, RendersIntegerUserIdsInDecimal) {
  Build();
  ASSERT_EQ(Apply(R"({"user_id": 12345678901, "event_time": 1})"), TransformOutcome::kEmitted);
  EXPECT_EQ(record_.user_id, "12345678901");
  ASSERT_EQ(Apply(R"({"user_id": 18446744073709551615, "event_time": 1})"),
            TransformOutcome::kEmitted);
  EXPECT_EQ(record_.user_id, "18446744073709551615");
}

TEST_F(SignalTransformTest, UsesTheConfiguredFields) {
  Build({{"userIdField", "/user/id"}, {"eventTimeField", "/ts"}, {"eventIdField", "/id"}});
  ASSERT_EQ(Apply(R"({"user":{"id":"u9"},"ts":5,"id":"evt-77"})"), TransformOutcome::kEmitted);
  EXPECT_EQ(record_.user_id, "u9");
  EXPECT_EQ(record_.event_time, 5);
  EXPECT_EQ(record_.event_id, "evt-77");
  ASSERT_EQ(Apply(R"({"user":{"id":"u9"},"ts":5,"id":77})"), TransformOutcome::kEmitted);
  EXPECT_EQ(record_.event_id, "77");
}

TEST_F(SignalTransformTest, AppliesTheSpecFilter) {
  Build({{"filter", {{"field", "/kind"}, {"op", "eq"}, {"value", "search"}}}});
  EXPECT_EQ(Apply(R"({"user_id":"u","event_time":1,"kind":"search"})"), TransformOutcome::kEmitted);
  EXPECT_EQ(Apply(R"({"user_id":"u","event_time":1,"kind":"view"})"), TransformOutcome::kFiltered);
  // Filtering happens before extraction: a filtered event is never a failure.
  EXPECT_EQ(Apply(R"({"kind":"view"})"), TransformOutcome::kFiltered);
}

TEST_F(SignalTransformTest, AppliesEachSourceFilterToItsOwnTopic) {
  Build({{"eventSources", json::parse(R"([
      {"kafkaTopic": "web", "filter": {"field": "/page", "op": "eq", "value": "search"}},
      {"kafkaTopic": "app"},
      {"kafkaTopic": "web", "filter": {"field": "/page", "op": "eq", "value": "results"}}])")}});
  const char* search = R"({"user_id":"u","event_time":1,"page":"search"})";
  const char* results = R"({"user_id":"u","event_time":1,"page":"results"})";
  const char* home = R"({"user_id":"u","event_time":1,"page":"home"})";
  EXPECT_EQ(Apply(search, "web"), TransformOutcome::kEmitted);
  EXPECT_EQ(Apply(results, "web"), TransformOutcome::kEmitted);  // union of sources
  EXPECT_EQ(Apply(home, "web"), TransformOutcome::kFiltered);
  EXPECT_EQ(Apply(home, "app"), TransformOutcome::kEmitted);
  EXPECT_EQ(record_.event_id, "app-3-42");
}

TEST_F(SignalTransformTest, FailsBadEventsWithAStableReason) {
  Build({{"eventIdField", "/id"}});
  const struct {
    const char* payload;
    const char* topic;
    const char* reason;
  } cases[] = {
      {"not json", "search-events", "not_json"},
      {R"({"user_id": "u")", "search-events", "not_json"},
      {"", "search-events", "not_json"},
      {"[1,2]", "search-events", "not_object"},
      {R"("text")", "search-events", "not_object"},
      {R"({"event_time":1,"id":"e"})", "search-events", "missing_user_id"},
      {R"({"user_id":null,"event_time":1,"id":"e"})", "search-events", "missing_user_id"},
      {R"({"user_id":"","event_time":1,"id":"e"})", "search-events", "bad_user_id"},
      {R"({"user_id":true,"event_time":1,"id":"e"})", "search-events", "bad_user_id"},
      {R"({"user_id":1.5,"event_time":1,"id":"e"})", "search-events", "bad_user_id"},
      {R"({"user_id":{"a":1},"event_time":1,"id":"e"})", "search-events", "bad_user_id"},
      {R"({"user_id":"u","id":"e"})", "search-events", "missing_event_time"},
      {R"({"user_id":"u","event_time":null,"id":"e"})", "search-events", "missing_event_time"},
      {R"({"user_id":"u","event_time":"yesterday","id":"e"})", "search-events", "bad_event_time"},
      {R"({"user_id":"u","event_time":-5,"id":"e"})", "search-events", "bad_event_time"},
      {R"({"user_id":"u","event_time":true,"id":"e"})", "search-events", "bad_event_time"},
      {R"({"user_id":"u","event_time":1})", "search-events", "bad_event_id"},
      {R"({"user_id":"u","event_time":1,"id":[1]})", "search-events", "bad_event_id"},
      {R"({"user_id":"u","event_time":1,"id":""})", "search-events", "bad_event_id"},
      {R"({"user_id":"u","event_time":1,"id":"e"})", "other-topic", "unknown_topic"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(Apply(c.payload, c.topic), TransformOutcome::kFailed) << c.payload;
    EXPECT_EQ(error_.reason, c.reason) << c.payload << ": " << error_.message;
    EXPECT_FALSE(error_.message.empty());
  }
}

// Events are data we do not control: bytes that are not UTF-8 fail the event
// (simdjson validates UTF-8) with a stable reason, and the failure's message
// is itself text that can go into JSON (a dead letter, a log line).
TEST_F(SignalTransformTest, FailsAnEventThatIsNotUtf8) {
  Build();
  for (std::string_view payload :
       {std::string_view("{\"user_id\":\"u\xff\",\"event_time\":1}"),
        std::string_view("{\"user_id\":\"u\",\"event_time\":1,\"q\":{\"c\xc3\x28ty\":1}}"),
        std::string_view("{\"user_id\":\"u\",\"event_time\":1,\"s\":\"\xed\xa0\x80\"}")}) {
    EXPECT_EQ(Apply(payload), TransformOutcome::kFailed) << payload;
    EXPECT_EQ(error_.reason, "not_json") << error_.message;
    EXPECT_NE(error_.message.find("UTF"), std::string::npos) << error_.message;
    EXPECT_NO_THROW(json(error_.message).dump());
  }
  // Valid non-ASCII text passes through unchanged.
  ASSERT_EQ(Apply("{\"user_id\":\"u\xc3\xa9\",\"event_time\":1}"), TransformOutcome::kEmitted)
      << error_.message;
  EXPECT_EQ(record_.user_id, "u\xc3\xa9");
}

TEST_F(SignalTransformTest, ErrorMessagesNameThePointer) {
  Build({{"userIdField", "/who"}});
  ASSERT_EQ(Apply(R"({"event_time":1})"), TransformOutcome::kFailed);
  EXPECT_NE(error_.message.find("/who"), std::string::npos) << error_.message;
}

TEST_F(SignalTransformTest, ReusesTheRecordAcrossEvents) {
  Build({{"attributes", {{"q", "/q"}}}});
  ASSERT_EQ(Apply(R"({"user_id":"first-user-with-long-id","event_time":1,"q":"long query text"})"),
            TransformOutcome::kEmitted);
  ASSERT_EQ(Apply(R"({"user_id":"u2","event_time":2,"q":"x"})"), TransformOutcome::kEmitted);
  EXPECT_EQ(record_, (SignalRecord{"u2", "searches", 2, "search-events-3-42", 1795341609999,
                                   R"({"q":"x"})"}));
}

TEST(SignalTransform, RejectsLeftJoinSignals) {
  json doc = json::parse(R"({"apiVersion": "usp.dev/v1alpha1", "kind": "UserSignal",
    "metadata": {"name": "joined"},
    "spec": {"type": "left_join",
      "leftEventSource": {"kafkaTopic": "a", "joinKeyField": "/k"},
      "rightEventSource": {"kafkaTopic": "b", "joinKeyField": "/k"}}})");
  FieldErrors errors;
  std::optional<UserSignal> signal = ParseUserSignal(doc, &errors);
  ASSERT_TRUE(signal.has_value());
  EXPECT_FALSE(SignalTransform::Create(*signal).ok());
}

// In-process plug-ins (the loader tests in core/plugin/ load a real .so).
// Drops events whose /kind is "bot" (throws for "throw"); Transform keeps,
// replaces, fails or throws according to /mode.
class ScriptedPlugin final : public SignalTransformPlugin {
 public:
  explicit ScriptedPlugin(int* calls) : calls_(calls) {}
  bool IsValidEvent(const PluginEvent& event) override {
    ++*calls_;
    std::string_view kind;
    if (event.document["kind"].get(kind)) return true;
    if (kind == "throw") throw std::runtime_error("boom");
    return kind != "bot";
  }
  PluginTransformResult Transform(const PluginEvent& event, std::string* out,
                                  std::string* error) override {
    std::string_view mode;
    if (event.document["mode"].get(mode)) return PluginTransformResult::kKeep;
    if (mode == "replace") {
      std::string_view q;
      if (event.document["q"].get(q)) q = "";
      *out = R"({"query":")" + std::string(q) + R"(","topic":")" + std::string(event.topic) +
             R"(","offset":)" + std::to_string(event.offset) + "}";
      return PluginTransformResult::kReplace;
    }
    if (mode == "fail") {
      *error = "q is not a query";
      return PluginTransformResult::kFail;
    }
    if (mode == "array") {
      *out = "[1]";
      return PluginTransformResult::kReplace;
    }
    if (mode == "garbage") {
      *out = "{";
      return PluginTransformResult::kReplace;
    }
    throw std::runtime_error("bad mode");
  }

 private:
  int* calls_;
};

class SignalTransformPluginTest : public SignalTransformTest {
 protected:
  void SetUp() override {
    ASSERT_TRUE(
        registry_
            .Register(
                "test.scripted",
                [this](const UserSignal& signal) -> Result<std::unique_ptr<SignalTransformPlugin>> {
                  if (signal.metadata.name == "refused") {
                    return Status::InvalidArgument("not for this signal");
                  }
                  return std::unique_ptr<SignalTransformPlugin>(
                      std::make_unique<ScriptedPlugin>(&calls_));
                })
            .ok());
  }
  void BuildWithPlugin(const json& spec_overrides = json::object()) {
    json spec = {{"transform", "test.scripted"}};
    spec.update(spec_overrides);
    Result<std::unique_ptr<SignalTransform>> t =
        SignalTransform::Create(MakeSignal(spec), registry_);
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    transform_ = std::move(t.value());
  }
  SignalTransformRegistry registry_;
  int calls_ = 0;
};

TEST_F(SignalTransformPluginTest, KeepEmitsTheEventAsWithoutAPlugIn) {
  BuildWithPlugin();
  ASSERT_EQ(Apply(R"({"user_id":"u1","event_time":1,"q":"x"})"), TransformOutcome::kEmitted);
  EXPECT_EQ(record_.attributes_json, R"({"user_id":"u1","event_time":1,"q":"x"})");
  EXPECT_EQ(calls_, 1);
}

TEST_F(SignalTransformPluginTest, IsValidEventFalseIsFilteredNotFailed) {
  BuildWithPlugin();
  // No user id: the plug-in's verdict comes before the required fields.
  EXPECT_EQ(Apply(R"({"kind":"bot"})"), TransformOutcome::kFiltered);
  EXPECT_EQ(error_.reason, "");
}

TEST_F(SignalTransformPluginTest, SpecFiltersRunBeforeThePlugIn) {
  BuildWithPlugin({{"filter", {{"field", "/q"}, {"op", "exists"}}}});
  EXPECT_EQ(Apply(R"({"user_id":"u1","event_time":1})"), TransformOutcome::kFiltered);
  EXPECT_EQ(calls_, 0);
}

TEST_F(SignalTransformPluginTest, ReplacedEventBecomesTheAttributes) {
  BuildWithPlugin();
  ASSERT_EQ(Apply(R"({"user_id":"u1","event_time":7,"event_id":"e","mode":"replace","q":"rome"})"),
            TransformOutcome::kEmitted);
  EXPECT_EQ(record_, (SignalRecord{"u1", "searches", 7, "search-events-3-42", 1795341609999,
                                   R"({"query":"rome","topic":"search-events","offset":42})"}));
}

TEST_F(SignalTransformPluginTest, AttributePointersAddressTheReplacedEvent) {
  BuildWithPlugin({{"attributes", {{"where", "/query"}, {"q", "/q"}}}});
  ASSERT_EQ(Apply(R"({"user_id":"u1","event_time":7,"mode":"replace","q":"rome"})"),
            TransformOutcome::kEmitted);
  EXPECT_EQ(record_.attributes_json, R"({"q":null,"where":"rome"})");
  // The identity fields still come from the source event.
  EXPECT_EQ(record_.user_id, "u1");
}

TEST_F(SignalTransformPluginTest, PlugInFailuresAreTransformFailed) {
  BuildWithPlugin();
  ASSERT_EQ(Apply(R"({"user_id":"u1","event_time":1,"mode":"fail"})"), TransformOutcome::kFailed);
  EXPECT_EQ(error_.reason, "transform_failed");
  EXPECT_EQ(error_.message, "plug-in \"test.scripted\": q is not a query");
  ASSERT_EQ(Apply(R"({"user_id":"u1","event_time":1,"mode":"array"})"), TransformOutcome::kFailed);
  EXPECT_EQ(error_.message, "plug-in \"test.scripted\" must return a JSON object");
  ASSERT_EQ(Apply(R"({"user_id":"u1","event_time":1,"mode":"garbage"})"),
            TransformOutcome::kFailed);
  EXPECT_EQ(error_.message.rfind("plug-in \"test.scripted\" returned invalid JSON: ", 0), 0u);
  ASSERT_EQ(Apply(R"({"user_id":"u1","event_time":1,"mode":"other"})"), TransformOutcome::kFailed);
  EXPECT_EQ(error_.message, "plug-in \"test.scripted\" Transform threw: bad mode");
  ASSERT_EQ(Apply(R"({"kind":"throw"})"), TransformOutcome::kFailed);
  EXPECT_EQ(error_.message, "plug-in \"test.scripted\" IsValidEvent threw: boom");
  // Required fields keep their reasons, and the transform keeps working.
  ASSERT_EQ(Apply(R"({"event_time":1,"mode":"replace"})"), TransformOutcome::kFailed);
  EXPECT_EQ(error_.reason, "missing_user_id");
  ASSERT_EQ(Apply(R"({"user_id":"u1","event_time":1,"mode":"replace","q":"ok"})"),
            TransformOutcome::kEmitted);
}

TEST_F(SignalTransformPluginTest, UnknownOrRefusingPlugInsAreSpecTransformErrors) {
  Result<std::unique_ptr<SignalTransform>> t =
      SignalTransform::Create(MakeSignal({{"transform", "acme.missing"}}), registry_);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(t.status().message(),
            "spec.transform: no signal transform plug-in named \"acme.missing\" (registered: "
            "test.scripted); load the library that provides it with --plugin PATH or "
            "USP_PLUGIN_PATH");
  UserSignal refused = MakeSignal({{"transform", "test.scripted"}});
  refused.metadata.name = "refused";
  t = SignalTransform::Create(refused, registry_);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().message(),
            "spec.transform: plug-in \"test.scripted\" refused UserSignal refused: not for this "
            "signal");
}

TEST(SignalTransformRegistry, RefusesDuplicateAndEmptyNamesAndListsNamesSorted) {
  SignalTransformRegistry registry;
  auto factory = [](const UserSignal&) -> Result<std::unique_ptr<SignalTransformPlugin>> {
    return std::unique_ptr<SignalTransformPlugin>();
  };
  EXPECT_TRUE(registry.Register("b", factory).ok());
  EXPECT_TRUE(registry.Register("a", factory).ok());
  EXPECT_FALSE(registry.Register("a", factory).ok());
  EXPECT_FALSE(registry.Register("", factory).ok());
  EXPECT_FALSE(registry.Register("c", nullptr).ok());
  EXPECT_EQ(registry.Names(), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(JoinPluginNames(registry.Names()), "a, b");
  EXPECT_EQ(JoinPluginNames({}), "none");
  // A factory returning no plug-in is an internal error, not a crash.
  EXPECT_EQ(registry.Create("a", UserSignal{}).status().code(), Status::Code::kInternal);
  EXPECT_EQ(registry.Create("zz", UserSignal{}).status().code(), Status::Code::kNotFound);
}

}  // namespace
}  // namespace usp

namespace usp {
namespace {

// An in-memory LookupSource: table index -> key -> JSON text.
class MapLookups : public LookupSource {
 public:
  bool Lookup(size_t index, std::string_view key, std::string* value_json) override {
    ++calls;
    auto table = tables.find(index);
    if (table == tables.end()) return false;
    auto row = table->second.find(std::string(key));
    if (row == table->second.end()) return false;
    *value_json = row->second;
    return true;
  }
  std::map<size_t, std::map<std::string, std::string>> tables;
  int calls = 0;
};

class SignalTransformLookupTest : public SignalTransformTest {
 protected:
  void BuildWithLookups(json spec_overrides) {
    if (!spec_overrides.contains("lookups")) {
      spec_overrides["lookups"] = json::parse(R"([
        {"name": "listing", "kafkaTopic": "listings", "keyField": "/listing_id"},
        {"name": "host", "kafkaTopic": "hosts", "keyField": "/host", "into": "/meta/host"}])");
    }
    Build(spec_overrides);
    transform_->SetLookupSource(&lookups_);
  }
  MapLookups lookups_;
};

TEST_F(SignalTransformLookupTest, InsertsLookedUpRowsBeforeAttributes) {
  lookups_.tables[0]["L1"] = R"({"city":"Paris","price":120})";
  lookups_.tables[1]["7"] = R"("superhost")";
  BuildWithLookups({{"attributes",
                     {{"city", "/lookups/listing/city"},
                      {"price", "/lookups/listing/price"},
                      {"host", "/meta/host"},
                      {"other", "/meta/other"}}}});
  ASSERT_EQ(Apply(R"({"user_id":"u1","event_time":1,"listing_id":"L1","host":7,
                      "meta":{"other":true}})"),
            TransformOutcome::kEmitted)
      << error_.message;
  EXPECT_EQ(json::parse(record_.attributes_json),
            json::parse(R"({"city":"Paris","price":120,"host":"superhost","other":true})"));
}

TEST_F(SignalTransformLookupTest, MissingRowsKeysAndSourcesGiveNull) {
  lookups_.tables[0]["L1"] = R"({"city":"Paris"})";
  BuildWithLookups(json::object());
  // Unknown key; no key at all for the host lookup; an object is not a key.
  ASSERT_EQ(Apply(R"({"user_id":"u1","event_time":1,"listing_id":"L9","meta":5})"),
            TransformOutcome::kEmitted);
  EXPECT_EQ(json::parse(record_.attributes_json),
            json::parse(R"({"user_id":"u1","event_time":1,"listing_id":"L9",
                            "meta":{"host":null},"lookups":{"listing":null}})"));
  ASSERT_EQ(Apply(R"({"user_id":"u1","event_time":1,"listing_id":{"a":1},"host":"x"})"),
            TransformOutcome::kEmitted);
  EXPECT_EQ(json::parse(record_.attributes_json)["lookups"]["listing"], nullptr);

  // No LookupSource at all: every lookup is null.
  Build(json::parse(R"({"lookups": [{"name": "listing", "kafkaTopic": "listings",
                                     "keyField": "/listing_id"}]})"));
  ASSERT_EQ(Apply(R"({"user_id":"u1","event_time":1,"listing_id":"L1"})"),
            TransformOutcome::kEmitted);
  EXPECT_EQ(json::parse(record_.attributes_json)["lookups"],
            json::parse(R"({"listing":null})"));
}

TEST_F(SignalTransformLookupTest, FiltersSeeTheEnrichedEvent) {
  lookups_.tables[0]["L1"] = R"({"city":"Paris"})";
  lookups_.tables[0]["L2"] = R"({"city":"Rome"})";
  BuildWithLookups(json::parse(R"({
    "eventSources": [{"kafkaTopic": "search-events",
                      "filter": {"field": "/lookups/listing", "op": "exists", "value": true}}],
    "filter": {"field": "/lookups/listing/city", "op": "eq", "value": "Paris"},
    "attributes": {"city": "/lookups/listing/city"}})"));
  EXPECT_EQ(Apply(R"({"user_id":"u1","event_time":1,"listing_id":"L1"})"),
            TransformOutcome::kEmitted);
  EXPECT_EQ(record_.attributes_json, R"({"city":"Paris"})");
  EXPECT_EQ(Apply(R"({"user_id":"u1","event_time":1,"listing_id":"L2"})"),
            TransformOutcome::kFiltered);
  // The row is missing: the inserted value is null.
  EXPECT_EQ(Apply(R"({"user_id":"u1","event_time":1,"listing_id":"L3"})"),
            TransformOutcome::kFiltered);
}

TEST_F(SignalTransformLookupTest, ReplacesAnExistingFieldAndKeepsEventOrder) {
  lookups_.tables[0]["1"] = R"([1,2])";
  BuildWithLookups(json::parse(R"({"lookups": [{"name": "n", "kafkaTopic": "t",
                                                "keyField": "/id", "into": "/id"}]})"));
  ASSERT_EQ(Apply(R"({"user_id":"u1","id":1,"event_time":1})"), TransformOutcome::kEmitted);
  EXPECT_EQ(record_.attributes_json, R"({"user_id":"u1","id":[1,2],"event_time":1})");
}

TEST_F(SignalTransformLookupTest, BadEventsFailBeforeAnyLookup) {
  BuildWithLookups(json::object());
  EXPECT_EQ(Apply("not json"), TransformOutcome::kFailed);
  EXPECT_EQ(error_.reason, "not_json");
  EXPECT_EQ(Apply(R"({"user_id":"u1","event_time":1})", "other"), TransformOutcome::kFailed);
  EXPECT_EQ(error_.reason, "unknown_topic");
  EXPECT_EQ(lookups_.calls, 0);
  // A row that is not JSON (the loader never stores one) fails the event.
  lookups_.tables[0]["L1"] = "{oops";
  EXPECT_EQ(Apply(R"({"user_id":"u1","event_time":1,"listing_id":"L1"})"),
            TransformOutcome::kFailed);
  EXPECT_EQ(error_.reason, "lookup_failed");
}

}  // namespace
}  // namespace usp
