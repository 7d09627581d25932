#include "core/session/accumulator.h"

#include <gtest/gtest.h>

#include <cstring>
#include <limits>
#include <random>

#include "core/session/aggregator.h"

namespace usp {
namespace {

using nlohmann::json;

AggregationSpec Spec(AggregationFn fn, int32_t k = 0, int32_t n = 0) {
  AggregationSpec spec;
  spec.name = "a";
  spec.fn = fn;
  spec.k = k;
  spec.n = n;
  return spec;
}

// Adds `values` (at event times 1, 2, 3, ...) to a fresh accumulator.
Accumulator Fold(const AggregationSpec& spec, const std::vector<json>& values,
                 int64_t first_time = 1) {
  Accumulator acc(spec);
  int64_t t = first_time;
  for (const json& v : values) {
    acc.Add(&v, t++);
  }
  return acc;
}

json ValueOf(const AggregationSpec& spec, const std::vector<json>& values) {
  return Fold(spec, values).Value();
}

TEST(Accumulator, CountCountsPresentValues) {
  Accumulator acc(Spec(AggregationFn::kCount));
  const json v = "x";
  const json null = nullptr;
  acc.Add(&v, 1);
  acc.Add(&v, 2);
  acc.Add(nullptr, 3);  // missing field
  acc.Add(&null, 4);    // null counts as missing
  EXPECT_EQ(acc.Value(), 2);
  EXPECT_EQ(Accumulator(Spec(AggregationFn::kCount)).Value(), 0);
}

TEST(Accumulator, SumStaysIntegerUntilADoubleOrOverflow) {
  const AggregationSpec sum = Spec(AggregationFn::kSum);
  EXPECT_EQ(ValueOf(sum, {}), 0);
  EXPECT_EQ(ValueOf(sum, {1, 2, -4}).dump(), "-1");
  EXPECT_EQ(ValueOf(sum, {1, 2.5}).dump(), "3.5");
  EXPECT_EQ(ValueOf(sum, {1.5, 1.5}).dump(), "3.0");
  EXPECT_EQ(ValueOf(sum, {1, "2", true, json::object()}).dump(), "1");  // non-numbers ignored
  const json big = std::numeric_limits<int64_t>::max();
  EXPECT_TRUE(ValueOf(sum, {big, big}).is_number_float());
  EXPECT_DOUBLE_EQ(ValueOf(sum, {big, big}).get<double>(), 2.0 * 9223372036854775807.0);
  const json huge = std::numeric_limits<uint64_t>::max();
  EXPECT_TRUE(ValueOf(sum, {huge}).is_number_float());
}

TEST(Accumulator, AvgIsADoubleOrNull) {
  const AggregationSpec avg = Spec(AggregationFn::kAvg);
  EXPECT_TRUE(ValueOf(avg, {}).is_null());
  EXPECT_TRUE(ValueOf(avg, {"x"}).is_null());
  EXPECT_EQ(ValueOf(avg, {1, 2}).dump(), "1.5");
  EXPECT_EQ(ValueOf(avg, {2, 2, "skip"}).dump(), "2.0");
}

TEST(Accumulator, MinAndMaxCompareNumbersExactly) {
  const AggregationSpec min = Spec(AggregationFn::kMin);
  const AggregationSpec max = Spec(AggregationFn::kMax);
  EXPECT_TRUE(ValueOf(min, {}).is_null());
  EXPECT_EQ(ValueOf(min, {3, -1.5, 7u, "a"}).dump(), "-1.5");
  EXPECT_EQ(ValueOf(max, {3, -1.5, 7u, "a"}).dump(), "7");
  // 2^53 + 1 is not a double: exact comparison still orders it above 2^53 as a double.
  const json big_int = int64_t{9007199254740993};
  const json big_double = 9007199254740992.0;
  EXPECT_EQ(ValueOf(max, {big_double, big_int}), big_int);
  EXPECT_EQ(ValueOf(min, {big_double, big_int}), big_double);
  // uint64 above int64 range vs a negative int.
  const json huge = std::numeric_limits<uint64_t>::max();
  EXPECT_EQ(ValueOf(max, {-1, huge}), huge);
  EXPECT_EQ(ValueOf(min, {huge, -1}), -1);
  // On equal values the first one stays.
  EXPECT_EQ(ValueOf(min, {1, 1.0}).dump(), "1");
}

TEST(Accumulator, DistinctCountUsesCanonicalJson) {
  const AggregationSpec d = Spec(AggregationFn::kDistinctCount);
  EXPECT_EQ(ValueOf(d, {}), 0);
  EXPECT_EQ(ValueOf(d, {"Paris", "Rome", "Paris"}), 2);
  EXPECT_EQ(ValueOf(d, {1, "1", 1.0, true}), 4);
  EXPECT_EQ(ValueOf(d, {json::parse(R"({"a":1,"b":2})"), json::parse(R"({"b":2,"a":1})")}), 1);
}

TEST(Accumulator, DistinctCountIsBoundedAndSaysSo) {
  Accumulator acc(Spec(AggregationFn::kDistinctCount));
  for (size_t i = 0; i < kMaxTrackedValues; ++i) {
    const json v = i;
    acc.Add(&v, 1);
  }
  EXPECT_FALSE(acc.saturated());
  const json again = 0;
  acc.Add(&again, 2);  // already tracked: still exact
  EXPECT_FALSE(acc.saturated());
  const json extra = "new";
  acc.Add(&extra, 3);
  EXPECT_TRUE(acc.saturated());
  EXPECT_EQ(acc.Value(), kMaxTrackedValues);
}

TEST(Accumulator, TopKRanksByCountThenByValue) {
  const AggregationSpec top2 = Spec(AggregationFn::kTopK, /*k=*/2);
  EXPECT_EQ(ValueOf(top2, {}), json::array());
  EXPECT_EQ(ValueOf(top2, {"Rome", "Paris", "Rome", "Oslo", "Paris", "Rome"}),
            json::parse(R"([{"value":"Rome","count":3},{"value":"Paris","count":2}])"));
  // Ties break by canonical text ascending: "Oslo" < "Paris" < "Rome".
  EXPECT_EQ(ValueOf(top2, {"Rome", "Paris", "Oslo"}),
            json::parse(R"([{"value":"Oslo","count":1},{"value":"Paris","count":1}])"));
  // Values keep their JSON type.
  EXPECT_EQ(ValueOf(top2, {7, 7, "7"}),
            json::parse(R"([{"value":7,"count":2},{"value":"7","count":1}])"));
}

TEST(Accumulator, LastNKeepsTheNewestByEventTime) {
  const AggregationSpec last2 = Spec(AggregationFn::kLastN, 0, /*n=*/2);
  Accumulator acc(last2);
  const json a = "a", b = "b", c = "c", d = "d";
  acc.Add(&b, 20);
  acc.Add(&a, 10);  // out of order: older than b
  EXPECT_EQ(acc.Value(), json::parse(R"(["b","a"])"));
  acc.Add(&c, 30);
  EXPECT_EQ(acc.Value(), json::parse(R"(["c","b"])"));
  acc.Add(&d, 5);  // older than everything kept
  EXPECT_EQ(acc.Value(), json::parse(R"(["c","b"])"));
  // Equal times: the later arrival is newer.
  Accumulator ties(last2);
  ties.Add(&a, 10);
  ties.Add(&b, 10);
  EXPECT_EQ(ties.Value(), json::parse(R"(["b","a"])"));
}

TEST(Accumulator, LastNKeepsWholeValues) {
  const json record = json::parse(R"({"signal":"s","attributes":{"x":1}})");
  Accumulator acc(Spec(AggregationFn::kLastN, 0, 1));
  acc.Add(&record, 1);
  EXPECT_EQ(acc.Value(), json::array({record}));
}

// Merging the accumulators of any split of the values equals folding them all.
class AccumulatorMerge : public ::testing::TestWithParam<AggregationSpec> {};

TEST_P(AccumulatorMerge, EqualsFoldingEverything) {
  const std::vector<json> values = {3,      "Paris", 1.5, "Rome", 3, nullptr, -2,
                                    "Rome", 10,      7u,  "Oslo", 3, "Paris", 0.25};
  const AggregationSpec& spec = GetParam();
  const json whole = Fold(spec, values).Value();
  for (size_t split = 0; split <= values.size(); ++split) {
    const std::vector<json> left(values.begin(), values.begin() + split);
    const std::vector<json> right(values.begin() + split, values.end());
    Accumulator merged = Fold(spec, left, 1);
    merged.Merge(Fold(spec, right, 1 + static_cast<int64_t>(split)));
    EXPECT_EQ(merged.Value(), whole) << ToString(spec.fn) << " split at " << split;
    // And in the other order (session merges fold later into earlier or the reverse).
    Accumulator reversed = Fold(spec, right, 1 + static_cast<int64_t>(split));
    reversed.Merge(Fold(spec, left, 1));
    EXPECT_EQ(reversed.Value(), whole) << ToString(spec.fn) << " reversed split at " << split;
  }
}

TEST_P(AccumulatorMerge, StateRoundTrips) {
  const AggregationSpec& spec = GetParam();
  const Accumulator acc = Fold(spec, {3, "Paris", 1.5, "Rome", 3, -2, "Rome", 7u});
  Result<Accumulator> restored = Accumulator::FromState(spec, json::parse(acc.ToState().dump()));
  ASSERT_TRUE(restored.ok()) << restored.status().ToString();
  EXPECT_TRUE(*restored == acc);
  EXPECT_EQ(restored->Value(), acc.Value());
  Result<Accumulator> empty =
      Accumulator::FromState(spec, json::parse(Accumulator(spec).ToState().dump()));
  ASSERT_TRUE(empty.ok()) << empty.status().ToString();
  EXPECT_TRUE(*empty == Accumulator(spec));
}

TEST_P(AccumulatorMerge, RejectsMalformedState) {
  const AggregationSpec& spec = GetParam();
  EXPECT_FALSE(Accumulator::FromState(spec, json::array()).ok());
  EXPECT_FALSE(Accumulator::FromState(spec, json::object()).ok());
}

INSTANTIATE_TEST_SUITE_P(EveryFn, AccumulatorMerge,
                         ::testing::Values(Spec(AggregationFn::kCount), Spec(AggregationFn::kSum),
                                           Spec(AggregationFn::kAvg), Spec(AggregationFn::kMin),
                                           Spec(AggregationFn::kMax),
                                           Spec(AggregationFn::kDistinctCount),
                                           Spec(AggregationFn::kTopK, 2),
                                           Spec(AggregationFn::kLastN, 0, 4)),
                         [](const auto& info) { return std::string(ToString(info.param.fn)); });

TEST(Accumulator, SumStateKeepsDoublesThatJsonCannotHold) {
  const AggregationSpec sum = Spec(AggregationFn::kSum);
  const Accumulator acc = Fold(sum, {1e308, 1e308});  // +inf
  Result<Accumulator> restored = Accumulator::FromState(sum, json::parse(acc.ToState().dump()));
  ASSERT_TRUE(restored.ok()) << restored.status().ToString();
  EXPECT_TRUE(*restored == acc);
}

TEST(Accumulator, LastNStateMustBeInEventTimeOrder) {
  const AggregationSpec last = Spec(AggregationFn::kLastN, 0, 3);
  Result<Accumulator> bad =
      Accumulator::FromState(last, json::parse(R"({"entries":[[5,"a"],[1,"b"]]})"));
  EXPECT_FALSE(bad.ok());
}

// The session record's text is written directly (AppendValue); it must be
// the bytes of the document Value() builds, for every fn and awkward values.
TEST(Accumulator, ValueTextWrittenDirectlyIsTheDumpOfTheValue) {
  const json values[] = {"Paris", "Z\u00fcrich", "quote\"back\\slash", "tab\tnew\nline\u0001",
                         json::object({{"b", 2}, {"a", {1, 2.5}}}), 7, 2.5, -1, 1e300, 1e-7,
                         json(9007199254740993ULL), std::numeric_limits<double>::infinity(),
                         true, json::array(), nullptr};
  const AggregationSpec specs[] = {
      Spec(AggregationFn::kCount), Spec(AggregationFn::kSum), Spec(AggregationFn::kAvg),
      Spec(AggregationFn::kMin), Spec(AggregationFn::kMax), Spec(AggregationFn::kDistinctCount),
      Spec(AggregationFn::kTopK, 3), Spec(AggregationFn::kLastN, 0, 4)};
  std::mt19937 rng(5);
  for (const AggregationSpec& spec : specs) {
    Accumulator acc(spec);
    for (int step = 0; step < 60; ++step) {
      std::string text;
      acc.AppendValue(&text);
      ASSERT_EQ(text, acc.Value().dump(-1, ' ', false, json::error_handler_t::replace))
          << "fn " << static_cast<int>(spec.fn) << ", step " << step;
      const json& v = values[rng() % std::size(values)];
      acc.Add(&v, static_cast<int64_t>(rng() % 10));
    }
  }
}

TEST(Aggregator, ResolvesFieldsAndWritesResultsInSpecOrder) {
  std::vector<AggregationSpec> specs;
  auto add = [&](const char* name, AggregationFn fn, const char* field, int32_t k = 0,
                 int32_t n = 0) {
    AggregationSpec spec = Spec(fn, k, n);
    spec.name = name;
    if (field != nullptr) spec.field = *JsonPointer::Parse(field);
    specs.push_back(spec);
  };
  add("zeta_events", AggregationFn::kCount, nullptr);
  add("cities", AggregationFn::kDistinctCount, "/attributes/city");
  add("alpha_total", AggregationFn::kSum, "/attributes/price");
  add("last", AggregationFn::kLastN, "/attributes/city", 0, 1);
  const Aggregator aggregator(specs);
  Aggregates state = aggregator.Empty();
  aggregator.Add(json::parse(R"({"attributes":{"city":"Paris","price":10}})"), 1, &state);
  aggregator.Add(json::parse(R"({"attributes":{"city":"Rome"}})"), 2, &state);
  aggregator.Add(json::parse(R"({"attributes":{}})"), 3, &state);
  EXPECT_EQ(aggregator.ResultJson(state),
            R"({"zeta_events":3,"cities":2,"alpha_total":10,"last":["Rome"]})");
  Result<Aggregates> restored = aggregator.FromState(json::parse(aggregator.ToState(state).dump()));
  ASSERT_TRUE(restored.ok()) << restored.status().ToString();
  EXPECT_EQ(aggregator.ResultJson(*restored), aggregator.ResultJson(state));
  EXPECT_FALSE(aggregator.FromState(json::array()).ok());
}

}  // namespace
}  // namespace usp

