#pragma once
// QueryService: the HTTP handler of the query API (DESIGN.md, "Query API").
//
//   GET /v1/users/{id}/signals?types=a,b&start=MS&end=MS&limit=N
//       -> {"user_id", "signals": [signal records, newest first],
//           "freshness": {signal: watermark_ms | null}}
//   GET /v1/users/{id}/segments[?at=MS]   -> {"user_id", "segments": []}
//   GET /v1/users/{id}/sessions[?job=J&limit=N] -> {"user_id", "sessions": []}
//   GET /v1/users/{id}/profile[?types&start&end&limit]
//       -> signals, freshness, segments and sessions in one object
//   GET /healthz (always 200), /readyz (200 once caught up), /metrics
//
// `freshness` holds every requested signal (every catalog signal without
// `types`); the value is the store's watermark (the max event time
// materialized for that signal) or null when none was materialized yet.
// UserSegment and SessionJob are not materialized yet: their lists are
// empty, and naming a session job answers 404 unknown_job.
//
// Errors are {"error": {"code", "message"}}: 400 bad_parameter (the message
// names the parameter), 404 unknown_signal / unknown_job / not_found,
// 405 method_not_allowed, 503 not_ready (before the store caught up), 500
// internal (store failure).
//
// Thread-safe: Handle() runs concurrently on the HTTP server's threads.

#include <cstdint>
#include <functional>

#include "runtime/common/metrics.h"
#include "runtime/http/http_server.h"
#include "runtime/query/serve_metrics.h"
#include "runtime/query/signal_catalog.h"
#include "runtime/store/signal_store.h"

namespace usp {

struct QueryServiceOptions {
  int32_t default_limit = 100;
  int32_t max_limit = 10000;  // larger limits are a 400
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
  HttpResponse Signals(const std::string& user, const HttpRequest& request, bool profile);
  HttpResponse Segments(const std::string& user, const HttpRequest& request);
  HttpResponse Sessions(const std::string& user, const HttpRequest& request);

  const SignalCatalog* catalog_;
  const SignalStore* store_;
  std::function<bool()> ready_;
  MetricsRegistry* metrics_;
  QueryServiceOptions options_;
  QueryProbe probe_;
};

}  // namespace usp
