#pragma once
// QueryService: the HTTP handler of the query API (DESIGN.md, "Query API").
//
//   GET /v1/users/{id}/signals?types=a,b&start=MS&end=MS&limit=N
//       -> {"user_id", "signals": [signal records, newest first],
//           "freshness": {signal: watermark_ms | null}}
//   GET /v1/users/{id}/segments[?at=MS&segments=a,b]
//       -> {"user_id", "segments": [{"segment","in_segment","start","expiration"}]}
//   GET /v1/users/{id}/sessions[?job=J[,K]&limit=N]
//       -> {"user_id", "sessions": [session records, newest window_end first]}
//   GET /v1/users/{id}/profile[?types&start&end&limit&at&job&session_limit]
//       -> {"user_id", "signals", "freshness", "segments", "sessions"}, one
//          consistent store snapshot
//   GET /healthz (always 200), /readyz (200 once caught up), /metrics
//
// `freshness` holds every requested signal (every catalog signal without
// `types`); the value is the store's watermark (the max event time
// materialized for that signal) or null when none was materialized yet.
//
// Segments: without `at` the answer is as of the wall clock now
// (SegmentsNow: an expiration that has passed is out even before its
// `expired` record arrives); with `at` as of that time (SegmentsAt). Each
// catalog segment the user has a membership starting at or before that time
// appears once, sorted by name; others are left out.
// Sessions: the newest version of each (job, window_start, window_end),
// newest window_end first, at most `limit` [100]; without `job` every
// catalog job. Profile: signals as /signals (`limit` [100]), segments as
// /segments (`at`), sessions as /sessions with `session_limit` [10].
// Rows of resources no longer in the catalog are not returned.
//
// Errors are {"error": {"code", "message"}}: 400 bad_parameter (the message
// names the parameter), 400 response_too_large (over max_response_bytes),
// 401 unauthorized (from `authorize`), 404 unknown_signal / unknown_segment / unknown_job /
// not_found,
// 405 method_not_allowed, 503 not_ready (before the store caught up), 500
// internal (store failure).
//
// Thread-safe: Handle() runs concurrently on the HTTP server's threads.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "runtime/common/metrics.h"
#include "runtime/http/http_server.h"
#include "runtime/query/serve_metrics.h"
#include "runtime/query/signal_catalog.h"
#include "runtime/store/signal_store.h"

namespace usp {

struct QueryServiceOptions {
  int32_t default_limit = 100;
  int32_t max_limit = 10000;           // larger limits are a 400
  int32_t profile_session_limit = 10;  // default `session_limit` of /profile
  // A /v1/users/... response body larger than this is refused with 400
  // response_too_large (the message says how to narrow the query) [16 MiB].
  size_t max_response_bytes = size_t{16} << 20;
  // Runs on every request once its route is known, before anything else; a
  // response (e.g. BearerAuth's 401) is returned as is and counted under the
  // route. Default: none (every request is allowed).
  std::function<std::optional<HttpResponse>(const HttpRequest&)> authorize = nullptr;
  // Wall clock in epoch ms: "now" of /segments without `at`. Default: the
  // system clock.
  std::function<int64_t()> now_ms;
};

class QueryService {
 public:
  // `ready` says whether the store has caught up (the materializer's
  // caught_up()). Nothing is owned; everything must outlive the service.
  QueryService(const SignalCatalog* catalog, const SignalStore* store, std::function<bool()> ready,
               MetricsRegistry* metrics, QueryServiceOptions options = {});

  HttpResponse Handle(const HttpRequest& request);

 private:
  HttpResponse Route(const HttpRequest& request, QueryRoute* route);
  HttpResponse Signals(const std::string& user, const HttpRequest& request);
  HttpResponse Segments(const std::string& user, const HttpRequest& request);
  HttpResponse Sessions(const std::string& user, const HttpRequest& request);
  HttpResponse Profile(const std::string& user, const HttpRequest& request);

  // Parameter parsing into store queries; an error response on a bad one.
  std::optional<HttpResponse> ParseSignalQuery(const HttpRequest& request, SignalQuery* query);
  std::optional<HttpResponse> ParseSegmentQuery(const HttpRequest& request, SegmentQuery* query,
                                                bool* has_at);
  std::optional<HttpResponse> ParseSessionQuery(const HttpRequest& request,
                                                const std::string& limit_name,
                                                int32_t default_limit, SessionQuery* query);
  void AppendSignals(const SignalQuery& query, const std::vector<SignalRecord>& records,
                     std::string* body) const;
  // ,"freshness":{...} of the query's signals (every catalog signal without types).
  void AppendFreshness(const SignalQuery& query, std::string* body) const;
  void AppendSegments(const SegmentQuery& query, bool has_at, std::vector<SegmentRecord> records,
                      std::string* body) const;
  void AppendSessions(const std::vector<SessionRecord>& records, std::string* body) const;

  const SignalCatalog* catalog_;
  const SignalStore* store_;
  std::function<bool()> ready_;
  MetricsRegistry* metrics_;
  QueryServiceOptions options_;
  QueryProbe probe_;
};

}  // namespace usp
