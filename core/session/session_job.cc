#include "core/session/session_job.h"

#include <map>
#include <string_view>

#include "core/duration.h"
#include "core/session/spec_reader.h"

namespace usp {
namespace {

using nlohmann::json;
using session_internal::SpecReader;

constexpr const char* kKind = "SessionJob";
constexpr const char* kOutputTopicPrefix = "usp.session.";
// "usp.session.<name>" must stay a valid Kafka topic name (249 characters).
constexpr size_t kMaxNameLength = 249 - std::string_view("usp.session.").size();
constexpr size_t kMaxSignals = 64;
constexpr size_t kMaxAggregations = 64;
constexpr size_t kMaxAggregationNameLength = 128;
constexpr size_t kMaxUrlLength = 2048;
constexpr int64_t kMaxAsyncTimeoutMs = 3600LL * 1000;

constexpr AggregationFn kAllFns[] = {
    AggregationFn::kCount, AggregationFn::kSum,   AggregationFn::kAvg,
    AggregationFn::kMin,   AggregationFn::kMax,   AggregationFn::kDistinctCount,
    AggregationFn::kTopK,  AggregationFn::kLastN,
};

bool NeedsField(AggregationFn fn) {
  return fn != AggregationFn::kCount && fn != AggregationFn::kLastN;
}

// ^[A-Za-z_][A-Za-z0-9_]*$, as in the CRD.
bool IsValidAggregationName(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (!letter && (i == 0 || c < '0' || c > '9')) return false;
  }
  return true;
}

// ^https?://[^\s]+$, as in the CRD.
bool IsHttpUrl(std::string_view url) {
  std::string_view rest;
  if (url.starts_with("http://")) {
    rest = url.substr(7);
  } else if (url.starts_with("https://")) {
    rest = url.substr(8);
  } else {
    return false;
  }
  if (rest.empty()) return false;
  for (char c : rest) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') return false;
  }
  return true;
}

void ParseSignals(SpecReader& r, SessionJobSpec* spec, FieldErrors* errors) {
  const json* signals = r.List("signals", true);
  if (signals == nullptr) return;
  if (signals->empty()) {
    r.Error("signals", "must not be empty");
    return;
  }
  if (signals->size() > kMaxSignals) {
    r.Error("signals", "must have at most " + std::to_string(kMaxSignals) + " items");
  }
  std::map<std::string, size_t> seen;
  for (size_t i = 0; i < signals->size(); ++i) {
    const std::string path = "spec.signals[" + std::to_string(i) + "]";
    const json& item = (*signals)[i];
    if (!item.is_string()) {
      errors->push_back({path, "must be a string"});
      continue;
    }
    const std::string name = item.get<std::string>();
    if (!session_internal::IsDns1123Subdomain(name)) {
      errors->push_back({path, "invalid signal name \"" + name +
                                   "\": must consist of lowercase letters, digits, '-' and '.', "
                                   "and start and end with a letter or digit"});
      continue;
    }
    if (auto [it, inserted] = seen.emplace(name, i); !inserted) {
      errors->push_back({path, "duplicate signal \"" + name + "\" (also spec.signals[" +
                                   std::to_string(it->second) + "])"});
      continue;
    }
    spec->signals.push_back(name);
  }
}

void ParseWindow(SpecReader& spec_reader, WindowSpec* window, FieldErrors* errors) {
  const json* window_json = spec_reader.Object("window", true);
  if (window_json == nullptr) return;
  SpecReader r(*window_json, "spec.window", errors);
  std::optional<WindowType> type;
  if (auto text = r.String("type", true)) {
    if (*text == "sliding") {
      type = WindowType::kSliding;
    } else if (*text == "session") {
      type = WindowType::kSession;
    } else {
      r.Error("type", "must be one of sliding, session");
    }
  }
  const bool has_size = r.Get("size") != nullptr;
  const bool has_slide = r.Get("slide") != nullptr;
  const bool has_gap = r.Get("gap") != nullptr;
  const std::optional<int64_t> size = r.Duration("size", kMaxWindowDurationMs);
  const std::optional<int64_t> slide = r.Duration("slide", kMaxWindowDurationMs);
  const std::optional<int64_t> gap = r.Duration("gap", kMaxWindowDurationMs);
  r.RejectUnknown();
  if (!type) return;
  window->type = *type;
  if (*type == WindowType::kSliding) {
    if (!has_size) r.Error("size", "required for sliding windows");
    if (!has_slide) r.Error("slide", "required for sliding windows");
    if (has_gap) r.Error("gap", "only allowed for session windows");
    if (size) window->size_ms = *size;
    if (slide) window->slide_ms = *slide;
    if (size && slide) {
      if (*size % *slide != 0) {
        r.Error("slide", "must divide size (" + FormatDurationMs(*size) + ")");
      } else if (*size / *slide > kMaxWindowsPerEvent) {
        r.Error("slide", "must be at least size/" + std::to_string(kMaxWindowsPerEvent) +
                             " (each event is in size/slide windows)");
      }
    }
  } else {
    if (!has_gap) r.Error("gap", "required for session windows");
    if (has_size) r.Error("size", "only allowed for sliding windows");
    if (has_slide) r.Error("slide", "only allowed for sliding windows");
    if (gap) window->gap_ms = *gap;
  }
}

