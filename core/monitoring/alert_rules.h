#pragma once
// The three alerts of a job (the seed's "events written anomaly", "overall
// latency high" and "overall success rate low"), as Prometheus alerting
// rules over the stable metric names of docs/metrics.md. Pure: data in, JSON
// out. `uspctl generate` writes them to <name>.prometheusrule.yaml, and
// usp-operator --create-prometheus-rules keeps one PrometheusRule per job.
//
// Every expression selects the job's series by {namespace, kind, job} and
// aggregates `by (namespace, kind, job)`, so the alerts carry those labels.

#include <nlohmann/json.hpp>
#include <string>

#include "core/status.h"

namespace usp::monitoring {

inline constexpr const char* kEventsWrittenAnomaly = "UspEventsWrittenAnomaly";
inline constexpr const char* kOverallLatencyHigh = "UspOverallLatencyHigh";
inline constexpr const char* kSuccessRateLow = "UspSuccessRateLow";

// Which job the rules watch.
struct JobRef {
  std::string kind;            // "UserSignal", "UserSegment", "SessionJob"
  std::string name;            // metadata.name (the `job` label)
  std::string ns = "default";  // metadata.namespace (the `namespace` label)
};

// Thresholds; every field has a default a platform team can start with.
// Durations are Prometheus durations ("5m", "1h", "1w").
struct AlertThresholds {
  // Events written anomaly: the written rate over `written_rate_window`
  // falls below `written_drop_ratio` x its own baseline, the rate over the
  // preceding `written_baseline_window` (ending `written_rate_window` ago),
  // while the baseline was at least `written_min_baseline_rate` events/s,
  // for `written_for`.
  double written_drop_ratio = 0.5;
  std::string written_rate_window = "10m";
  std::string written_baseline_window = "1h";
  double written_min_baseline_rate = 0.1;
  std::string written_for = "15m";
  // Overall latency high: the `latency_quantile` of usp_event_latency_seconds
  // (event time -> written) over 5m is above `latency_seconds` for
  // `latency_for`.
  double latency_quantile = 0.99;
  double latency_seconds = 60;
  std::string latency_for = "10m";
  // Success rate low: 1 - failed/consumed over `success_window` is below
  // `min_success_ratio` for `success_for` (events filtered out are not
  // failures).
  double min_success_ratio = 0.99;
  std::string success_window = "10m";
  std::string success_for = "10m";
  std::string severity = "warning";
};

// Checks ranges (ratios in (0,1], quantile in (0,1), positive latency,
// Prometheus durations); the error names the field, e.g.
// "latency_quantile: must be in (0, 1)".
Status Validate(const AlertThresholds& t);

// PromQL label matchers of the job: namespace="..",kind="..",job="..".
std::string JobSelector(const JobRef& job);

// The `groups` of a Prometheus rule file: one group "usp-<kind>-<name>"
// holding the three alerts. This is what `promtool check rules` reads
// (wrapped as {"groups": ...}).
nlohmann::json AlertRuleGroups(const JobRef& job, const AlertThresholds& t);

// "usp-usersignal-searches": the PrometheusRule (and rule group) name, unique
// per kind and job in a namespace.
std::string PrometheusRuleName(const JobRef& job);

// A monitoring.coreos.com/v1 PrometheusRule holding AlertRuleGroups, with
// labels app.kubernetes.io/name=usp, usp.dev/job and usp.dev/kind. No
// ownerReferences (the operator adds its own).
nlohmann::json PrometheusRule(const JobRef& job, const AlertThresholds& t);

}  // namespace usp::monitoring
