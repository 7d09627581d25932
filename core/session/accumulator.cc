#include "core/session/accumulator.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <limits>

#include "core/session/state_text.h"

namespace usp {
namespace {

using nlohmann::json;

// Canonical compact text of a value: the identity distinct_count and top_k
// count by. Object keys are sorted by nlohmann; invalid UTF-8 becomes U+FFFD
// rather than throwing.
std::string CanonicalText(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

// The `limit` values with the highest counts, highest first. `counts` is
// ordered by text, so the stable sort keeps text order on ties.
template <typename Counts>
std::vector<std::pair<const std::string*, int64_t>> TopByCount(const Counts& counts,
                                                               int32_t limit) {
  std::vector<std::pair<const std::string*, int64_t>> ranked;
  ranked.reserve(counts.size());
  for (const auto& [text, count] : counts) ranked.emplace_back(&text, count);
  std::stable_sort(ranked.begin(), ranked.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  ranked.resize(std::min(ranked.size(), static_cast<size_t>(std::max(limit, 0))));
  return ranked;
}

// Doubles in state: JSON has no inf/nan, so those travel as strings.
json DoubleToState(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  return d;
}

double DoubleFromState(const json& v) {
  if (v.is_string()) {
    const std::string s = v.get<std::string>();
    if (s == "inf") return std::numeric_limits<double>::infinity();
    if (s == "-inf") return -std::numeric_limits<double>::infinity();
    return std::numeric_limits<double>::quiet_NaN();
  }
  return v.get<double>();
}

long double AsLongDouble(const json& v) {
  if (v.is_number_unsigned()) return static_cast<long double>(v.get<uint64_t>());
  if (v.is_number_integer()) return static_cast<long double>(v.get<int64_t>());
  return static_cast<long double>(v.get<double>());
}

template <typename... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <typename... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

}  // namespace

int Accumulator::CompareNumbers(const json& a, const json& b) {
  if (a.is_number_float() || b.is_number_float()) {
    // long double holds every int64/uint64 exactly (64-bit mantissa or more).
    const long double x = AsLongDouble(a);
    const long double y = AsLongDouble(b);
    return x < y ? -1 : (x > y ? 1 : 0);
  }
  const bool a_unsigned = a.is_number_unsigned();
  const bool b_unsigned = b.is_number_unsigned();
  if (!a_unsigned && !b_unsigned) {
    const int64_t x = a.get<int64_t>();
    const int64_t y = b.get<int64_t>();
    return x < y ? -1 : (x > y ? 1 : 0);
  }
  if (!a_unsigned && a.get<int64_t>() < 0) return -1;
  if (!b_unsigned && b.get<int64_t>() < 0) return 1;
  const uint64_t x = a_unsigned ? a.get<uint64_t>() : static_cast<uint64_t>(a.get<int64_t>());
  const uint64_t y = b_unsigned ? b.get<uint64_t>() : static_cast<uint64_t>(b.get<int64_t>());
  return x < y ? -1 : (x > y ? 1 : 0);
}

void Accumulator::Sum::ToDouble() {
  if (is_double) return;
  is_double = true;
  double_sum = static_cast<double>(int_sum);
  int_sum = 0;
}

void Accumulator::Sum::Add(const json& number) {
  if (!is_double && number.is_number_integer()) {
    if (number.is_number_unsigned() &&
        number.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      ToDouble();
      double_sum += static_cast<double>(number.get<uint64_t>());
      return;
    }
    const int64_t x = number.is_number_unsigned() ? static_cast<int64_t>(number.get<uint64_t>())
                                                  : number.get<int64_t>();
    int64_t result = 0;
    if (!__builtin_add_overflow(int_sum, x, &result)) {
      int_sum = result;
      return;
    }
    ToDouble();
    double_sum += static_cast<double>(x);
    return;
  }
  ToDouble();
  double_sum += number.is_number_unsigned()  ? static_cast<double>(number.get<uint64_t>())
                : number.is_number_integer() ? static_cast<double>(number.get<int64_t>())
                                             : number.get<double>();
}

void Accumulator::Sum::Merge(const Sum& other) {
  if (!is_double && !other.is_double) {
    int64_t result = 0;
    if (!__builtin_add_overflow(int_sum, other.int_sum, &result)) {
      int_sum = result;
      return;
    }
  }
  const double add = other.AsDouble();
  ToDouble();
  double_sum += add;
}

Accumulator::State Accumulator::EmptyState(AggregationFn fn) {
  switch (fn) {
    case AggregationFn::kCount:
      return Count{};
    case AggregationFn::kSum:
      return Sum{};
    case AggregationFn::kAvg:
      return Avg{};
    case AggregationFn::kMin:
    case AggregationFn::kMax:
      return Extreme{};
    case AggregationFn::kDistinctCount:
      return Distinct{};
    case AggregationFn::kTopK:
      return TopK{};
    case AggregationFn::kLastN:
      return LastN{};
  }
  return Count{};
}

Accumulator::Accumulator(const AggregationSpec& spec)
    : fn_(spec.fn),
      limit_(spec.fn == AggregationFn::kTopK    ? spec.k
             : spec.fn == AggregationFn::kLastN ? spec.n
                                                : 0),
      state_(EmptyState(spec.fn)) {}

AggregationFn Accumulator::fn() const { return fn_; }

void Accumulator::Add(const json* value, int64_t event_time_ms) {
  if (value == nullptr || value->is_null()) return;
  const bool number = value->is_number();
  std::visit(Overloaded{
                 [&](Count& s) { ++s.count; },
                 [&](Sum& s) {
                   if (number) s.Add(*value);
                 },
                 [&](Avg& s) {
                   if (!number) return;
                   s.sum.Add(*value);
                   ++s.count;
                 },
                 [&](Extreme& s) {
                   if (!number) return;
                   const int sign = fn_ == AggregationFn::kMin ? -1 : 1;
                   if (!s.best || CompareNumbers(*value, *s.best) == sign) s.best = *value;
                 },
                 [&](Distinct& s) {
                   std::string text = CanonicalText(*value);
                   if (s.values.size() >= kMaxTrackedValues && !s.values.contains(text)) {
                     s.saturated = true;
                     return;
                   }
                   s.values.insert(std::move(text));
                 },
                 [&](TopK& s) {
                   std::string text = CanonicalText(*value);
                   auto it = s.counts.find(text);
                   if (it != s.counts.end()) {
                     ++it->second;
                   } else if (s.counts.size() >= kMaxTrackedValues) {
                     s.saturated = true;
                   } else {
                     s.counts.emplace(std::move(text), 1);
                   }
                 },
                 [&](LastN& s) {
                   // After every entry with time <= event_time: arrival order on ties.
                   auto pos = std::upper_bound(
                       s.entries.begin(), s.entries.end(), event_time_ms,
                       [](int64_t t, const auto& entry) { return t < entry.first; });
                   s.entries.insert(pos, {event_time_ms, *value});
                   Trim();
                 },
             },
             state_);
}

void Accumulator::Trim() {
  auto* last = std::get_if<LastN>(&state_);
  if (last == nullptr || last->entries.size() <= static_cast<size_t>(limit_)) return;
  last->entries.erase(last->entries.begin(),
                      last->entries.end() - static_cast<std::ptrdiff_t>(limit_));
}

void Accumulator::Merge(const Accumulator& other) {
  assert(fn_ == other.fn_ && limit_ == other.limit_);
  std::visit(Overloaded{
                 [&](Count& s) { s.count += std::get<Count>(other.state_).count; },
                 [&](Sum& s) { s.Merge(std::get<Sum>(other.state_)); },
                 [&](Avg& s) {
                   const Avg& o = std::get<Avg>(other.state_);
                   s.sum.Merge(o.sum);
                   s.count += o.count;
                 },
                 [&](Extreme& s) {
                   const Extreme& o = std::get<Extreme>(other.state_);
                   const int sign = fn_ == AggregationFn::kMin ? -1 : 1;
                   if (o.best && (!s.best || CompareNumbers(*o.best, *s.best) == sign)) {
                     s.best = o.best;
                   }
                 },
                 [&](Distinct& s) {
                   const Distinct& o = std::get<Distinct>(other.state_);
                   s.saturated = s.saturated || o.saturated;
                   for (const std::string& text : o.values) {
                     if (s.values.size() >= kMaxTrackedValues && !s.values.contains(text)) {
                       s.saturated = true;
                       continue;
                     }
                     s.values.insert(text);
                   }
                 },
                 [&](TopK& s) {
                   const TopK& o = std::get<TopK>(other.state_);
                   s.saturated = s.saturated || o.saturated;
                   for (const auto& [text, count] : o.counts) {
                     auto it = s.counts.find(text);
                     if (it != s.counts.end()) {
                       it->second += count;
                     } else if (s.counts.size() >= kMaxTrackedValues) {
                       s.saturated = true;
                     } else {
                       s.counts.emplace(text, count);
                     }
                   }
                 },
                 [&](LastN& s) {
                   const LastN& o = std::get<LastN>(other.state_);
                   std::vector<std::pair<int64_t, json>> merged;
                   merged.reserve(s.entries.size() + o.entries.size());
                   // std::merge is stable: on equal times ours come first.
                   std::merge(s.entries.begin(), s.entries.end(), o.entries.begin(),
                              o.entries.end(), std::back_inserter(merged),
                              [](const auto& a, const auto& b) { return a.first < b.first; });
                   s.entries = std::move(merged);
                   Trim();
                 },
             },
             state_);
}

json Accumulator::Value() const {
  return std::visit(
      Overloaded{
          [](const Count& s) -> json { return s.count; },
          [](const Sum& s) -> json { return s.is_double ? json(s.double_sum) : json(s.int_sum); },
          [](const Avg& s) -> json {
            if (s.count == 0) return nullptr;
            return s.sum.AsDouble() / static_cast<double>(s.count);
          },
          [](const Extreme& s) -> json { return s.best ? *s.best : json(nullptr); },
          [](const Distinct& s) -> json { return s.values.size(); },
          [&](const TopK& s) -> json {
            json out = json::array();
            for (const auto& [text, count] : TopByCount(s.counts, limit_)) {
              json value = json::parse(*text, nullptr, /*allow_exceptions=*/false);
              out.push_back({{"value", std::move(value)}, {"count", count}});
            }
            return out;
          },
          [](const LastN& s) -> json {
            json out = json::array();
            for (auto it = s.entries.rbegin(); it != s.entries.rend(); ++it) {
              out.push_back(it->second);
            }
            return out;
          },
      },
      state_);
}

void Accumulator::AppendValue(std::string* out) const {
  using session_internal::AppendInt;
  using session_internal::AppendValue;
  std::visit(Overloaded{
                 [&](const Count& s) { AppendInt(s.count, out); },
                 [&](const Sum& s) {
                   if (s.is_double) {
                     AppendValue(json(s.double_sum), out);
                   } else {
                     AppendInt(s.int_sum, out);
                   }
                 },
                 [&](const Avg& s) {
                   if (s.count == 0) {
                     out->append("null");
                   } else {
                     AppendValue(json(s.sum.AsDouble() / static_cast<double>(s.count)), out);
                   }
                 },
                 [&](const Extreme& s) {
                   if (s.best) {
                     AppendValue(*s.best, out);
                   } else {
                     out->append("null");
                   }
                 },
                 [&](const Distinct& s) { AppendInt(static_cast<int64_t>(s.values.size()), out); },
                 [&](const TopK& s) {
                   out->push_back('[');
                   bool first = true;
                   for (const auto& [text, count] : TopByCount(s.counts, limit_)) {
                     if (!first) out->push_back(',');
                     first = false;
                     // {"count","value"}: nlohmann's key order. The value's
                     // text is its canonical dump already (CanonicalText).
                     out->append("{\"count\":");
                     AppendInt(count, out);
                     out->append(",\"value\":");
                     out->append(*text);
                     out->push_back('}');
                   }
                   out->push_back(']');
                 },
                 [&](const LastN& s) {
                   out->push_back('[');
                   for (auto it = s.entries.rbegin(); it != s.entries.rend(); ++it) {
                     if (it != s.entries.rbegin()) out->push_back(',');
                     AppendValue(it->second, out);
                   }
                   out->push_back(']');
                 },
             },
             state_);
}

bool Accumulator::saturated() const {
  if (const auto* d = std::get_if<Distinct>(&state_)) return d->saturated;
  if (const auto* t = std::get_if<TopK>(&state_)) return t->saturated;
  return false;
}

bool Accumulator::operator==(const Accumulator& other) const {
  return fn_ == other.fn_ && limit_ == other.limit_ && state_ == other.state_;
}

json Accumulator::ToState() const {
  auto sum_state = [](const Sum& s, json* out) {
    (*out)["double"] = s.is_double;
    (*out)["sum"] = s.is_double ? DoubleToState(s.double_sum) : json(s.int_sum);
  };
  return std::visit(Overloaded{
                        [](const Count& s) -> json {
                          return {{"count", s.count}};
                        },
                        [&](const Sum& s) -> json {
                          json out = json::object();
                          sum_state(s, &out);
                          return out;
                        },
                        [&](const Avg& s) -> json {
                          json out = {{"count", s.count}};
                          sum_state(s.sum, &out);
                          return out;
                        },
                        [](const Extreme& s) -> json {
                          return {{"value", s.best ? *s.best : json(nullptr)}};
                        },
                        [](const Distinct& s) -> json {
                          return {{"values", s.values}, {"saturated", s.saturated}};
                        },
                        [](const TopK& s) -> json {
                          json counts = json::array();
                          for (const auto& [text, count] : s.counts) {
                            counts.push_back({text, count});
                          }
                          return {{"counts", std::move(counts)}, {"saturated", s.saturated}};
                        },
                        [](const LastN& s) -> json {
                          json entries = json::array();
                          for (const auto& [t, value] : s.entries) entries.push_back({t, value});
                          return {{"entries", std::move(entries)}};
                        },
                    },
                    state_);
}

void Accumulator::AppendState(std::string* out) const {
  using session_internal::AppendBool;
  using session_internal::AppendInt;
  using session_internal::AppendKey;
  using session_internal::AppendString;
  using session_internal::AppendValue;
  // Keys in sorted order, as nlohmann's objects dump them.
  auto sum_state = [&](const Sum& s) {
    AppendKey("double", out);
    AppendBool(s.is_double, out);
    out->push_back(',');
    AppendKey("sum", out);
    if (s.is_double) {
      AppendValue(DoubleToState(s.double_sum), out);
    } else {
      AppendInt(s.int_sum, out);
    }
  };
  out->push_back('{');
  std::visit(Overloaded{
                 [&](const Count& s) {
                   AppendKey("count", out);
                   AppendInt(s.count, out);
                 },
                 [&](const Sum& s) { sum_state(s); },
                 [&](const Avg& s) {
                   AppendKey("count", out);
                   AppendInt(s.count, out);
                   out->push_back(',');
                   sum_state(s.sum);
                 },
                 [&](const Extreme& s) {
                   AppendKey("value", out);
                   if (s.best) {
                     AppendValue(*s.best, out);
                   } else {
                     out->append("null");
                   }
                 },
                 [&](const Distinct& s) {
                   AppendKey("saturated", out);
                   AppendBool(s.saturated, out);
                   out->push_back(',');
                   AppendKey("values", out);
                   out->push_back('[');
                   bool first = true;
                   for (const std::string& v : s.values) {
                     if (!first) out->push_back(',');
                     first = false;
                     AppendString(v, out);
                   }
                   out->push_back(']');
                 },
                 [&](const TopK& s) {
                   AppendKey("counts", out);
                   out->push_back('[');
                   bool first = true;
                   for (const auto& [text, count] : s.counts) {
                     if (!first) out->push_back(',');
                     first = false;
                     out->push_back('[');
                     AppendString(text, out);
                     out->push_back(',');
                     AppendInt(count, out);
                     out->push_back(']');
                   }
                   out->append("],");
                   AppendKey("saturated", out);
                   AppendBool(s.saturated, out);
                 },
                 [&](const LastN& s) {
                   AppendKey("entries", out);
                   out->push_back('[');
                   bool first = true;
                   for (const auto& [t, value] : s.entries) {
                     if (!first) out->push_back(',');
                     first = false;
                     out->push_back('[');
                     AppendInt(t, out);
                     out->push_back(',');
                     AppendValue(value, out);
                     out->push_back(']');
                   }
                   out->push_back(']');
                 },
             },
             state_);
  out->push_back('}');
}

Result<Accumulator> Accumulator::FromState(const AggregationSpec& spec, const json& state) {
  Accumulator acc(spec);
  auto read_sum = [](const json& s, Sum* sum) {
    sum->is_double = s.at("double").get<bool>();
    if (sum->is_double) {
      sum->double_sum = DoubleFromState(s.at("sum"));
    } else {
      sum->int_sum = s.at("sum").get<int64_t>();
    }
  };
  // nlohmann reports a malformed state by throwing; this is the adapter.
  try {
    if (!state.is_object()) return Status::InvalidArgument("accumulator state must be an object");
    std::visit(
        Overloaded{
            [&](Count& s) { s.count = state.at("count").get<int64_t>(); },
            [&](Sum& s) { read_sum(state, &s); },
            [&](Avg& s) {
              read_sum(state, &s.sum);
              s.count = state.at("count").get<int64_t>();
            },
            [&](Extreme& s) {
              const json& v = state.at("value");
              if (!v.is_null()) {
                if (!v.is_number()) throw std::invalid_argument("value must be a number");
                s.best = v;
              }
            },
            [&](Distinct& s) {
              s.values = state.at("values").get<std::set<std::string>>();
              s.saturated = state.at("saturated").get<bool>();
            },
            [&](TopK& s) {
              for (const json& item : state.at("counts")) {
                s.counts[item.at(0).get<std::string>()] = item.at(1).get<int64_t>();
              }
              s.saturated = state.at("saturated").get<bool>();
            },
            [&](LastN& s) {
              for (const json& item : state.at("entries")) {
                s.entries.emplace_back(item.at(0).get<int64_t>(), item.at(1));
              }
              if (!std::is_sorted(s.entries.begin(), s.entries.end(),
                                  [](const auto& a, const auto& b) { return a.first < b.first; })) {
                throw std::invalid_argument("entries must be in event-time order");
              }
              acc.Trim();
            },
        },
        acc.state_);
  } catch (const std::exception& e) {
    return Status::InvalidArgument(std::string("bad ") + ToString(spec.fn) +
                                   " accumulator state: " + e.what());
  }
  return acc;
}

}  // namespace usp
