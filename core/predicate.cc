#include "core/predicate.h"

#include <cmath>
#include <optional>
#include <string_view>
#include <utility>

namespace usp {
namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

enum class Op { kEq, kNe, kGt, kGte, kLt, kLte, kIn, kExists, kPrefix };

constexpr std::pair<std::string_view, Op> kOps[] = {
    {"eq", Op::kEq},   {"ne", Op::kNe},         {"gt", Op::kGt},
    {"gte", Op::kGte}, {"lt", Op::kLt},         {"lte", Op::kLte},
    {"in", Op::kIn},   {"exists", Op::kExists}, {"prefix", Op::kPrefix},
};
constexpr const char* kOpList = "eq, ne, gt, gte, lt, lte, in, exists, prefix";

const char* OpName(Op op) {
  for (const auto& [name, value] : kOps) {
    if (value == op) return name.data();
  }
  return "?";
}

// A number from either side of a comparison, kept in its exact representation
// so that large integers do not lose precision through double.
struct Number {
  enum class Kind { kInt, kUint, kDouble } kind;
  int64_t i = 0;
  uint64_t u = 0;
  double d = 0;

  double AsDouble() const {
    switch (kind) {
      case Kind::kInt:
        return static_cast<double>(i);
      case Kind::kUint:
        return static_cast<double>(u);
      case Kind::kDouble:
        return d;
    }
    return d;
  }
};

template <typename T>
int Cmp(T a, T b) {
  return a < b ? -1 : (b < a ? 1 : 0);
}

// nullopt when incomparable (NaN).
std::optional<int> CompareNumbers(const Number& a, const Number& b) {
  using K = Number::Kind;
  if (a.kind == K::kDouble || b.kind == K::kDouble) {
    const double x = a.AsDouble();
    const double y = b.AsDouble();
    if (std::isnan(x) || std::isnan(y)) return std::nullopt;
    return Cmp(x, y);
  }
  if (a.kind == K::kInt && b.kind == K::kInt) return Cmp(a.i, b.i);
  if (a.kind == K::kUint && b.kind == K::kUint) return Cmp(a.u, b.u);
  if (a.kind == K::kInt) return a.i < 0 ? -1 : Cmp(static_cast<uint64_t>(a.i), b.u);
  return b.i < 0 ? 1 : Cmp(a.u, static_cast<uint64_t>(b.i));
}

std::optional<Number> ElementNumber(element e) {
  Number n{Number::Kind::kInt};
  switch (e.type()) {
    case element_type::INT64:
      n.i = e.get_int64().value_unsafe();
      return n;
    case element_type::UINT64:
      n.kind = Number::Kind::kUint;
      n.u = e.get_uint64().value_unsafe();
      return n;
    case element_type::DOUBLE:
      n.kind = Number::Kind::kDouble;
      n.d = e.get_double().value_unsafe();
      return n;
    default:
      return std::nullopt;
  }
}

// A constant operand of a comparison.
struct Constant {
  enum class Kind { kNull, kBool, kNumber, kString } kind = Kind::kNull;
  bool boolean = false;
  Number number{Number::Kind::kInt};
  std::string string;

  static std::optional<Constant> FromJson(const nlohmann::json& j) {
    Constant c;
    if (j.is_null()) {
      c.kind = Kind::kNull;
    } else if (j.is_boolean()) {
      c.kind = Kind::kBool;
      c.boolean = j.get<bool>();
    } else if (j.is_number_unsigned()) {
      c.kind = Kind::kNumber;
      c.number.kind = Number::Kind::kUint;
      c.number.u = j.get<uint64_t>();
    } else if (j.is_number_integer()) {
      c.kind = Kind::kNumber;
      c.number.i = j.get<int64_t>();
    } else if (j.is_number_float()) {
      c.kind = Kind::kNumber;
      c.number.kind = Number::Kind::kDouble;
      c.number.d = j.get<double>();
    } else if (j.is_string()) {
      c.kind = Kind::kString;
      c.string = j.get<std::string>();
    } else {
      return std::nullopt;
    }
    return c;
  }

  // Ordering of `e` relative to this constant; nullopt on a type mismatch.
  std::optional<int> CompareFrom(element e) const {
    switch (kind) {
      case Kind::kNumber: {
        const std::optional<Number> n = ElementNumber(e);
        if (!n) return std::nullopt;
        return CompareNumbers(*n, number);
      }
      case Kind::kString: {
        std::string_view s;
        if (e.get_string().get(s)) return std::nullopt;
        const int c = s.compare(string);
        return c < 0 ? -1 : (c > 0 ? 1 : 0);
      }
      case Kind::kBool: {
        bool b = false;
        if (e.get_bool().get(b)) return std::nullopt;
        return Cmp(b, boolean);
      }
      case Kind::kNull:
        if (e.type() != element_type::NULL_VALUE) return std::nullopt;
        return 0;
    }
    return std::nullopt;
  }

