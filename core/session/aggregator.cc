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
    out += aggregates[i].Value().dump(-1, ' ', false, json::error_handler_t::replace);
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
