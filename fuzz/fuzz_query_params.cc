// libFuzzer target: the query API's request-target decoding and parameter
// parsing (types, start, end, limit, at, segments, job, session_limit).
//
// The input is a request target ("/v1/users/u1/signals?types=a&limit=5"),
// optionally preceded by "METHOD " (default GET). It is decoded exactly as
// the HTTP server does (runtime/http/url_codec.h) and handed to
// QueryService::Handle over an in-memory store.
//
// Properties:
//  - url_codec round trip: for every decoded path, key and value x,
//    PercentDecode(PercentEncode(x)) == x, and re-encoding the whole query
//    map parses back (ParseQueryString) to the same map.
//  - Handle never crashes; the status is one of the documented ones (200,
//    400, 404, 405, 503) and the body is JSON; an error body carries a
//    documented code.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/common/metrics.h"
#include "runtime/http/url_codec.h"
#include "runtime/query/query_service.h"

namespace {

[[noreturn]] void Fail(const std::string& what, std::string_view input) {
  std::fprintf(stderr, "fuzz_query_params: %s\ninput: %.*s\n", what.c_str(),
               static_cast<int>(input.size()), input.data());
  std::abort();
}

// Percent-encodes every byte outside RFC 3986's unreserved set (the inverse
// url_codec does not need in production; the fuzzer checks the pair).
std::string PercentEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

// Answers from a fixed set of rows with the SignalStore contract, naively.
class FixedSignalStore : public usp::SignalStore {
 public:
  FixedSignalStore() {
    signals_ = {{"u1", "search", 1000, "e1", 1100, R"({"q":"paris"})"},
                {"u1", "view", 2000, "e2", 2100, R"({"listing":7})"},
                {"u1", "search", 3000, "e3", 3100, R"({"q":"rome"})"},
                {"u/2", "view", 500, "e4", 600, "{}"}};
    usp::SegmentRecord planner;
    planner.user_id = "u1";
    planner.segment = "planner";
    planner.in_segment = true;
    planner.start = 1500;
    planner.expiration = 5000;
    planner.version = 1600;
    segments_.push_back(planner);
    usp::SessionRecord session;
    session.user_id = "u1";
    session.job = "engagement";
    session.window_start = 1000;
    session.window_end = 3000;
    session.aggregations_json = R"({"events":3})";
    session.version = 3100;
    sessions_.push_back(session);
  }
  int32_t partitions() const override { return 8; }
  usp::Status Apply(const usp::StoreBatch&) override { return usp::Status::Ok(); }
  usp::Result<std::vector<usp::SignalRecord>> Query(const usp::SignalQuery& q) const override {
    std::vector<usp::SignalRecord> out;
    for (const auto& r : signals_) {
      if (r.user_id == q.user_id && (q.types.empty() || q.types.contains(r.signal)) &&
          r.event_time >= q.start && r.event_time < q.end) {
        out.push_back(r);
      }
    }
    if (q.limit < 0) return usp::Status::InvalidArgument("negative limit reached the store");
    if (out.size() > static_cast<size_t>(q.limit)) out.resize(static_cast<size_t>(q.limit));
    return out;
  }
  usp::Result<std::vector<usp::SegmentRecord>> QuerySegments(
      const usp::SegmentQuery& q) const override {
    std::vector<usp::SegmentRecord> out;
    for (const auto& r : segments_) {
      if (r.user_id == q.user_id && r.start <= q.at &&
          (q.segments.empty() || q.segments.contains(r.segment))) {
        out.push_back(r);
      }
    }
    return out;
  }
  usp::Result<std::vector<usp::SessionRecord>> QuerySessions(
      const usp::SessionQuery& q) const override {
    std::vector<usp::SessionRecord> out;
    if (q.limit < 0) return usp::Status::InvalidArgument("negative limit reached the store");
    for (const auto& r : sessions_) {
      if (out.size() >= static_cast<size_t>(q.limit)) break;
      if (r.user_id == q.user_id && (q.jobs.empty() || q.jobs.contains(r.job))) out.push_back(r);
    }
    return out;
  }
  usp::Result<usp::UserProfile> QueryProfile(const usp::SignalQuery& signals,
                                             const usp::SegmentQuery& segments,
                                             const usp::SessionQuery& sessions) const override {
    usp::UserProfile profile;
    auto s = Query(signals);
    if (!s.ok()) return s.status();
    auto g = QuerySegments(segments);
    if (!g.ok()) return g.status();
    auto j = QuerySessions(sessions);
    if (!j.ok()) return j.status();
    profile.signals = std::move(s.value());
    profile.segments = std::move(g.value());
    profile.sessions = std::move(j.value());
    return profile;
  }
  usp::Status ScanSignals(const usp::StoreScan&,
                          const std::function<bool(const usp::SignalRecord&)>&) const override {
    return usp::Status::Unavailable("not scanned by the query handlers");
  }
  usp::Status ScanSegments(const usp::StoreScan&,
                           const std::function<bool(const usp::SegmentRecord&)>&) const override {
    return usp::Status::Unavailable("not scanned by the query handlers");
  }
  usp::Status ScanSessions(const usp::StoreScan&,
                           const std::function<bool(const usp::SessionRecord&)>&) const override {
    return usp::Status::Unavailable("not scanned by the query handlers");
  }
  usp::Result<std::vector<usp::PartitionOffset>> ReadOffsets() const override {
    return std::vector<usp::PartitionOffset>{};
  }
  std::map<std::string, int64_t> Freshness() const override {
    return {{"search", 3000}, {"view", 2000}};
  }
  usp::Status Flush() override { return usp::Status::Ok(); }
  usp::Status Compact() override { return usp::Status::Ok(); }
  usp::Result<usp::SignalStoreStats> Stats() const override { return usp::SignalStoreStats{}; }

