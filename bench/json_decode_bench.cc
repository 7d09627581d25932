// Which JSON parser belongs on the worker's hot path? For realistic events
// (bench_events.h: search / listing view / booking, 300-600 bytes) each
// benchmark does what the simple-signal transform does per event: parse,
// extract user_id and event_time (RFC 3339 or epoch ms), resolve the 4-5
// attribute pointers, and re-serialize the projected attributes as a compact
// JSON object. items_per_second is events/s. bench/run prints the ratios.
//
//   nlohmann      nlohmann::json::parse + usp::JsonPointer::Resolve + dump()
//   simdjson_dom  simdjson::dom::parser (payload copied into its padded buffer,
//                 as Kafka buffers carry no padding) + usp::JsonPointer::Resolve
//                 + usp::AppendElementJson
//   simdjson_ondemand  ondemand::parser over a padded copy + at_pointer +
//                 the raw JSON text of each value (no re-encoding)
//   signal_transform   usp::SignalTransform::Apply + AppendSignalRecordJson:
//                 the production code end to end (filters, event id, record)
//
// The parse_only_* benchmarks isolate parsing, to explain the totals. Before
// timing anything, main() checks that all decoders and SignalTransform agree
// on every event of the corpus (same user id, event time, attribute bytes).

#include <benchmark/benchmark.h>
#include <simdjson.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "bench/bench_events.h"
#include "core/event_time.h"
#include "core/json_pointer.h"
#include "core/signal_record.h"
#include "core/signal_transform.h"
#include "core/user_signal.h"

namespace usp::bench {
namespace {

constexpr int kCorpusSize = 3000;  // 1000 of each shape, interleaved

struct CorpusEvent {
  EventShape shape;
  std::string topic;
  std::string json;
};

struct Projection {
  std::vector<std::string> names;
  std::vector<JsonPointer> pointers;       // for nlohmann and the DOM
  std::vector<std::string> pointer_texts;  // for on-demand's at_pointer
};

const std::vector<CorpusEvent>& Corpus() {
  static const std::vector<CorpusEvent> corpus = [] {
    std::vector<CorpusEvent> events;
    std::mt19937_64 rng(7);
    const int64_t base_ms = 1795000000000;  // late 2026
    for (int i = 0; i < kCorpusSize; ++i) {
      EventShape shape = kAllShapes[i % 3];
      std::string user = "u";
      user += std::to_string(rng() % 100000);
      events.push_back({shape, std::string("events.") + ShapeName(shape),
                        MakeEvent(shape, user, base_ms + i * 1000, i, rng)});
    }
    return events;
  }();
  return corpus;
}

const Projection& ProjectionOf(EventShape shape) {
  static const std::vector<Projection> projections = [] {
    std::vector<Projection> all;
    for (EventShape s : kAllShapes) {
      // In name order, as a UserSignal's attribute map is emitted.
      std::vector<Attribute> attributes = ShapeAttributes(s);
      std::sort(attributes.begin(), attributes.end(), [](const Attribute& a, const Attribute& b) {
        return std::string_view(a.name) < std::string_view(b.name);
      });
      Projection p;
      for (const Attribute& a : attributes) {
        p.names.push_back(a.name);
        p.pointers.push_back(JsonPointer::Parse(a.pointer).value());
        p.pointer_texts.push_back(a.pointer);
      }
      all.push_back(std::move(p));
    }
    return all;
  }();
  return projections[static_cast<int>(shape)];
}

const JsonPointer& UserIdPointer() {
  static const JsonPointer p = JsonPointer::Parse("/user_id").value();
  return p;
}

const JsonPointer& EventTimePointer() {
  static const JsonPointer p = JsonPointer::Parse("/event_time").value();
  return p;
}

void SetCounters(benchmark::State& state, int64_t bytes) {
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(bytes);
  if (state.iterations() > 0) {
    state.counters["event_bytes"] = static_cast<double>(bytes) / state.iterations();
  }
}

// What every decoder extracts from one event.
struct Decoded {
  std::string user_id;
  int64_t event_time_ms = 0;
  std::string attributes;  // compact JSON object, attributes in name order
};

// ---------------------------------------------------------------- nlohmann

class NlohmannDecoder {
 public:
  bool Decode(const CorpusEvent& e, Decoded* out) {
    // No exceptions: a parse error yields a "discarded" value.
    nlohmann::json doc = nlohmann::json::parse(e.json, nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded()) return false;
    const nlohmann::json* uid = UserIdPointer().Resolve(doc);
    if (uid == nullptr || !uid->is_string()) return false;
    out->user_id = uid->get_ref<const std::string&>();
    const nlohmann::json* t = EventTimePointer().Resolve(doc);
    if (t == nullptr) return false;
    if (t->is_string()) {
      Result<int64_t> ms = ParseRfc3339Ms(t->get_ref<const std::string&>());
      if (!ms.ok()) return false;
      out->event_time_ms = *ms;
    } else if (t->is_number_integer()) {
      out->event_time_ms = t->get<int64_t>();
    } else {
      return false;
    }
    const Projection& p = ProjectionOf(e.shape);
    std::string& a = out->attributes;
    a.clear();
    a.push_back('{');
    for (size_t k = 0; k < p.names.size(); ++k) {
      if (k != 0) a.push_back(',');
      AppendJsonString(p.names[k], &a);
      a.push_back(':');
      const nlohmann::json* v = p.pointers[k].Resolve(doc);
      a.append(v != nullptr ? v->dump() : "null");
    }
    a.push_back('}');
    return true;
  }
};

// ------------------------------------------------------------ simdjson DOM

class DomDecoder {
 public:
  bool Decode(const CorpusEvent& e, Decoded* out) {
    simdjson::dom::element doc;
    // realloc_if_needed: copy into the parser's padded buffer.
    if (parser_.parse(e.json.data(), e.json.size(), true).get(doc)) return false;
    std::optional<simdjson::dom::element> uid = UserIdPointer().Resolve(doc);
    std::string_view uid_text;
    if (!uid || uid->get_string().get(uid_text)) return false;
    out->user_id.assign(uid_text);
    std::optional<simdjson::dom::element> t = EventTimePointer().Resolve(doc);
    if (!t) return false;
    Result<int64_t> ms = ParseEventTime(*t);
    if (!ms.ok()) return false;
    out->event_time_ms = *ms;
    const Projection& p = ProjectionOf(e.shape);
    std::string& a = out->attributes;
    a.clear();
    a.push_back('{');
    for (size_t k = 0; k < p.names.size(); ++k) {
      if (k != 0) a.push_back(',');
      AppendJsonString(p.names[k], &a);
      a.push_back(':');
      std::optional<simdjson::dom::element> v = p.pointers[k].Resolve(doc);
      if (v) {
        AppendElementJson(*v, &a);
      } else {
        a.append("null");
      }
    }
    a.push_back('}');
    return true;
  }

