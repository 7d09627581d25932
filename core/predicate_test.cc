#include "core/predicate.h"

#include <gtest/gtest.h>

namespace usp {
namespace {

using nlohmann::json;

PredicatePtr MustCompile(const json& spec) {
  FieldErrors errors;
  PredicatePtr p = Predicate::Compile(spec, "spec.filter", &errors);
  EXPECT_TRUE(errors.empty()) << spec.dump() << ": " << errors[0].ToString();
  return p;
}

const char* kEvent = R"({
  "user_id": "u1", "kind": "search", "count": 5, "price": 9.5, "big": 18446744073709551615,
  "neg": -3, "ok": true, "nothing": null, "tags": ["a", "b"], "geo": {"city": "Paris"},
  "a/b": "slash"
})";

class PredicateTest : public ::testing::Test {
 protected:
  bool Eval(const json& spec) {
    PredicatePtr p = MustCompile(spec);
    if (!p) return false;
    return p->Evaluate(doc_);
  }
  simdjson::dom::parser parser_;
  simdjson::dom::element doc_ = parser_.parse(std::string(kEvent));
};

json Cmp(const char* field, const char* op, json value) {
  return {{"field", field}, {"op", op}, {"value", std::move(value)}};
}

TEST_F(PredicateTest, ComparisonsFollowTheirOperator) {
  const struct {
    json spec;
    bool expected;
  } cases[] = {
      // eq / ne across types
      {Cmp("/kind", "eq", "search"), true},
      {Cmp("/kind", "eq", "view"), false},
      {Cmp("/count", "eq", 5), true},
      {Cmp("/count", "eq", 5.0), true},  // numbers compare as numbers
      {Cmp("/price", "eq", 9.5), true},
      {Cmp("/ok", "eq", true), true},
      {Cmp("/ok", "eq", false), false},
      {Cmp("/nothing", "eq", nullptr), true},
      {Cmp("/kind", "eq", nullptr), false},
      {Cmp("/geo/city", "eq", "Paris"), true},
      {Cmp("/tags/1", "eq", "b"), true},
      {Cmp("/a~1b", "eq", "slash"), true},
      {Cmp("/big", "eq", 18446744073709551615ULL), true},
      {Cmp("/kind", "ne", "view"), true},
      {Cmp("/kind", "ne", "search"), false},
      // ordering: numbers (int/uint/double mixed) and strings
      {Cmp("/count", "gt", 4), true},
      {Cmp("/count", "gt", 5), false},
      {Cmp("/count", "gte", 5), true},
      {Cmp("/count", "lt", 5.5), true},
      {Cmp("/count", "lte", 4.9), false},
      {Cmp("/price", "gt", 9), true},
      {Cmp("/neg", "lt", 0), true},
      {Cmp("/neg", "lt", 18446744073709551615ULL), true},
      {Cmp("/big", "gt", 9223372036854775807LL), true},
      {Cmp("/big", "gt", -1), true},
      {Cmp("/kind", "gt", "s"), true},
      {Cmp("/kind", "lt", "search!"), true},
      {Cmp("/kind", "gte", "search"), true},
      {Cmp("/kind", "lte", "sea"), false},
      // in
      {Cmp("/kind", "in", json::array({"view", "search"})), true},
      {Cmp("/kind", "in", json::array({"view"})), false},
      {Cmp("/count", "in", json::array({1, 5.0})), true},
      {Cmp("/kind", "in", json::array()), false},
      // prefix
      {Cmp("/kind", "prefix", "sea"), true},
      {Cmp("/kind", "prefix", ""), true},
      {Cmp("/kind", "prefix", "search-long"), false},
      {Cmp("/kind", "prefix", "ear"), false},
      // exists
      {{{"field", "/kind"}, {"op", "exists"}}, true},
      {{{"field", "/missing"}, {"op", "exists"}}, false},
      {Cmp("/missing", "exists", false), true},
      {Cmp("/kind", "exists", false), false},
      {Cmp("/nothing", "exists", true), true},  // null is present
      {Cmp("", "exists", true), true},          // the whole event
  };
  for (const auto& c : cases) EXPECT_EQ(Eval(c.spec), c.expected) << c.spec.dump();
}

TEST_F(PredicateTest, MissingFieldIsFalseExceptForNeAndExists) {
  const struct {
    json spec;
    bool expected;
  } cases[] = {
      {Cmp("/missing", "eq", "x"), false},
      {Cmp("/missing", "eq", nullptr), false},
      {Cmp("/missing", "ne", "x"), true},
      {Cmp("/missing", "gt", 1), false},
      {Cmp("/missing", "gte", 1), false},
      {Cmp("/missing", "lt", 1), false},
      {Cmp("/missing", "lte", 1), false},
      {Cmp("/missing", "in", json::array({1})), false},
      {Cmp("/missing", "prefix", ""), false},
      {Cmp("/tags/5", "eq", "a"), false},
      {Cmp("/kind/deeper", "eq", "search"), false},
  };
  for (const auto& c : cases) EXPECT_EQ(Eval(c.spec), c.expected) << c.spec.dump();
}

