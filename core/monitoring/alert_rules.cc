#include "core/monitoring/alert_rules.h"

#include <cctype>
#include <regex>
#include <sstream>

namespace usp::monitoring {

using nlohmann::json;

namespace {

// Shortest decimal form: 60, 0.5, 0.99 (PromQL and the annotations read it).
std::string Number(double v) {
  std::ostringstream out;
  out.precision(12);
  out << v;
  return out.str();
}

std::string Quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '\\' || c == '"') out += '\\';
    out += c;
  }
  return out + "\"";
}

bool IsPromDuration(const std::string& s) {
  static const std::regex kDuration("^([0-9]+(ms|s|m|h|d|w|y))+$");
  return std::regex_match(s, kDuration);
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

constexpr const char* kBy = "sum by (namespace, kind, job) ";

json Alert(const char* name, const std::string& expr, const std::string& for_, const JobRef& job,
           const AlertThresholds& t, const std::string& summary, const std::string& description) {
  json alert = {{"alert", name},
                {"expr", expr},
                {"labels", {{"severity", t.severity}}},
                {"annotations", {{"summary", summary}, {"description", description}}}};
  if (!for_.empty() && for_ != "0s") alert["for"] = for_;
  return alert;
}

}  // namespace

Status Validate(const AlertThresholds& t) {
  auto ratio = [](double v) { return v > 0 && v <= 1; };
  if (!ratio(t.written_drop_ratio))
    return Status::InvalidArgument("written_drop_ratio: must be in (0, 1]");
  if (!(t.written_min_baseline_rate >= 0)) {
    return Status::InvalidArgument("written_min_baseline_rate: must be >= 0");
  }
  if (!(t.latency_quantile > 0 && t.latency_quantile < 1)) {
    return Status::InvalidArgument("latency_quantile: must be in (0, 1)");
  }
  if (!(t.latency_seconds > 0)) return Status::InvalidArgument("latency_seconds: must be > 0");
  if (!ratio(t.min_success_ratio))
    return Status::InvalidArgument("min_success_ratio: must be in (0, 1]");
  const std::pair<const char*, const std::string*> durations[] = {
      {"written_rate_window", &t.written_rate_window},
      {"written_baseline_window", &t.written_baseline_window},
      {"written_for", &t.written_for},
      {"latency_for", &t.latency_for},
      {"success_window", &t.success_window},
      {"success_for", &t.success_for},
  };
  for (const auto& [field, value] : durations) {
    if (!IsPromDuration(*value)) {
      return Status::InvalidArgument(std::string(field) + ": \"" + *value +
                                     "\" is not a Prometheus duration (e.g. 30s, 10m, 1h)");
    }
  }
  if (t.severity.empty()) return Status::InvalidArgument("severity: must not be empty");
  return Status::Ok();
}

std::string JobSelector(const JobRef& job) {
  return "namespace=" + Quote(job.ns) + ",kind=" + Quote(job.kind) + ",job=" + Quote(job.name);
}

std::string PrometheusRuleName(const JobRef& job) {
  return "usp-" + Lower(job.kind) + "-" + job.name;
}

json AlertRuleGroups(const JobRef& job, const AlertThresholds& t) {
  const std::string sel = "{" + JobSelector(job) + "}";
  const std::string who = "{{ $labels.kind }} {{ $labels.namespace }}/{{ $labels.job }}";

  const std::string written =
      "rate(usp_events_written_total" + sel + "[" + t.written_rate_window + "])";
  const std::string baseline = "rate(usp_events_written_total" + sel + "[" +
                               t.written_baseline_window + "] offset " + t.written_rate_window +
                               ")";
  const std::string anomaly = kBy + std::string("(") + written + ")\n  < " +
                              Number(t.written_drop_ratio) + " * " + kBy + "(" + baseline +
                              ")\nand\n" + kBy + "(" + baseline + ") > " +
                              Number(t.written_min_baseline_rate) + "\n";

  const std::string latency =
      "histogram_quantile(" + Number(t.latency_quantile) +
      ", sum by (namespace, kind, job, le) (rate(usp_event_latency_seconds_bucket" + sel +
      "[5m])))\n  > " + Number(t.latency_seconds) + "\n";

  const std::string success = "1 - (\n  " + std::string(kBy) + "(rate(usp_events_failed_total" +
                              sel + "[" + t.success_window + "]))\n  / " + kBy +
                              "(rate(usp_events_consumed_total" + sel + "[" + t.success_window +
                              "]))\n) < " + Number(t.min_success_ratio) + "\n";

  const std::string p = "p" + Number(t.latency_quantile * 100);
  json rules = json::array({
      Alert(kEventsWrittenAnomaly, anomaly, t.written_for, job, t,
            who + " writes far fewer events than usual",
            "The events written per second over " + t.written_rate_window + " fell below " +
                Number(t.written_drop_ratio) + " x the rate of the " + t.written_baseline_window +
                " before (usp_events_written_total). Check the source topics, the worker logs and "
                "usp_events_failed_total."),
      Alert(kOverallLatencyHigh, latency, t.latency_for, job, t,
            who + " " + p + " event latency is above " + Number(t.latency_seconds) + "s",
            "The " + p + " of usp_event_latency_seconds (event time -> written) stayed above " +
                Number(t.latency_seconds) + "s for " + t.latency_for +
                ". Check usp_consumer_lag, usp_job_latency_seconds and "
                "usp_transform_latency_seconds."),
      Alert(kSuccessRateLow, success, t.success_for, job, t,
            who + " success rate is below " + Number(t.min_success_ratio),
            "1 - usp_events_failed_total / usp_events_consumed_total over " + t.success_window +
                " stayed below " + Number(t.min_success_ratio) + " for " + t.success_for +
                ". The reason label of usp_events_failed_total says why; dead letters hold the "
                "events."),
  });
  return json::array({{{"name", PrometheusRuleName(job)}, {"rules", rules}}});
}

json PrometheusRule(const JobRef& job, const AlertThresholds& t) {
  return {{"apiVersion", "monitoring.coreos.com/v1"},
          {"kind", "PrometheusRule"},
          {"metadata",
           {{"name", PrometheusRuleName(job)},
            {"namespace", job.ns},
            {"labels",
             {{"app.kubernetes.io/name", "usp"},
              {"app.kubernetes.io/component", "alerts"},
              {"usp.dev/job", job.name},
              {"usp.dev/kind", job.kind}}}}},
          {"spec", {{"groups", AlertRuleGroups(job, t)}}}};
}

}  // namespace usp::monitoring
