#include "runtime/query/query_service.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <string_view>
#include <vector>

#include "core/segment/segment_query.h"
#include "core/session/session_record.h"
#include "core/signal_record.h"

namespace usp {

namespace {

constexpr std::string_view kUsersPrefix = "/v1/users/";

HttpResponse BadParameter(const std::string& name, const std::string& why) {
  return JsonError(400, "bad_parameter", "parameter '" + name + "': " + why);
}

HttpResponse NotReady() {
  return JsonError(503, "not_ready",
                   "the store is still catching up with the output topics; retry shortly");
}

// Reads integer parameter `name` into *out when present; an error response
// when it is not a base-10 int64.
std::optional<HttpResponse> ParseIntParameter(const HttpRequest& request, const std::string& name,
                                              int64_t* out) {
  auto it = request.query.find(name);
  if (it == request.query.end()) return std::nullopt;
  const std::string& text = it->second;
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
    return BadParameter(name, "'" + text + "' is not an integer");
  }
  *out = value;
  return std::nullopt;
}

void AppendInt(int64_t value, std::string* out) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
  out->append(buf, end);
}

int64_t SystemNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Reads comma-separated names of parameter `name` into *out; each must pass
// `known`, else a 404 `code` response naming it. Absent: *out untouched.
template <typename Known>
std::optional<HttpResponse> ParseNames(const HttpRequest& request, const std::string& name,
                                       Known known, const std::string& code,
                                       const std::string& kind,
                                       std::set<std::string, std::less<>>* out) {
  auto it = request.query.find(name);
  if (it == request.query.end()) return std::nullopt;
  std::string_view rest = it->second;
  while (!rest.empty()) {
    size_t comma = rest.find(',');
    std::string_view item = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    if (item.empty()) continue;
    if (!known(item)) {
      return JsonError(404, code, "no " + kind + " named '" + std::string(item) + "'");
    }
    out->emplace(item);
  }
  return std::nullopt;
}

void AppendUserHeader(const std::string& user, std::string* body) {
  *body += R"({"user_id":)";
  AppendJsonString(user, body);
}

// One signal record as AppendSignalRecordJson() writes it, from a store row
// view; `user_json` is the user id already as a JSON string.
void AppendRowJson(std::string_view user_json, const SignalRowView& row, std::string* out) {
  out->append(R"({"user_id":)");
  out->append(user_json);
  out->append(R"(,"signal":)");
  AppendJsonString(row.signal, out);
  out->append(R"(,"event_time":)");
  AppendInt(row.event_time, out);
  out->append(R"(,"event_id":)");
  AppendJsonString(row.event_id, out);
  out->append(R"(,"version":)");
  AppendInt(row.version, out);
  out->append(R"(,"attributes":)");
  if (row.attributes_json.empty()) {
    out->append("{}");
  } else {
    out->append(row.attributes_json);
  }
  out->push_back('}');
}

}  // namespace

QueryService::QueryService(const SignalCatalog* catalog, const SignalStore* store,
                           std::function<bool()> ready, MetricsRegistry* metrics,
                           QueryServiceOptions options)
    : catalog_(catalog),
      store_(store),
      ready_(std::move(ready)),
      metrics_(metrics),
      options_(std::move(options)),
      probe_(metrics) {
  if (!options_.now_ms) options_.now_ms = SystemNowMs;
}

HttpResponse QueryService::Handle(const HttpRequest& request) {
  auto started = std::chrono::steady_clock::now();
  QueryRoute route = QueryRoute::kOther;
  HttpResponse response = Route(request, &route);
  bool user_route = route == QueryRoute::kSignals || route == QueryRoute::kSegments ||
                    route == QueryRoute::kSessions || route == QueryRoute::kProfile;
  if (user_route && response.body.size() > options_.max_response_bytes) {
    response =
        JsonError(400, "response_too_large",
                  "the response would be " + std::to_string(response.body.size()) +
                      " bytes, over the limit of " + std::to_string(options_.max_response_bytes) +
                      " bytes: lower 'limit' or narrow 'types', 'start' and 'end'");
  }
  std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - started;
  probe_.Record(route, response.status, elapsed.count());
  return response;
}