TEST_F(PredicateTest, TypeMismatchIsFalseAndNeNegatesEq) {
  const struct {
    json spec;
    bool expected;
  } cases[] = {
      {Cmp("/count", "eq", "5"), false},
      {Cmp("/kind", "eq", 5), false},
      {Cmp("/ok", "eq", 1), false},
      {Cmp("/count", "gt", "1"), false},
      {Cmp("/kind", "gt", 1), false},
      {Cmp("/count", "prefix", "5"), false},
      {Cmp("/geo", "eq", "Paris"), false},
      {Cmp("/tags", "in", json::array({"a"})), false},
      {Cmp("/count", "in", json::array({"5"})), false},
      {Cmp("/count", "ne", "5"), true},
      {Cmp("/geo", "ne", 1), true},
  };
  for (const auto& c : cases) EXPECT_EQ(Eval(c.spec), c.expected) << c.spec.dump();
}

TEST_F(PredicateTest, CombinatorsComposeAndHandleEmptyLists) {
  const json yes = Cmp("/kind", "eq", "search");
  const json no = Cmp("/kind", "eq", "view");
  const struct {
    json spec;
    bool expected;
  } cases[] = {
      {{{"all", json::array({yes, yes})}}, true},
      {{{"all", json::array({yes, no})}}, false},
      {{{"all", json::array()}}, true},
      {{{"any", json::array({no, yes})}}, true},
      {{{"any", json::array({no, no})}}, false},
      {{{"any", json::array()}}, false},
      {{{"not", yes}}, false},
      {{{"not", no}}, true},
      {{{"not", {{"not", yes}}}}, true},
      {{{"all", json::array({yes, {{"any", json::array({no, {{"not", no}}})}}})}}, true},
  };
  for (const auto& c : cases) EXPECT_EQ(Eval(c.spec), c.expected) << c.spec.dump();
}

TEST(Predicate, ToJsonIsNormalizedAndRecompiles) {
  const json spec = {
      {"all", json::array({
                  {{"field", "/kind"}, {"op", "exists"}},
                  {{"any", json::array({Cmp("/count", "gte", 3), Cmp("/kind", "in", {"a", "b"})})}},
                  {{"not", Cmp("/geo/city", "prefix", "Par")}},
              })}};
  PredicatePtr p = MustCompile(spec);
  ASSERT_NE(p, nullptr);
  json normalized = spec;
  normalized["all"][0]["value"] = true;  // exists defaults to true and is written out
  EXPECT_EQ(p->ToJson(), normalized);
  EXPECT_EQ(MustCompile(p->ToJson())->ToJson(), normalized);
}

TEST(Predicate, CompileReportsEveryErrorWithItsPath) {
  const struct {
    json spec;
    std::vector<FieldError> errors;
  } cases[] = {
      {"eq", {{"spec.filter", "must be an object"}}},
      {json::object(), {{"spec.filter.field", "required"}, {"spec.filter.op", "required"}}},
      {Cmp("/a", "like", "x"),
       {{"spec.filter.op", "must be one of eq, ne, gt, gte, lt, lte, in, exists, prefix"}}},
      {Cmp("a", "eq", "x"),
       {{"spec.filter.field", "invalid JSON pointer \"a\": must be empty or start with '/'"}}},
      {{{"field", 3}, {"op", true}},
       {{"spec.filter.field", "must be a string"}, {"spec.filter.op", "must be a string"}}},
      {{{"field", "/a"}, {"op", "eq"}}, {{"spec.filter.value", "required"}}},
      {Cmp("/a", "eq", json::array({1})),
       {{"spec.filter.value", "must be a string, number, boolean or null"}}},
      {Cmp("/a", "gt", true), {{"spec.filter.value", "must be a number or a string"}}},
      {Cmp("/a", "in", "x"), {{"spec.filter.value", "must be a list"}}},
      {Cmp("/a", "in", json::array({1, json::object()})),
       {{"spec.filter.value[1]", "must be a string, number, boolean or null"}}},
      {Cmp("/a", "prefix", 1), {{"spec.filter.value", "must be a string"}}},
      {Cmp("/a", "exists", "yes"), {{"spec.filter.value", "must be a boolean"}}},
      {{{"field", "/a"}, {"op", "eq"}, {"value", 1}, {"vaule", 2}},
       {{"spec.filter.vaule", "unknown field"}}},
      {{{"all", "x"}}, {{"spec.filter.all", "must be a list"}}},
      {{{"all", json::array({Cmp("/a", "eq", 1), Cmp("/a", "bad", 1)})}},
       {{"spec.filter.all[1].op", "must be one of eq, ne, gt, gte, lt, lte, in, exists, prefix"}}},
      {{{"any", json::array({{{"not", {{"field", "/a"}}}}})}},
       {{"spec.filter.any[0].not.op", "required"}}},
      {{{"all", json::array()}, {"any", json::array()}},
       {{"spec.filter", "must have exactly one of all, any, not, or field/op/value"}}},
  };
  for (const auto& c : cases) {
    FieldErrors errors;
    EXPECT_EQ(Predicate::Compile(c.spec, "spec.filter", &errors), nullptr) << c.spec.dump();
    EXPECT_EQ(errors, c.errors) << c.spec.dump();
  }
}

}  // namespace
}  // namespace usp