namespace usp {
namespace {

AggregationSpec FieldSpec(AggregationFn fn, const char* field, int32_t k = 0, int32_t n = 0) {
  AggregationSpec spec;
  spec.name = "a";
  spec.fn = fn;
  spec.k = k;
  spec.n = n;
  if (field != nullptr) spec.field = *JsonPointer::Parse(field);
  return spec;
}

// What the session job feeds the aggregator (only the fields it reads,
// converted from the simdjson parse) adds up to what the whole record parsed
// by nlohmann adds up to: same kinds of numbers, the last of duplicate keys,
// array items by index, missing paths ignored.
TEST(Aggregator, ExtractedFieldsAddUpLikeTheWholeRecord) {
  const std::vector<std::vector<AggregationSpec>> jobs = {
      {FieldSpec(AggregationFn::kCount, nullptr), FieldSpec(AggregationFn::kSum, "/a/price"),
       FieldSpec(AggregationFn::kMax, "/a/price"), FieldSpec(AggregationFn::kMin, "/n"),
       FieldSpec(AggregationFn::kDistinctCount, "/a/city"),
       FieldSpec(AggregationFn::kTopK, "/list/1", 2), FieldSpec(AggregationFn::kAvg, "/a/x~1y"),
       FieldSpec(AggregationFn::kLastN, "/a", 0, 2), FieldSpec(AggregationFn::kCount, "/list/01")},
      {FieldSpec(AggregationFn::kLastN, nullptr, 0, 3), FieldSpec(AggregationFn::kSum, "/n")},
      {FieldSpec(AggregationFn::kDistinctCount, ""), FieldSpec(AggregationFn::kCount, "/missing")},
  };
  const char* records[] = {
      R"({"a": {"price": 5, "city": "Paris", "x/y": 2.5}, "n": -3, "list": [1, "two", {"b": 1}]})",
      R"({"a": {"price": 1e3, "city": {"z": 1, "y": [1, 2]}}, "n": 18446744073709551615})",
      R"({"a": {"price": -0, "city": "Rome", "city": "Oslo"}, "list": [null, null]})",
      R"({"a": [1, 2], "n": 9007199254740993, "list": "not a list"})",
      R"({"a": {"price": "5", "x/y": -1}, "n": 1.5, "list": [0, [1]]})",
      R"({})",
  };
  for (const auto& specs : jobs) {
    Aggregator aggregator(specs);
    Aggregates whole = aggregator.Empty();
    Aggregates extracted = aggregator.Empty();
    simdjson::dom::parser parser;
    int64_t t = 0;
    for (const char* text : records) {
      SCOPED_TRACE(text);
      aggregator.Add(nlohmann::json::parse(text), ++t, &whole);
      simdjson::dom::element doc;
      ASSERT_FALSE(parser.parse(text, std::strlen(text)).get(doc));
      nlohmann::json fields = nlohmann::json::object();
      aggregator.ExtractFields(doc, &fields);
      aggregator.Add(fields, t, &extracted);
      ASSERT_EQ(aggregator.ToState(extracted).dump(), aggregator.ToState(whole).dump());
      ASSERT_EQ(aggregator.ResultJson(extracted), aggregator.ResultJson(whole));
    }
  }
}

}  // namespace
}  // namespace usp
