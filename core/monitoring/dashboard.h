#pragma once
// The Grafana dashboard of a job: throughput (consumed, written, failed),
// p50/p99 of the four latency histograms (event, ingestion, job,
// transform), consumer lag per partition, dead letters and failovers, over
// the stable metric names of docs/metrics.md. Pure: data in, JSON out.
//
// The dashboard is templated: a Prometheus `datasource` variable and
// `namespace`, `kind` and `job` variables (label values of
// usp_events_consumed_total) preset to the job, so one import serves every job.

#include <nlohmann/json.hpp>
#include <string>

#include "core/monitoring/alert_rules.h"

namespace usp::monitoring {

// Grafana's JSON model version the dashboard is written for (Grafana 9+).
inline constexpr int kDashboardSchemaVersion = 39;

// uid "usp-<kind>-<name>" (cut to Grafana's 40 characters), title
// "USP <kind> <namespace>/<name>".
nlohmann::json GrafanaDashboard(const JobRef& job);

}  // namespace usp::monitoring