void ParseAggregations(SpecReader& r, SessionJobSpec* spec, FieldErrors* errors) {
  const json* list = r.List("aggregations", true);
  if (list == nullptr) return;
  if (list->empty()) {
    r.Error("aggregations", "must not be empty");
    return;
  }
  if (list->size() > kMaxAggregations) {
    r.Error("aggregations", "must have at most " + std::to_string(kMaxAggregations) + " items");
  }
  std::map<std::string, size_t> names;
  for (size_t i = 0; i < list->size(); ++i) {
    const std::string path = "spec.aggregations[" + std::to_string(i) + "]";
    const json& item = (*list)[i];
    if (!item.is_object()) {
      errors->push_back({path, "must be an object"});
      continue;
    }
    SpecReader a(item, path, errors);
    AggregationSpec agg;
    if (auto name = a.String("name", true)) {
      if (!IsValidAggregationName(*name)) {
        a.Error("name", "invalid name \"" + *name +
                            "\": use letters, digits and '_', not starting with a digit");
      } else if (name->size() > kMaxAggregationNameLength) {
        a.Error("name",
                "must be at most " + std::to_string(kMaxAggregationNameLength) + " characters");
      } else if (auto [it, inserted] = names.emplace(*name, i); !inserted) {
        a.Error("name", "duplicate name \"" + *name + "\" (also spec.aggregations[" +
                            std::to_string(it->second) + "])");
      }
      agg.name = *name;
    }
    std::optional<AggregationFn> fn;
    if (auto text = a.String("fn", true)) {
      for (AggregationFn candidate : kAllFns) {
        if (*text == ToString(candidate)) fn = candidate;
      }
      if (!fn) {
        a.Error("fn", "must be one of count, sum, avg, min, max, distinct_count, top_k, last_n");
      }
    }
    agg.field = a.Pointer("field");
    const bool has_k = a.Get("k") != nullptr;
    const bool has_n = a.Get("n") != nullptr;
    if (auto k = a.Int32("k", 1, kMaxAggregationLimit)) agg.k = *k;
    if (auto n = a.Int32("n", 1, kMaxAggregationLimit)) agg.n = *n;
    a.RejectUnknown();
    if (fn) {
      agg.fn = *fn;
      const std::string fn_name = ToString(*fn);
      if (NeedsField(*fn) && a.Get("field") == nullptr) a.Error("field", "required for " + fn_name);
      if (*fn == AggregationFn::kTopK && !has_k) a.Error("k", "required for top_k");
      if (*fn != AggregationFn::kTopK && has_k) a.Error("k", "only allowed with fn top_k");
      if (*fn == AggregationFn::kLastN && !has_n) a.Error("n", "required for last_n");
      if (*fn != AggregationFn::kLastN && has_n) a.Error("n", "only allowed with fn last_n");
    }
    spec->aggregations.push_back(std::move(agg));
  }
}

void ParseAsyncCompute(const json& value, AsyncComputeSpec* async, FieldErrors* errors) {
  SpecReader r(value, "spec.asyncCompute", errors);
  if (auto url = r.String("url", true)) {
    if (url->size() > kMaxUrlLength) {
      r.Error("url", "must be at most " + std::to_string(kMaxUrlLength) + " characters");
    } else if (!IsHttpUrl(*url)) {
      r.Error("url", "must be an http:// or https:// URL without spaces, got \"" + *url + "\"");
    }
    async->url = *url;
  }
  if (auto timeout = r.Duration("timeout", kMaxAsyncTimeoutMs)) async->timeout_ms = *timeout;
  if (auto in_flight = r.Int32("maxInFlight", 1)) async->max_in_flight = *in_flight;
  if (auto retries = r.Int32("retries", 0, 100)) async->retries = *retries;
  r.RejectUnknown();
}