HttpResponse QueryService::Route(const HttpRequest& request, QueryRoute* route) {
  const std::string& path = request.path;
  std::string user;
  if (path == "/healthz") {
    *route = QueryRoute::kHealthz;
  } else if (path == "/readyz") {
    *route = QueryRoute::kReadyz;
  } else if (path == "/metrics") {
    *route = QueryRoute::kMetrics;
  } else if (path.starts_with(kUsersPrefix)) {
    // The user id is everything between the prefix and the last segment: a
    // decoded id may itself contain '/'.
    size_t slash = path.rfind('/');
    if (slash > kUsersPrefix.size()) {
      std::string_view leaf = std::string_view(path).substr(slash + 1);
      if (leaf == "signals") *route = QueryRoute::kSignals;
      if (leaf == "segments") *route = QueryRoute::kSegments;
      if (leaf == "sessions") *route = QueryRoute::kSessions;
      if (leaf == "profile") *route = QueryRoute::kProfile;
      user = path.substr(kUsersPrefix.size(), slash - kUsersPrefix.size());
    }
  }
  if (options_.authorize) {
    if (auto denied = options_.authorize(request)) return *std::move(denied);
  }
  if (*route == QueryRoute::kOther) {
    return JsonError(404, "not_found", "no route for " + path);
  }
  if (request.method != "GET") {
    return JsonError(405, "method_not_allowed", request.method + " is not allowed; use GET");
  }
  switch (*route) {
    case QueryRoute::kHealthz:
      return HttpResponse{200, "application/json", R"({"status":"ok"})"};
    case QueryRoute::kReadyz:
      if (!ready_()) return NotReady();
      return HttpResponse{200, "application/json", R"({"status":"ready"})"};
    case QueryRoute::kMetrics:
      return HttpResponse{200, "text/plain; version=0.0.4", metrics_->Serialize()};
    case QueryRoute::kSignals:
      return Signals(user, request);
    case QueryRoute::kProfile:
      return Profile(user, request);
    case QueryRoute::kSegments:
      return Segments(user, request);
    case QueryRoute::kSessions:
      return Sessions(user, request);
    case QueryRoute::kOther:
      break;
  }
  return JsonError(404, "not_found", "no route for " + path);
}

std::optional<HttpResponse> QueryService::ParseSignalQuery(const HttpRequest& request,
                                                           SignalQuery* query) {
  if (auto error = ParseIntParameter(request, "start", &query->start)) return error;
  if (auto error = ParseIntParameter(request, "end", &query->end)) return error;
  int64_t limit = options_.default_limit;
  if (auto error = ParseIntParameter(request, "limit", &limit)) return error;
  if (limit < 0 || limit > options_.max_limit) {
    return BadParameter("limit", "must be between 0 and " + std::to_string(options_.max_limit));
  }
  query->limit = static_cast<int32_t>(limit);
  return ParseNames(
      request, "types", [this](std::string_view n) { return catalog_->Contains(n); },
      "unknown_signal", "UserSignal", &query->types);
}

std::optional<HttpResponse> QueryService::ParseSegmentQuery(const HttpRequest& request,
                                                            SegmentQuery* query, bool* has_at) {
  *has_at = request.query.contains("at");
  if (auto error = ParseIntParameter(request, "at", &query->at)) return error;
  if (auto error = ParseNames(
          request, "segments", [this](std::string_view n) { return catalog_->ContainsSegment(n); },
          "unknown_segment", "UserSegment", &query->segments)) {
    return error;
  }
  if (query->segments.empty()) {
    for (const auto& [segment, topic] : catalog_->topic_by_segment) query->segments.insert(segment);
  }
  return std::nullopt;
}

std::optional<HttpResponse> QueryService::ParseSessionQuery(const HttpRequest& request,
                                                            const std::string& limit_name,
                                                            int32_t default_limit,
                                                            SessionQuery* query) {
  int64_t limit = default_limit;
  if (auto error = ParseIntParameter(request, limit_name, &limit)) return error;
  if (limit < 0 || limit > options_.max_limit) {
    return BadParameter(limit_name, "must be between 0 and " + std::to_string(options_.max_limit));
  }
  query->limit = static_cast<int32_t>(limit);
  if (auto error = ParseNames(
          request, "job", [this](std::string_view n) { return catalog_->ContainsJob(n); },
          "unknown_job", "SessionJob", &query->jobs)) {
    return error;
  }
  if (query->jobs.empty()) {
    // Every catalog job; with none, nothing to read (an empty set means all).
    for (const auto& [job, topic] : catalog_->topic_by_job) query->jobs.insert(job);
    if (query->jobs.empty()) query->limit = 0;
  }
  return std::nullopt;
}

void QueryService::AppendSignals(const SignalQuery& query, const std::vector<SignalRecord>& records,
                                 std::string* body) const {
  *body += R"(,"signals":[)";
  for (size_t i = 0; i < records.size(); ++i) {
    if (i > 0) *body += ',';
    AppendSignalRecordJson(records[i], body);
  }
  *body += ']';
  AppendFreshness(query, body);
}

void QueryService::AppendFreshness(const SignalQuery& query, std::string* body) const {
  *body += R"(,"freshness":{)";
  bool first = true;
  auto append_one = [&](const std::string& signal, std::optional<int64_t> watermark) {
    if (!first) *body += ',';
    first = false;
    AppendJsonString(signal, body);
    *body += ':';
    if (watermark) {
      AppendInt(*watermark, body);
    } else {
      *body += "null";
    }
  };
  if (query.types.empty()) {
    std::map<std::string, int64_t> freshness = store_->Freshness();
    for (const auto& [signal, topic] : catalog_->topic_by_signal) {
      auto it = freshness.find(signal);
      append_one(signal, it == freshness.end() ? std::nullopt : std::optional<int64_t>(it->second));
    }
  } else {
    for (const std::string& signal : query.types) append_one(signal, store_->FreshnessOf(signal));
  }
  *body += '}';
}

