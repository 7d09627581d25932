#include "runtime/query/query_service.h"

#include <charconv>
#include <chrono>
#include <optional>
#include <string_view>

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

void AppendUserHeader(const std::string& user, std::string* body) {
  *body += R"({"user_id":)";
  AppendJsonString(user, body);
}

}  // namespace

QueryService::QueryService(const SignalCatalog* catalog, const SignalStore* store,
                           std::function<bool()> ready, MetricsRegistry* metrics,
                           QueryServiceOptions options)
    : catalog_(catalog),
      store_(store),
      ready_(std::move(ready)),
      metrics_(metrics),
      options_(options),
      probe_(metrics) {}

HttpResponse QueryService::Handle(const HttpRequest& request) {
  auto started = std::chrono::steady_clock::now();
  QueryRoute route = QueryRoute::kOther;
  HttpResponse response = Route(request, &route);
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
      return Signals(user, request, /*profile=*/false);
    case QueryRoute::kProfile:
      return Signals(user, request, /*profile=*/true);
    case QueryRoute::kSegments:
      return Segments(user, request);
    case QueryRoute::kSessions:
      return Sessions(user, request);
    case QueryRoute::kOther:
      break;
  }
  return JsonError(404, "not_found", "no route for " + path);
}

HttpResponse QueryService::Signals(const std::string& user, const HttpRequest& request,
                                   bool profile) {
  SignalQuery query;
  query.user_id = user;
  if (auto error = ParseIntParameter(request, "start", &query.start)) return *error;
  if (auto error = ParseIntParameter(request, "end", &query.end)) return *error;
  int64_t limit = options_.default_limit;
  if (auto error = ParseIntParameter(request, "limit", &limit)) return *error;
  if (limit < 0 || limit > options_.max_limit) {
    return BadParameter("limit", "must be between 0 and " + std::to_string(options_.max_limit));
  }
  query.limit = static_cast<int32_t>(limit);
  if (auto types = request.query.find("types"); types != request.query.end()) {
    std::string_view rest = types->second;
    while (!rest.empty()) {
      size_t comma = rest.find(',');
      std::string_view name = rest.substr(0, comma);
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      if (name.empty()) continue;
      if (!catalog_->Contains(name)) {
        return JsonError(404, "unknown_signal", "no UserSignal named '" + std::string(name) + "'");
      }
      query.types.emplace(name);
    }
  }
  if (!ready_()) return NotReady();

  auto records = store_->Query(query);
  if (!records.ok()) return JsonError(500, "internal", records.status().message());
  std::map<std::string, int64_t> freshness = store_->Freshness();

  HttpResponse response;
  std::string& body = response.body;
  body.reserve(128 + records->size() * 256);
  AppendUserHeader(user, &body);
  body += R"(,"signals":[)";
  for (size_t i = 0; i < records->size(); ++i) {
    if (i > 0) body += ',';
    AppendSignalRecordJson((*records)[i], &body);
  }
  body += R"(],"freshness":{)";
  bool first = true;
  auto append_freshness = [&](const std::string& signal) {
    if (!first) body += ',';
    first = false;
    AppendJsonString(signal, &body);
    body += ':';
    auto it = freshness.find(signal);
    if (it == freshness.end()) {
      body += "null";
    } else {
      AppendInt(it->second, &body);
    }
  };
  if (query.types.empty()) {
    for (const auto& [signal, topic] : catalog_->topic_by_signal) append_freshness(signal);
  } else {
    for (const std::string& signal : query.types) append_freshness(signal);
  }
  body += '}';
  if (profile) body += R"(,"segments":[],"sessions":[])";
  body += '}';
  return response;
}

HttpResponse QueryService::Segments(const std::string& user, const HttpRequest& request) {
  int64_t at = 0;
  if (auto error = ParseIntParameter(request, "at", &at)) return *error;
  if (!ready_()) return NotReady();
  HttpResponse response;
  AppendUserHeader(user, &response.body);
  response.body += R"(,"segments":[]})";
  return response;
}

HttpResponse QueryService::Sessions(const std::string& user, const HttpRequest& request) {
  int64_t limit = options_.default_limit;
  if (auto error = ParseIntParameter(request, "limit", &limit)) return *error;
  if (limit < 0 || limit > options_.max_limit) {
    return BadParameter("limit", "must be between 0 and " + std::to_string(options_.max_limit));
  }
  if (auto job = request.query.find("job"); job != request.query.end() && !job->second.empty()) {
    // No SessionJob is materialized by this version.
    return JsonError(404, "unknown_job", "no SessionJob named '" + job->second + "'");
  }
  if (!ready_()) return NotReady();
  HttpResponse response;
  AppendUserHeader(user, &response.body);
  response.body += R"(,"sessions":[]})";
  return response;
}

}  // namespace usp