 private:
  simdjson::dom::parser parser_;
};

// ------------------------------------------------------- simdjson on-demand

// Appends the JSON text of an on-demand value as it appears in the input.
bool AppendRawValue(simdjson::ondemand::value value, std::string* out) {
  simdjson::ondemand::json_type type = simdjson::ondemand::json_type::null;
  if (value.type().get(type)) return false;
  std::string_view raw;
  if (type == simdjson::ondemand::json_type::object) {
    simdjson::ondemand::object obj;
    if (value.get_object().get(obj) || obj.raw_json().get(raw)) return false;
  } else if (type == simdjson::ondemand::json_type::array) {
    simdjson::ondemand::array arr;
    if (value.get_array().get(arr) || arr.raw_json().get(raw)) return false;
  } else {
    raw = value.raw_json_token();
  }
  // Tokens keep the whitespace that follows them.
  while (!raw.empty() &&
         (raw.back() == ' ' || raw.back() == '\n' || raw.back() == '\t' || raw.back() == '\r')) {
    raw.remove_suffix(1);
  }
  out->append(raw);
  return true;
}

class OnDemandDecoder {
 public:
  bool Decode(const CorpusEvent& e, Decoded* out) {
    // Kafka buffers carry no padding: copy each payload into a padded
    // buffer (the DOM parser does the same internally).
    if (e.json.size() + simdjson::SIMDJSON_PADDING > padded_.size()) {
      padded_.resize(e.json.size() + simdjson::SIMDJSON_PADDING);
    }
    std::memcpy(padded_.data(), e.json.data(), e.json.size());
    simdjson::ondemand::document doc;
    if (parser_.iterate(padded_.data(), e.json.size(), padded_.size()).get(doc)) return false;
    std::string_view uid;
    if (doc.at_pointer("/user_id").get_string().get(uid)) return false;
    out->user_id.assign(uid);  // string views die at the next at_pointer (rewind)
    simdjson::ondemand::value t;
    simdjson::ondemand::json_type time_type = simdjson::ondemand::json_type::null;
    if (doc.at_pointer("/event_time").get(t) || t.type().get(time_type)) return false;
    if (time_type == simdjson::ondemand::json_type::string) {
      std::string_view ts;
      if (t.get_string().get(ts)) return false;
      Result<int64_t> ms = ParseRfc3339Ms(ts);
      if (!ms.ok()) return false;
      out->event_time_ms = *ms;
    } else if (t.get_int64().get(out->event_time_ms)) {
      return false;
    }
    const Projection& p = ProjectionOf(e.shape);
    std::string& a = out->attributes;
    a.clear();
    a.push_back('{');
    for (size_t k = 0; k < p.names.size(); ++k) {
      if (k != 0) a.push_back(',');
      AppendJsonString(p.names[k], &a);
      a.push_back(':');
      simdjson::ondemand::value v;
      if (doc.at_pointer(p.pointer_texts[k]).get(v) || !AppendRawValue(v, &a)) {
        a.append("null");
      }
    }
    a.push_back('}');
    return true;
  }