void QueryService::AppendSegments(const SegmentQuery& query, bool has_at,
                                  std::vector<SegmentRecord> records, std::string* body) const {
  // Rows of segments no longer in the catalog are not answered.
  std::erase_if(records, [&](const SegmentRecord& r) {
    return !catalog_->ContainsSegment(r.segment) || !query.segments.contains(r.segment);
  });
  std::vector<SegmentMembership> memberships =
      has_at ? SegmentsAt(records, query.at) : SegmentsNow(records, query.at);
  *body += R"(,"segments":[)";
  for (size_t i = 0; i < memberships.size(); ++i) {
    if (i > 0) *body += ',';
    AppendSegmentMembershipJson(memberships[i], body);
  }
  *body += ']';
}

void QueryService::AppendSessions(const std::vector<SessionRecord>& records,
                                  std::string* body) const {
  *body += R"(,"sessions":[)";
  bool first = true;
  for (const SessionRecord& record : records) {
    if (!catalog_->ContainsJob(record.job)) continue;
    if (!first) *body += ',';
    first = false;
    AppendSessionRecordJson(record, body);
  }
  *body += ']';
}

HttpResponse QueryService::Signals(const std::string& user, const HttpRequest& request) {
  SignalQuery query;
  query.user_id = user;
  if (auto error = ParseSignalQuery(request, &query)) return *error;
  if (!ready_()) return NotReady();

  // Rows go from the store's buffers straight into the body: no records, no
  // per-row allocations.
  HttpResponse response;
  std::string& body = response.body;
  body.reserve(256 + static_cast<size_t>(std::min(query.limit, 128)) * 320);
  AppendUserHeader(user, &body);
  std::string user_json;
  AppendJsonString(user, &user_json);
  body += R"(,"signals":[)";
  bool first = true;
  Status read = store_->VisitQuery(query, [&](const SignalRowView& row) {
    if (!first) body += ',';
    first = false;
    AppendRowJson(user_json, row, &body);
  });
  if (!read.ok()) return JsonError(500, "internal", read.message());
  body += ']';
  AppendFreshness(query, &body);
  body += '}';
  return response;
}

HttpResponse QueryService::Segments(const std::string& user, const HttpRequest& request) {
  SegmentQuery query;
  query.user_id = user;
  bool has_at = false;
  if (auto error = ParseSegmentQuery(request, &query, &has_at)) return *error;
  if (!ready_()) return NotReady();
  if (!has_at) query.at = options_.now_ms();

  HttpResponse response;
  AppendUserHeader(user, &response.body);
  if (query.segments.empty()) {
    response.body += R"(,"segments":[])";
  } else {
    auto records = store_->QuerySegments(query);
    if (!records.ok()) return JsonError(500, "internal", records.status().message());
    AppendSegments(query, has_at, std::move(records).value(), &response.body);
  }
  response.body += '}';
  return response;
}

HttpResponse QueryService::Sessions(const std::string& user, const HttpRequest& request) {
  SessionQuery query;
  query.user_id = user;
  if (auto error = ParseSessionQuery(request, "limit", options_.default_limit, &query)) {
    return *error;
  }
  if (!ready_()) return NotReady();

  auto records = store_->QuerySessions(query);
  if (!records.ok()) return JsonError(500, "internal", records.status().message());
  HttpResponse response;
  response.body.reserve(64 + records->size() * 256);
  AppendUserHeader(user, &response.body);
  AppendSessions(*records, &response.body);
  response.body += '}';
  return response;
}

HttpResponse QueryService::Profile(const std::string& user, const HttpRequest& request) {
  SignalQuery signals;
  signals.user_id = user;
  if (auto error = ParseSignalQuery(request, &signals)) return *error;
  SegmentQuery segments;
  segments.user_id = user;
  bool has_at = false;
  if (auto error = ParseSegmentQuery(request, &segments, &has_at)) return *error;
  SessionQuery sessions;
  sessions.user_id = user;
  if (auto error =
          ParseSessionQuery(request, "session_limit", options_.profile_session_limit, &sessions)) {
    return *error;
  }
  if (!ready_()) return NotReady();
  if (!has_at) segments.at = options_.now_ms();

  auto profile = store_->QueryProfile(signals, segments, sessions);
  if (!profile.ok()) return JsonError(500, "internal", profile.status().message());
  HttpResponse response;
  std::string& body = response.body;
  body.reserve(256 + profile->signals.size() * 256 + profile->sessions.size() * 256);
  AppendUserHeader(user, &body);
  AppendSignals(signals, profile->signals, &body);
  if (segments.segments.empty()) {
    body += R"(,"segments":[])";
  } else {
    AppendSegments(segments, has_at, std::move(profile->segments), &body);
  }
  AppendSessions(profile->sessions, &body);
  body += '}';
  return response;
}

}  // namespace usp
