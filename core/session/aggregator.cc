#include "core/session/aggregator.h"

#include <cassert>

#include "core/signal_record.h"

namespace usp {

using nlohmann::json;

Aggregates Aggregator::Empty() const {
  Aggregates out;
  out.reserve(specs_.size());
  for (const AggregationSpec& spec : specs_) out.emplace_back(spec);
  return out;
}

void Aggregator::Add(const json& record, int64_t event_time_ms, Aggregates* into) const {
  assert(into->size() == specs_.size());
  for (size_t i = 0; i < specs_.size(); ++i) {
    const json* value = specs_[i].field ? specs_[i].field->Resolve(record) : &record;
    (*into)[i].Add(value, event_time_ms);
  }
}

namespace {

// A simdjson value as nlohmann's parser would have built it: non-negative
// integers unsigned, negative ones signed; of duplicate keys the last.
json ToNlohmann(simdjson::dom::element e) {
  switch (e.type()) {
    case simdjson::dom::element_type::ARRAY: {
      json out = json::array();
      simdjson::dom::array items;
      items = e.get_array().value_unsafe();
      for (simdjson::dom::element item : items) out.push_back(ToNlohmann(item));
      return out;
    }
    case simdjson::dom::element_type::OBJECT: {
      json out = json::object();
      simdjson::dom::object fields;
      fields = e.get_object().value_unsafe();
      for (simdjson::dom::key_value_pair field : fields) {
        out[std::string(field.key)] = ToNlohmann(field.value);
      }
      return out;
    }
    case simdjson::dom::element_type::INT64: {
      const int64_t v = e.get_int64().value_unsafe();
      return v >= 0 ? json(static_cast<uint64_t>(v)) : json(v);
    }
    case simdjson::dom::element_type::UINT64:
      return json(e.get_uint64().value_unsafe());
    case simdjson::dom::element_type::DOUBLE:
      return json(e.get_double().value_unsafe());
    case simdjson::dom::element_type::STRING:
      return json(std::string(e.get_string().value_unsafe()));
    case simdjson::dom::element_type::BOOL:
      return json(e.get_bool().value_unsafe());
    case simdjson::dom::element_type::NULL_VALUE:
      return json(nullptr);
  }
  return json(nullptr);
}

// Copies the value at `pointer` in `doc` to the same path under *out,
// creating the objects and arrays on the way.
void CopyAt(simdjson::dom::element doc, const JsonPointer& pointer, json* out) {
  simdjson::dom::element current = doc;
  json* node = out;
  for (const std::string& token : pointer.tokens()) {
    if (current.type() == simdjson::dom::element_type::OBJECT) {
      bool found = false;
      simdjson::dom::element next;
      simdjson::dom::object fields;
      fields = current.get_object().value_unsafe();
      for (simdjson::dom::key_value_pair field : fields) {
        if (field.key == token) {
          next = field.value;  // the last of duplicate keys, as nlohmann keeps it
          found = true;
        }
      }
      if (!found) return;
      if (!node->is_object()) *node = json::object();
      node = &(*node)[token];
      current = next;
    } else if (current.type() == simdjson::dom::element_type::ARRAY) {
      const std::optional<size_t> index = JsonPointer::ArrayIndex(token);
      if (!index) return;
      simdjson::dom::element next;
      simdjson::dom::array items;
      items = current.get_array().value_unsafe();
      if (items.at(*index).get(next)) return;
      if (!node->is_array()) *node = json::array();
      node = &(*node)[*index];  // earlier items stay null: nothing reads them
      current = next;
    } else {
      return;
    }
  }
  *node = ToNlohmann(current);
}

}  // namespace

void Aggregator::ExtractFields(simdjson::dom::element record, json* out) const {
  bool whole = false;
  for (const AggregationSpec& spec : specs_) {
    if (spec.field ? spec.field->is_root() : spec.fn == AggregationFn::kLastN) whole = true;
  }
  if (whole) {
    *out = ToNlohmann(record);
    return;
  }
  for (const AggregationSpec& spec : specs_) {
    if (spec.field) CopyAt(record, *spec.field, out);
  }
}

void Aggregator::Merge(const Aggregates& from, Aggregates* into) const {
  assert(from.size() == specs_.size() && into->size() == specs_.size());
  for (size_t i = 0; i < specs_.size(); ++i) (*into)[i].Merge(from[i]);
}

std::string Aggregator::ResultJson(const Aggregates& aggregates) const {
  std::string out = "{";
  for (size_t i = 0; i < specs_.size(); ++i) {
    if (i > 0) out.push_back(',');
    AppendJsonString(specs_[i].name, &out);
    out.push_back(':');
    aggregates[i].AppendValue(&out);
  }
  out.push_back('}');
  return out;
}

bool Aggregator::Saturated(const Aggregates& aggregates) const {
  for (const Accumulator& acc : aggregates) {
    if (acc.saturated()) return true;
  }
  return false;
}

json Aggregator::ToState(const Aggregates& aggregates) const {
  json out = json::array();
  for (const Accumulator& acc : aggregates) out.push_back(acc.ToState());
  return out;
}

void Aggregator::AppendState(const Aggregates& aggregates, std::string* out) const {
  out->push_back('[');
  for (size_t i = 0; i < aggregates.size(); ++i) {
    if (i > 0) out->push_back(',');
    aggregates[i].AppendState(out);
  }
  out->push_back(']');
}

Result<Aggregates> Aggregator::FromState(const json& state) const {
  if (!state.is_array() || state.size() != specs_.size()) {
    return Status::InvalidArgument("aggregates state must be a list of " +
                                   std::to_string(specs_.size()) + " accumulators");
  }
  Aggregates out;
  out.reserve(specs_.size());
  for (size_t i = 0; i < specs_.size(); ++i) {
    Result<Accumulator> acc = Accumulator::FromState(specs_[i], state[i]);
    if (!acc.ok()) return acc.status();
    out.push_back(std::move(acc.value()));
  }
  return out;
}

}  // namespace usp