void ParseSpec(const json& spec_json, const std::string& name, SessionJobSpec* spec,
               FieldErrors* errors) {
  SpecReader r(spec_json, "spec", errors);
  ParseSignals(r, spec, errors);
  ParseWindow(r, &spec->window, errors);
  ParseAggregations(r, spec, errors);
  if (auto lateness = r.Duration("allowedLateness", kMaxWindowDurationMs, /*allow_zero=*/true)) {
    spec->allowed_lateness_ms = *lateness;
  }
  if (const json* async = r.Object("asyncCompute")) {
    spec->async_compute.emplace();
    ParseAsyncCompute(*async, &*spec->async_compute, errors);
  }
  auto output = r.Topic("outputTopic");
  spec->output_topic = output ? *output : kOutputTopicPrefix + name;
  if (auto parallelism = r.Int32("parallelism", 1)) spec->parallelism = *parallelism;
  if (auto standby = r.Int32("standbyReplicas", 0)) spec->standby_replicas = *standby;
  if (const json* failover = r.Object("failover")) {
    session_internal::ParseFailover(*failover, &spec->failover, errors);
  }
  r.RejectUnknown();
}

json WindowToJson(const WindowSpec& window) {
  if (window.type == WindowType::kSession) {
    return {{"type", ToString(window.type)}, {"gap", FormatDurationMs(window.gap_ms)}};
  }
  return {{"type", ToString(window.type)},
          {"size", FormatDurationMs(window.size_ms)},
          {"slide", FormatDurationMs(window.slide_ms)}};
}

json AggregationToJson(const AggregationSpec& agg) {
  json out = {{"name", agg.name}, {"fn", ToString(agg.fn)}};
  if (agg.field) out["field"] = agg.field->text();
  if (agg.fn == AggregationFn::kTopK) out["k"] = agg.k;
  if (agg.fn == AggregationFn::kLastN) out["n"] = agg.n;
  return out;
}

}  // namespace

const char* ToString(WindowType t) {
  switch (t) {
    case WindowType::kSliding:
      return "sliding";
    case WindowType::kSession:
      return "session";
  }
  return "sliding";
}

const char* ToString(AggregationFn fn) {
  switch (fn) {
    case AggregationFn::kCount:
      return "count";
    case AggregationFn::kSum:
      return "sum";
    case AggregationFn::kAvg:
      return "avg";
    case AggregationFn::kMin:
      return "min";
    case AggregationFn::kMax:
      return "max";
    case AggregationFn::kDistinctCount:
      return "distinct_count";
    case AggregationFn::kTopK:
      return "top_k";
    case AggregationFn::kLastN:
      return "last_n";
  }
  return "count";
}

std::optional<SessionJob> ParseSessionJob(const nlohmann::json& doc, FieldErrors* errors) {
  const size_t before = errors->size();
  if (!doc.is_object()) {
    errors->push_back({"document", "must be an object"});
    return std::nullopt;
  }
  SpecReader r(doc, "", errors);
  if (auto api_version = r.String("apiVersion", true); api_version && *api_version != kApiVersion) {
    r.Error("apiVersion", std::string("must be ") + kApiVersion + ", got \"" + *api_version + "\"");
  }
  if (auto kind = r.String("kind", true); kind && *kind != kKind) {
    r.Error("kind", std::string("must be ") + kKind + ", got \"" + *kind + "\"");
  }
  SessionJob job;
  if (const json* metadata = r.Object("metadata", true)) {
    session_internal::ParseMetadata(*metadata, kMaxNameLength, &job.metadata, errors);
  }
  if (const json* spec = r.Object("spec", true)) {
    ParseSpec(*spec, job.metadata.name, &job.spec, errors);
  }
  r.Get("status");  // written by the operator; not part of the desired state
  r.RejectUnknown();
  if (errors->size() != before) return std::nullopt;
  return job;
}

nlohmann::json ToJson(const SessionJob& job) {
  const SessionJobSpec& s = job.spec;
  json spec = json::object();
  spec["signals"] = s.signals;
  spec["window"] = WindowToJson(s.window);
  json aggregations = json::array();
  for (const AggregationSpec& agg : s.aggregations) aggregations.push_back(AggregationToJson(agg));
  spec["aggregations"] = std::move(aggregations);
  spec["allowedLateness"] = FormatDurationMs(s.allowed_lateness_ms);
  if (s.async_compute) {
    spec["asyncCompute"] = {{"url", s.async_compute->url},
                            {"timeout", FormatDurationMs(s.async_compute->timeout_ms)},
                            {"maxInFlight", s.async_compute->max_in_flight},
                            {"retries", s.async_compute->retries}};
  }
  spec["outputTopic"] = s.output_topic;
  spec["parallelism"] = s.parallelism;
  spec["standbyReplicas"] = s.standby_replicas;
  spec["failover"] = session_internal::FailoverToJson(s.failover);
  return {{"apiVersion", kApiVersion},
          {"kind", kKind},
          {"metadata", session_internal::MetadataToJson(job.metadata)},
          {"spec", std::move(spec)}};
}

bool operator==(const SessionJob& a, const SessionJob& b) { return ToJson(a) == ToJson(b); }

}  // namespace usp