 private:
  simdjson::ondemand::parser parser_;
  std::vector<char> padded_ = std::vector<char>(1024 + simdjson::SIMDJSON_PADDING);
};

template <typename Decoder>
void BM_decode(benchmark::State& state) {
  const auto& corpus = Corpus();
  Decoder decoder;
  Decoded decoded;
  int64_t bytes = 0;
  size_t i = 0;
  for (auto _ : state) {
    const CorpusEvent& e = corpus[i++ % corpus.size()];
    bytes += static_cast<int64_t>(e.json.size());
    if (!decoder.Decode(e, &decoded)) {
      state.SkipWithError("decode failed");
      break;
    }
    benchmark::DoNotOptimize(decoded.event_time_ms);
    benchmark::DoNotOptimize(decoded.attributes.data());
  }
  SetCounters(state, bytes);
}
BENCHMARK_TEMPLATE(BM_decode, NlohmannDecoder)->Name("decode/nlohmann");
BENCHMARK_TEMPLATE(BM_decode, DomDecoder)->Name("decode/simdjson_dom");
BENCHMARK_TEMPLATE(BM_decode, OnDemandDecoder)->Name("decode/simdjson_ondemand");

// ------------------------------------------------- usp::SignalTransform

UserSignal SignalFor(EventShape shape) {
  nlohmann::json attributes = nlohmann::json::object();
  for (const Attribute& a : ShapeAttributes(shape)) attributes[a.name] = a.pointer;
  nlohmann::json doc = {
      {"apiVersion", kApiVersion},
      {"kind", "UserSignal"},
      {"metadata",
       {{"name", shape == EventShape::kSearch        ? "searches"
                 : shape == EventShape::kListingView ? "listing-views"
                                                     : "bookings"}}},
      {"spec",
       {{"type", "simple"},
        {"eventSources", {{{"kafkaTopic", std::string("events.") + ShapeName(shape)}}}},
        {"eventIdField", "/event_id"},
        {"filter", {{"field", "/event_type"}, {"op", "eq"}, {"value", ShapeName(shape)}}},
        {"attributes", attributes}}}};
  FieldErrors errors;
  std::optional<UserSignal> signal = ParseUserSignal(doc, &errors);
  if (!signal) {
    std::fprintf(stderr, "bad benchmark UserSignal: %s\n", errors.front().ToString().c_str());
    std::abort();
  }
  return *signal;
}

void BM_signal_transform(benchmark::State& state) {
  const auto& corpus = Corpus();
  std::vector<std::unique_ptr<SignalTransform>> transforms;
  for (EventShape s : kAllShapes) {
    transforms.push_back(std::move(SignalTransform::Create(SignalFor(s)).value()));
  }
  SignalRecord record;
  TransformError error;
  std::string out;
  int64_t bytes = 0;
  size_t i = 0;
  for (auto _ : state) {
    const CorpusEvent& e = corpus[i % corpus.size()];
    bytes += static_cast<int64_t>(e.json.size());
    SourceEvent event{e.topic, 0, static_cast<int64_t>(i), e.json};
    ++i;
    if (transforms[static_cast<int>(e.shape)]->Apply(event, 1795000000000, &record, &error) !=
        TransformOutcome::kEmitted) {
      state.SkipWithError(error.message.c_str());
      break;
    }
    out.clear();
    AppendSignalRecordJson(record, &out);
    benchmark::DoNotOptimize(out.data());
  }
  SetCounters(state, bytes);
}
BENCHMARK(BM_signal_transform)->Name("decode/signal_transform");

// ------------------------------------------------------------- parse only

void BM_parse_only_nlohmann(benchmark::State& state) {
  const auto& corpus = Corpus();
  int64_t bytes = 0;
  size_t i = 0;
  for (auto _ : state) {
    const CorpusEvent& e = corpus[i++ % corpus.size()];
    bytes += static_cast<int64_t>(e.json.size());
    nlohmann::json doc = nlohmann::json::parse(e.json, nullptr, false);
    benchmark::DoNotOptimize(doc);
  }
  SetCounters(state, bytes);
}
BENCHMARK(BM_parse_only_nlohmann)->Name("parse_only/nlohmann");

void BM_parse_only_simdjson_dom(benchmark::State& state) {
  const auto& corpus = Corpus();
  simdjson::dom::parser parser;
  int64_t bytes = 0;
  size_t i = 0;
  for (auto _ : state) {
    const CorpusEvent& e = corpus[i++ % corpus.size()];
    bytes += static_cast<int64_t>(e.json.size());
    simdjson::dom::element doc;
    auto err = parser.parse(e.json.data(), e.json.size(), true).get(doc);
    benchmark::DoNotOptimize(err);
    benchmark::DoNotOptimize(doc);
  }
  SetCounters(state, bytes);
}
BENCHMARK(BM_parse_only_simdjson_dom)->Name("parse_only/simdjson_dom");

// Every decoder must produce the same user id, event time and attributes as
// the production transform for every event of the corpus; otherwise the
// comparison would not be like for like.
bool DecodersAgree() {
  NlohmannDecoder nlohmann_decoder;
  DomDecoder dom_decoder;
  OnDemandDecoder ondemand_decoder;
  std::vector<std::unique_ptr<SignalTransform>> transforms;
  for (EventShape s : kAllShapes) {
    transforms.push_back(std::move(SignalTransform::Create(SignalFor(s)).value()));
  }
  for (size_t i = 0; i < Corpus().size(); ++i) {
    const CorpusEvent& e = Corpus()[i];
    Decoded a, b, c;
    SignalRecord record;
    TransformError error;
    SourceEvent event{e.topic, 0, static_cast<int64_t>(i), e.json};
    if (!nlohmann_decoder.Decode(e, &a) || !dom_decoder.Decode(e, &b) ||
        !ondemand_decoder.Decode(e, &c) ||
        transforms[static_cast<int>(e.shape)]->Apply(event, 0, &record, &error) !=
            TransformOutcome::kEmitted) {
      std::fprintf(stderr, "event %zu does not decode: %s\n", i, e.json.c_str());
      return false;
    }
    for (const Decoded* d : {&b, &c}) {
      if (d->user_id != a.user_id || d->event_time_ms != a.event_time_ms ||
          d->attributes != a.attributes) {
        std::fprintf(stderr, "decoders disagree on event %zu:\n  %s %lld %s\n  %s %lld %s\n", i,
                     a.user_id.c_str(), static_cast<long long>(a.event_time_ms),
                     a.attributes.c_str(), d->user_id.c_str(),
                     static_cast<long long>(d->event_time_ms), d->attributes.c_str());
        return false;
      }
    }
    if (record.user_id != a.user_id || record.event_time != a.event_time_ms ||
        record.attributes_json != a.attributes) {
      std::fprintf(stderr, "SignalTransform disagrees on event %zu: %s\n", i,
                   record.attributes_json.c_str());
      return false;
    }
  }
  return true;
}

}  // namespace
}  // namespace usp::bench

int main(int argc, char** argv) {
  if (!usp::bench::DecodersAgree()) return 1;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
