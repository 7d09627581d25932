#include "core/utf8.h"

#include <gtest/gtest.h>

namespace usp {
namespace {

using nlohmann::json;

const std::string kFffd = "\xEF\xBF\xBD";

TEST(Utf8, AcceptsWellFormedTextOnly) {
  for (const char* ok : {"", "plain", "caf\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80",
                         "\xF4\x8F\xBF\xBF", "\xED\x9F\xBF"}) {
    EXPECT_TRUE(IsValidUtf8(ok)) << ok;
  }
  for (const char* bad : {"\xFF", "a\x80", "\xC3", "\xC0\xAF" /* overlong */,
                          "\xE0\x80\xAF" /* overlong */, "\xED\xA0\x80" /* surrogate */,
                          "\xF4\x90\x80\x80" /* > U+10FFFF */, "\xC3\x28"}) {
    EXPECT_FALSE(IsValidUtf8(bad)) << bad;
  }
  EXPECT_FALSE(IsValidUtf8(std::string_view("a\0\xFF", 3)));
  EXPECT_TRUE(IsValidUtf8(std::string_view("a\0b", 3)));
}

TEST(Utf8, ReplacesEachBadByteWithTheReplacementCharacter) {
  EXPECT_EQ(ReplaceInvalidUtf8("a\xFFz"), "a" + kFffd + "z");
  EXPECT_EQ(ReplaceInvalidUtf8("\xC3\x28"), kFffd + "(");
  EXPECT_EQ(ReplaceInvalidUtf8("caf\xC3\xA9"), "caf\xC3\xA9");
  // The same result as nlohmann's own replacement.
  const std::string bad = "x\xE2\x82y\xF0\x9F\x98\xFF";
  EXPECT_EQ(json(ReplaceInvalidUtf8(bad)).dump(),
            json(bad).dump(-1, ' ', false, json::error_handler_t::replace));
}

TEST(Utf8, ChecksEveryStringAndKeyWithItsPathAndFixesThem) {
  json doc = {{"spec",
               {{"attributes", json::array({{{"name", "ok"}}, {{"name", "b\xFF"}}})},
                {"k\xFE", "v"}}},
              {"kind", "UserSignal"}};
  FieldErrors errors;
  EXPECT_FALSE(CheckUtf8Strings(&doc, "", &errors));
  EXPECT_EQ(errors, (FieldErrors{{"spec.attributes[1].name", "not valid UTF-8"},
                                 {"spec", "key \"k" + kFffd + "\" is not valid UTF-8"}}));
  EXPECT_EQ(doc["spec"]["attributes"][1]["name"], "b" + kFffd);
  EXPECT_EQ(doc["spec"]["k" + kFffd], "v");
  EXPECT_FALSE(doc["spec"].contains("k\xFE"));
  EXPECT_NO_THROW(doc.dump());

  errors.clear();
  json good = {{"a", {1, "two", nullptr, {{"caf\xC3\xA9", true}}}}};
  const json before = good;
  EXPECT_TRUE(CheckUtf8Strings(&good, "", &errors));
  EXPECT_TRUE(errors.empty());
  EXPECT_EQ(good, before);

  json scalar = "\xFF";
  EXPECT_FALSE(CheckUtf8Strings(&scalar, "", &errors));
  EXPECT_EQ(errors, (FieldErrors{{"document", "not valid UTF-8"}}));
}

}  // namespace
}  // namespace usp
