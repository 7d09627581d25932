#include "core/signal_record.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace usp {
namespace {

std::string JsonString(std::string_view text) {
  std::string out;
  AppendJsonString(text, &out);
  return out;
}

TEST(AppendJsonString, EscapesQuotesBackslashesAndControlCharacters) {
  const struct {
    std::string in;
    std::string out;
  } cases[] = {
      {"plain", R"("plain")"},
      {"", R"("")"},
      {"a\"b", R"("a\"b")"},
      {"a\\b", R"("a\\b")"},
      {"\n\r\t\b\f", R"("\n\r\t\b\f")"},
      {std::string("\0", 1), R"("\u0000")"},
      {"\x01\x1f", R"("\u0001\u001f")"},
      {"\x7f", "\"\x7f\""},
      {"/", R"("/")"},
  };
  for (const auto& c : cases) EXPECT_EQ(JsonString(c.in), c.out) << c.in;
}

TEST(AppendJsonString, KeepsValidUtf8AsIs) {
  for (const char* text : {"caf\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80", "\xE2\x80\xA8",
                           "\xEF\xBF\xBF", "\xF4\x8F\xBF\xBF"}) {
    EXPECT_EQ(JsonString(text), std::string("\"") + text + "\"");
  }
}

TEST(AppendJsonString, ReplacesInvalidUtf8WithReplacementCharacter) {
  const std::string kFffd = "\xEF\xBF\xBD";
  const struct {
    std::string in;
    std::string out;
  } cases[] = {
      {"a\xFFz", "\"a" + kFffd + "z\""},                                  // never valid
      {"\xC3", "\"" + kFffd + "\""},                                      // truncated
      {"\xC0\xAF", "\"" + kFffd + kFffd + "\""},                          // overlong '/'
      {"\xE0\x80\xAF", "\"" + kFffd + kFffd + kFffd + "\""},              // overlong
      {"\xED\xA0\x80", "\"" + kFffd + kFffd + kFffd + "\""},              // surrogate D800
      {"\xF4\x90\x80\x80", "\"" + kFffd + kFffd + kFffd + kFffd + "\""},  // > U+10FFFF
      {"\x80", "\"" + kFffd + "\""},                                      // lone continuation
      {"\xE2\x82", "\"" + kFffd + kFffd + "\""},                          // truncated euro sign
  };
  for (const auto& c : cases) {
    const std::string out = JsonString(c.in);
    EXPECT_EQ(out, c.out);
    EXPECT_TRUE(nlohmann::json::accept(out)) << out;
  }
}

TEST(SerializeSignalRecord, WritesCanonicalKeyOrder) {
  SignalRecord r{"u1", "searches", 1795341600123, "ev-1", 1795341600456, R"({"city":"Paris"})"};
  EXPECT_EQ(SerializeSignalRecord(r),
            R"({"user_id":"u1","signal":"searches","event_time":1795341600123,)"
            R"("event_id":"ev-1","version":1795341600456,"attributes":{"city":"Paris"}})");
}

TEST(SerializeSignalRecord, WritesEmptyAttributesAsAnEmptyObject) {
  SignalRecord r{"u", "s", 1, "e", 2, ""};
  EXPECT_EQ(
      SerializeSignalRecord(r),
      R"({"user_id":"u","signal":"s","event_time":1,"event_id":"e","version":2,"attributes":{}})");
}

TEST(SerializeSignalRecord, AppendsToExistingText) {
  std::string out = "prefix:";
  AppendSignalRecordJson({"u", "s", 1, "e", 2, "{}"}, &out);
  EXPECT_EQ(out.rfind("prefix:{\"user_id\":\"u\"", 0), 0u);
}

TEST(ParseSignalRecord, RoundTripsSerialize) {
  const SignalRecord records[] = {
      {"u1", "searches", 1795341600123, "ev-1", 1795341600456, R"({"city":"Paris","n":3})"},
      {"quote\"and\\slash\n", "s", 0, "t-0-0", 0, R"({"nested":{"a":[1,2.5,null,true]}})"},
      {"caf\xC3\xA9", "x", 1, "e", 2, "{}"},
      {"u", "s", 1, "e", 2, R"({"z":1,"a":2})"},  // key order is kept
  };
  for (const SignalRecord& r : records) {
    Result<SignalRecord> back = ParseSignalRecord(SerializeSignalRecord(r));
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(*back, r);
  }
}

TEST(ParseSignalRecord, AcceptsAnyKeyOrderAndWhitespace) {
  Result<SignalRecord> r = ParseSignalRecord(R"( { "attributes" : { "a" : 1 } , "version": 9,
      "event_id": "e", "event_time": 5, "signal": "s", "user_id": "u", "extra": true } )");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, (SignalRecord{"u", "s", 5, "e", 9, R"({"a":1})"}));
}

TEST(ParseSignalRecord, RejectsMissingOrMistypedFields) {
  const struct {
    const char* json;
    const char* message;
  } cases[] = {
      {"not json", "not valid JSON"},
      {"[]", "must be a JSON object"},
      {R"({"signal":"s","event_time":1,"event_id":"e","version":2,"attributes":{}})",
       "user_id: required"},
      {R"({"user_id":1,"signal":"s","event_time":1,"event_id":"e","version":2,"attributes":{}})",
       "user_id: must be a string"},
      {R"({"user_id":"u","signal":"s","event_time":"x","event_id":"e","version":2,"attributes":{}})",
       "event_time: must be an integer"},
      {R"({"user_id":"u","signal":"s","event_time":1,"event_id":"e","version":2.5,"attributes":{}})",
       "version: must be an integer"},
      {R"({"user_id":"u","signal":"s","event_time":1,"event_id":"e","version":2,"attributes":[]})",
       "attributes: must be an object"},
      {R"({"user_id":"u","signal":"s","event_time":1,"event_id":"e","version":2})",
       "attributes: required"},
  };
  for (const auto& c : cases) {
    Result<SignalRecord> r = ParseSignalRecord(c.json);
    ASSERT_FALSE(r.ok()) << c.json;
    EXPECT_NE(r.status().message().find(c.message), std::string::npos) << r.status().message();
  }
}

TEST(AppendElementJson, WritesCompactJsonThatKeepsNumberTypes) {
  simdjson::dom::parser parser;
  const struct {
    const char* in;
    const char* out;
  } cases[] = {
      {R"( { "a" : [ 1 , -2 , 18446744073709551615 ] , "b" : null } )",
       R"({"a":[1,-2,18446744073709551615],"b":null})"},
      {"1.0", "1.0"},
      {"2.5", "2.5"},
      {"1e3", "1000.0"},
      {"1e300", "1e+300"},
      {"[true,false,\"x\\u0001\"]", R"([true,false,"x\u0001"])"},
      {"{}", "{}"},
      {"[]", "[]"},
  };
  for (const auto& c : cases) {
    simdjson::dom::element e = parser.parse(std::string(c.in));
    std::string out;
    AppendElementJson(e, &out);
    EXPECT_EQ(out, c.out) << c.in;
  }
}

}  // namespace
}  // namespace usp
