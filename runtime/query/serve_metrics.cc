#include "runtime/query/serve_metrics.h"

namespace usp {

namespace {

const prometheus::Labels& JobLabels() {
  static const prometheus::Labels kLabels = {{"kind", "query"}, {"job", "serve"}};
  return kLabels;
}

}  // namespace

const char* RouteLabel(QueryRoute route) {
  switch (route) {
    case QueryRoute::kSignals:
      return "signals";
    case QueryRoute::kSegments:
      return "segments";
    case QueryRoute::kSessions:
      return "sessions";
    case QueryRoute::kProfile:
      return "profile";
    case QueryRoute::kHealthz:
      return "healthz";
    case QueryRoute::kReadyz:
      return "readyz";
    case QueryRoute::kMetrics:
      return "metrics";
    case QueryRoute::kOther:
      break;
  }
  return "other";
}

QueryProbe::QueryProbe(MetricsRegistry* metrics) {
  auto& latency = prometheus::BuildHistogram()
                      .Name("usp_query_latency_seconds")
                      .Help("Query API request latency, by route")
                      .Labels(JobLabels())
                      .Register(metrics->registry());
  requests_ = &prometheus::BuildCounter()
                   .Name("usp_query_requests_total")
                   .Help("Query API requests, by route and HTTP status code")
                   .Labels(JobLabels())
                   .Register(metrics->registry());
  for (int r = 0; r < kQueryRouteCount; ++r) {
    const char* route = RouteLabel(static_cast<QueryRoute>(r));
    latency_[r] = &latency.Add({{"route", route}}, LatencyBuckets());
    for (size_t c = 0; c < kCommonCodes.size(); ++c) {
      by_code_[r][c] =
          &requests_->Add({{"route", route}, {"code", std::to_string(kCommonCodes[c])}});
    }
  }
}

void QueryProbe::Record(QueryRoute route, int status, double seconds) {
  int r = static_cast<int>(route);
  latency_[r]->Observe(seconds);
  for (size_t c = 0; c < kCommonCodes.size(); ++c) {
    if (kCommonCodes[c] == status) {
      by_code_[r][c]->Increment();
      return;
    }
  }
  // Rare codes: Family::Add is thread-safe and returns the existing series.
  requests_->Add({{"route", RouteLabel(route)}, {"code", std::to_string(status)}}).Increment();
}

MaterializerProbe::MaterializerProbe(MetricsRegistry* metrics) {
  auto& registry = metrics->registry();
  consumed_ = &prometheus::BuildCounter()
                   .Name("usp_events_consumed_total")
                   .Help("Records (signal, segment, session) consumed from the output topics")
                   .Labels(JobLabels())
                   .Register(registry)
                   .Add({});
  written_ = &prometheus::BuildCounter()
                  .Name("usp_events_written_total")
                  .Help("Records (signal, segment, session) written to the store")
                  .Labels(JobLabels())
                  .Register(registry)
                  .Add({});
  failed_family_ = &prometheus::BuildCounter()
                        .Name("usp_events_failed_total")
                        .Help("Records skipped, by reason")
                        .Labels(JobLabels())
                        .Register(registry);
  lag_family_ = &prometheus::BuildGauge()
                     .Name("usp_consumer_lag")
                     .Help("Messages behind the end of the output topics, by partition")
                     .Labels(JobLabels())
                     .Register(registry);
  event_latency_ = &prometheus::BuildHistogram()
                        .Name("usp_event_latency_seconds")
                        .Help("Event time of a signal record to written in the store")
                        .Labels(JobLabels())
                        .Register(registry)
                        .Add({}, LatencyBuckets());
  ingestion_latency_ = &prometheus::BuildHistogram()
                            .Name("usp_ingestion_latency_seconds")
                            .Help("Kafka append time of an output record to written in the store")
                            .Labels(JobLabels())
                            .Register(registry)
                            .Add({}, LatencyBuckets());
}

void MaterializerProbe::Failed(const std::string& reason) {
  auto it = failed_.find(reason);
  if (it == failed_.end()) {
    it = failed_.emplace(reason, &failed_family_->Add({{"reason", reason}})).first;
  }
  it->second->Increment();
}

double MaterializerProbe::failed(const std::string& reason) const {
  auto it = failed_.find(reason);
  return it == failed_.end() ? 0 : it->second->Value();
}

void MaterializerProbe::Lag(int32_t partition, int64_t lag) {
  auto it = lag_.find(partition);
  if (it == lag_.end()) {
    it = lag_.emplace(partition, &lag_family_->Add({{"partition", std::to_string(partition)}}))
             .first;
  }
  it->second->Set(static_cast<double>(lag));
}

}  // namespace usp