  bool EqualTo(element e) const {
    const std::optional<int> c = CompareFrom(e);
    return c && *c == 0;
  }
};

class ComparisonPredicate final : public Predicate {
 public:
  ComparisonPredicate(JsonPointer field, Op op, std::vector<Constant> operands, bool exists,
                      nlohmann::json value)
      : field_(std::move(field)),
        op_(op),
        operands_(std::move(operands)),
        exists_(exists),
        value_(std::move(value)) {}

  bool Evaluate(element event) const override {
    const std::optional<element> found = field_.Resolve(event);
    switch (op_) {
      case Op::kExists:
        return found.has_value() == exists_;
      case Op::kNe:
        // `ne` is the negation of `eq`: a missing field or another type is "not equal".
        return !found || !operands_[0].EqualTo(*found);
      default:
        break;
    }
    if (!found) return false;
    switch (op_) {
      case Op::kEq:
        return operands_[0].EqualTo(*found);
      case Op::kGt:
      case Op::kGte:
      case Op::kLt:
      case Op::kLte: {
        const std::optional<int> c = operands_[0].CompareFrom(*found);
        if (!c) return false;
        if (op_ == Op::kGt) return *c > 0;
        if (op_ == Op::kGte) return *c >= 0;
        if (op_ == Op::kLt) return *c < 0;
        return *c <= 0;
      }
      case Op::kIn:
        for (const Constant& c : operands_) {
          if (c.EqualTo(*found)) return true;
        }
        return false;
      case Op::kPrefix: {
        std::string_view s;
        if (found->get_string().get(s)) return false;
        return s.substr(0, operands_[0].string.size()) == operands_[0].string;
      }
      default:
        return false;
    }
  }

  nlohmann::json ToJson() const override {
    nlohmann::json j = {{"field", field_.text()}, {"op", OpName(op_)}};
    j["value"] = op_ == Op::kExists ? nlohmann::json(exists_) : value_;
    return j;
  }

 private:
  JsonPointer field_;
  Op op_;
  std::vector<Constant> operands_;  // one, or the list of `in`
  bool exists_;
  nlohmann::json value_;
};

class AllPredicate final : public Predicate {
 public:
  explicit AllPredicate(std::vector<PredicatePtr> children) : children_(std::move(children)) {}
  bool Evaluate(element event) const override {
    for (const PredicatePtr& c : children_) {
      if (!c->Evaluate(event)) return false;
    }
    return true;
  }
  nlohmann::json ToJson() const override {
    nlohmann::json list = nlohmann::json::array();
    for (const PredicatePtr& c : children_) list.push_back(c->ToJson());
    return {{"all", std::move(list)}};
  }

 private:
  std::vector<PredicatePtr> children_;
};

class AnyPredicate final : public Predicate {
 public:
  explicit AnyPredicate(std::vector<PredicatePtr> children) : children_(std::move(children)) {}
  bool Evaluate(element event) const override {
    for (const PredicatePtr& c : children_) {
      if (c->Evaluate(event)) return true;
    }
    return false;
  }
  nlohmann::json ToJson() const override {
    nlohmann::json list = nlohmann::json::array();
    for (const PredicatePtr& c : children_) list.push_back(c->ToJson());
    return {{"any", std::move(list)}};
  }

 private:
  std::vector<PredicatePtr> children_;
};

class NotPredicate final : public Predicate {
 public:
  explicit NotPredicate(PredicatePtr child) : child_(std::move(child)) {}
  bool Evaluate(element event) const override { return !child_->Evaluate(event); }
  nlohmann::json ToJson() const override { return {{"not", child_->ToJson()}}; }

