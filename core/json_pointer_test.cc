#include "core/json_pointer.h"

#include <gtest/gtest.h>

namespace usp {
namespace {

using nlohmann::json;

TEST(JsonPointer, EmptyTextIsTheWholeDocument) {
  Result<JsonPointer> p = JsonPointer::Parse("");
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(p->is_root());
  EXPECT_TRUE(JsonPointer().is_root());
}

TEST(JsonPointer, UnescapesTildeZeroAndOne) {
  const struct {
    const char* text;
    std::vector<std::string> tokens;
  } cases[] = {
      {"/a", {"a"}},      {"/a/b", {"a", "b"}}, {"/a~1b", {"a/b"}},
      {"/m~0n", {"m~n"}}, {"/~01", {"~1"}},  // ~0 first, so not "/"
      {"/", {""}},        {"//", {"", ""}},     {"/items/0", {"items", "0"}},
  };
  for (const auto& c : cases) {
    Result<JsonPointer> p = JsonPointer::Parse(c.text);
    ASSERT_TRUE(p.ok()) << c.text;
    EXPECT_EQ(p->tokens(), c.tokens) << c.text;
    EXPECT_EQ(p->text(), c.text);
  }
}

TEST(JsonPointer, RejectsMissingSlashAndBadEscapes) {
  for (const char* text : {"a", "a/b", "/a~", "/a~2", "/~x"}) {
    EXPECT_FALSE(JsonPointer::Parse(text).ok()) << text;
  }
}

// The RFC 6901 section 5 example document.
const char* kRfcDoc = R"({"foo": ["bar", "baz"], "": 0, "a/b": 1, "c%d": 2, "e^f": 3,
  "g|h": 4, "i\\j": 5, "k\"l": 6, " ": 7, "m~n": 8})";

TEST(JsonPointer, ResolvesTheRfcExamplesInNlohmann) {
  const json doc = json::parse(kRfcDoc);
  const struct {
    const char* pointer;
    json expected;
  } cases[] = {
      {"/foo", json::array({"bar", "baz"})},
      {"/foo/0", "bar"},
      {"/", 0},
      {"/a~1b", 1},
      {"/c%d", 2},
      {"/e^f", 3},
      {"/g|h", 4},
      {"/i\\j", 5},
      {"/k\"l", 6},
      {"/ ", 7},
      {"/m~0n", 8},
  };
  for (const auto& c : cases) {
    const json* found = JsonPointer::Parse(c.pointer)->Resolve(doc);
    ASSERT_NE(found, nullptr) << c.pointer;
    EXPECT_EQ(*found, c.expected) << c.pointer;
  }
  EXPECT_EQ(*JsonPointer().Resolve(doc), doc);
}

TEST(JsonPointer, ResolvesTheRfcExamplesInSimdjson) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc = parser.parse(std::string(kRfcDoc));
  const struct {
    const char* pointer;
    int64_t expected;
  } cases[] = {{"/", 0}, {"/a~1b", 1}, {"/c%d", 2}, {"/k\"l", 6}, {"/ ", 7}, {"/m~0n", 8}};
  for (const auto& c : cases) {
    std::optional<simdjson::dom::element> found = JsonPointer::Parse(c.pointer)->Resolve(doc);
    ASSERT_TRUE(found.has_value()) << c.pointer;
    EXPECT_EQ(int64_t(found->get_int64()), c.expected) << c.pointer;
  }
  std::optional<simdjson::dom::element> bar = JsonPointer::Parse("/foo/1")->Resolve(doc);
  ASSERT_TRUE(bar.has_value());
  EXPECT_EQ(std::string_view(bar->get_string()), "baz");
}

TEST(JsonPointer, MissingPathsResolveToNothing) {
  const char* text = R"({"a": {"b": [10, 20]}, "s": "str"})";
  const json doc = json::parse(text);
  simdjson::dom::parser parser;
  simdjson::dom::element sdoc = parser.parse(std::string(text));
  for (const char* pointer :
       {"/x", "/a/c", "/a/b/2", "/a/b/-", "/a/b/01", "/a/b/x", "/s/0", "/a/b/0/deeper", "/a/b/"}) {
    const JsonPointer p = *JsonPointer::Parse(pointer);
    EXPECT_EQ(p.Resolve(doc), nullptr) << pointer;
    EXPECT_FALSE(p.Resolve(sdoc).has_value()) << pointer;
  }
  EXPECT_EQ(*JsonPointer::Parse("/a/b/1")->Resolve(doc), 20);
  EXPECT_EQ(int64_t(JsonPointer::Parse("/a/b/1")->Resolve(sdoc)->get_int64()), 20);
}

TEST(JsonPointer, ArrayIndexTokensAreObjectKeysInObjects) {
  const json doc = json::parse(R"({"0": "zero", "01": "zero-one"})");
  EXPECT_EQ(*JsonPointer::Parse("/0")->Resolve(doc), "zero");
  EXPECT_EQ(*JsonPointer::Parse("/01")->Resolve(doc), "zero-one");
}

}  // namespace
}  // namespace usp