 private:
  std::vector<usp::SignalRecord> signals_;
  std::vector<usp::SegmentRecord> segments_;
  std::vector<usp::SessionRecord> sessions_;
};

struct World {
  World() {
    catalog.topic_by_signal = {{"search", "usp.signal.search"},
                               {"view", "usp.signal.view"},
                               {"booking", "usp.signal.booking"}};
    catalog.topic_by_segment = {{"planner", "usp.segment.planner"}, {"vip", "usp.segment.vip"}};
    catalog.topic_by_job = {{"engagement", "usp.session.engagement"},
                            {"clicks", "usp.session.clicks"}};
  }
  usp::SignalCatalog catalog;
  FixedSignalStore store;
  usp::MetricsRegistry metrics;
  usp::QueryService service{&catalog, &store, [] { return true; }, &metrics,
                            usp::QueryServiceOptions{.max_response_bytes = 64 * 1024,
                                                     .now_ms = [] { return int64_t{4000}; }}};
};

void CheckCodec(const usp::HttpRequest& request, std::string_view input) {
  if (usp::PercentDecode(PercentEncode(request.path), false) != request.path) {
    Fail("PercentDecode(PercentEncode(path)) != path", input);
  }
  std::string encoded;
  for (const auto& [key, value] : request.query) {
    if (usp::PercentDecode(PercentEncode(key), true) != key) Fail("key does not round-trip", input);
    if (usp::PercentDecode(PercentEncode(value), true) != value) {
      Fail("value does not round-trip", input);
    }
    if (!encoded.empty()) encoded.push_back('&');
    encoded += PercentEncode(key) + "=" + PercentEncode(value);
  }
  std::map<std::string, std::string> again;
  usp::ParseQueryString(encoded, &again);
  if (again != request.query) Fail("re-encoded query parses differently: " + encoded, input);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static World* world = new World();
  std::string_view input(reinterpret_cast<const char*>(data), size);

  usp::HttpRequest request;
  request.method = "GET";
  std::string_view target = input;
  size_t space = target.find(' ');
  if (space != std::string_view::npos && space > 0 && target.front() != '/') {
    request.method = std::string(target.substr(0, space));
    target.remove_prefix(space + 1);
  }
  // As the HTTP server decodes a request target (runtime/http/http_server.cc).
  size_t question = target.find('?');
  request.path = usp::PercentDecode(target.substr(0, question), /*plus_as_space=*/false);
  if (question != std::string_view::npos) {
    usp::ParseQueryString(target.substr(question + 1), &request.query);
  }
  CheckCodec(request, input);

  usp::HttpResponse response = world->service.Handle(request);
  static const std::set<int> kStatuses = {200, 400, 404, 405, 503};
  if (!kStatuses.contains(response.status)) {
    Fail("undocumented status " + std::to_string(response.status) + ": " + response.body, input);
  }
  if (response.content_type != "application/json") return 0;  // /metrics
  nlohmann::json body = nlohmann::json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) Fail("the body is not JSON: " + response.body, input);
  if (response.status != 200) {
    static const std::set<std::string> kCodes = {
        "bad_parameter", "response_too_large", "unknown_signal", "unknown_segment",
        "unknown_job",   "not_found",          "method_not_allowed", "not_ready"};
    const nlohmann::json* code = nullptr;
    if (body.is_object() && body.contains("error") && body["error"].is_object() &&
        body["error"].contains("code")) {
      code = &body["error"]["code"];
    }
    if (code == nullptr || !code->is_string() || !kCodes.contains(code->get<std::string>())) {
      Fail("error without a documented code: " + response.body, input);
    }
  }
  return 0;
}