 private:
  PredicatePtr child_;
};

PredicatePtr CompileList(const nlohmann::json& spec, const std::string& key,
                         const std::string& path, FieldErrors* errors) {
  const std::string list_path = path + "." + key;
  const nlohmann::json& list = spec.at(key);
  if (!list.is_array()) {
    errors->push_back({list_path, "must be a list"});
    return nullptr;
  }
  std::vector<PredicatePtr> children;
  bool ok = true;
  for (size_t i = 0; i < list.size(); ++i) {
    PredicatePtr child =
        Predicate::Compile(list[i], list_path + "[" + std::to_string(i) + "]", errors);
    if (!child) ok = false;
    children.push_back(std::move(child));
  }
  if (!ok) return nullptr;
  if (key == "all") return std::make_shared<AllPredicate>(std::move(children));
  return std::make_shared<AnyPredicate>(std::move(children));
}

PredicatePtr CompileComparison(const nlohmann::json& spec, const std::string& path,
                               FieldErrors* errors) {
  const size_t errors_before = errors->size();
  for (const auto& [key, unused] : spec.items()) {
    if (key != "field" && key != "op" && key != "value") {
      errors->push_back({path + "." + key, "unknown field"});
    }
  }

  JsonPointer field;
  auto field_it = spec.find("field");
  if (field_it == spec.end()) {
    errors->push_back({path + ".field", "required"});
  } else if (!field_it->is_string()) {
    errors->push_back({path + ".field", "must be a string"});
  } else {
    const std::string text = field_it->get<std::string>();
    Result<JsonPointer> pointer = JsonPointer::Parse(text);
    if (pointer.ok()) {
      field = std::move(pointer.value());
    } else {
      errors->push_back({path + ".field",
                         "invalid JSON pointer \"" + text + "\": " + pointer.status().message()});
    }
  }

  std::optional<Op> op;
  auto op_it = spec.find("op");
  if (op_it == spec.end()) {
    errors->push_back({path + ".op", "required"});
  } else if (!op_it->is_string()) {
    errors->push_back({path + ".op", "must be a string"});
  } else {
    const std::string name = op_it->get<std::string>();
    for (const auto& [op_name, value] : kOps) {
      if (op_name == name) op = value;
    }
    if (!op) errors->push_back({path + ".op", std::string("must be one of ") + kOpList});
  }

  const std::string value_path = path + ".value";
  auto value_it = spec.find("value");
  const bool has_value = value_it != spec.end();
  std::vector<Constant> operands;
  bool exists = true;
  nlohmann::json value = has_value ? *value_it : nlohmann::json();
  if (op) {
    switch (*op) {
      case Op::kExists:
        if (has_value) {
          if (!value.is_boolean()) {
            errors->push_back({value_path, "must be a boolean"});
          } else {
            exists = value.get<bool>();
          }
        }
        break;
      case Op::kIn:
        if (!has_value) {
          errors->push_back({value_path, "required"});
        } else if (!value.is_array()) {
          errors->push_back({value_path, "must be a list"});
        } else {
          for (size_t i = 0; i < value.size(); ++i) {
            std::optional<Constant> c = Constant::FromJson(value[i]);
            if (!c) {
              errors->push_back({value_path + "[" + std::to_string(i) + "]",
                                 "must be a string, number, boolean or null"});
            } else {
              operands.push_back(std::move(*c));
            }
          }
        }
        break;
      case Op::kPrefix:
        if (!has_value) {
          errors->push_back({value_path, "required"});
        } else if (!value.is_string()) {
          errors->push_back({value_path, "must be a string"});
        } else {
          operands.push_back(*Constant::FromJson(value));
        }
        break;
      case Op::kGt:
      case Op::kGte:
      case Op::kLt:
      case Op::kLte:
        if (!has_value) {
          errors->push_back({value_path, "required"});
        } else if (!value.is_number() && !value.is_string()) {
          errors->push_back({value_path, "must be a number or a string"});
        } else {
          operands.push_back(*Constant::FromJson(value));
        }
        break;
      case Op::kEq:
      case Op::kNe:
        if (!has_value) {
          errors->push_back({value_path, "required"});
        } else if (std::optional<Constant> c = Constant::FromJson(value); !c) {
          errors->push_back({value_path, "must be a string, number, boolean or null"});
        } else {
          operands.push_back(std::move(*c));
        }
        break;
    }
  }
  if (errors->size() != errors_before) return nullptr;
  return std::make_shared<ComparisonPredicate>(std::move(field), *op, std::move(operands), exists,
                                               std::move(value));
}

}  // namespace

PredicatePtr Predicate::Compile(const nlohmann::json& spec, const std::string& path,
                                FieldErrors* errors) {
  if (!spec.is_object()) {
    errors->push_back({path, "must be an object"});
    return nullptr;
  }
  const bool has_all = spec.contains("all");
  const bool has_any = spec.contains("any");
  const bool has_not = spec.contains("not");
  if (!has_all && !has_any && !has_not) return CompileComparison(spec, path, errors);

  if (spec.size() != 1) {
    errors->push_back({path, "must have exactly one of all, any, not, or field/op/value"});
    return nullptr;
  }
  if (has_all) return CompileList(spec, "all", path, errors);
  if (has_any) return CompileList(spec, "any", path, errors);
  PredicatePtr child = Compile(spec.at("not"), path + ".not", errors);
  if (!child) return nullptr;
  return std::make_shared<NotPredicate>(std::move(child));
}

}  // namespace usp
