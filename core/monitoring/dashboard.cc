#include "core/monitoring/dashboard.h"

#include <utility>
#include <vector>

namespace usp::monitoring {

using nlohmann::json;

namespace {

constexpr const char* kSel = "{namespace=\"$namespace\",kind=\"$kind\",job=\"$job\"}";
const json kDatasource = {{"type", "prometheus"}, {"uid", "${datasource}"}};

struct Target {
  std::string expr;
  std::string legend;
};

json Panel(int id, const std::string& title, const std::string& unit,
           const std::vector<Target>& targets, int x, int y) {
  json t = json::array();
  char ref = 'A';
  for (const auto& target : targets) {
    t.push_back({{"datasource", kDatasource},
                 {"expr", target.expr},
                 {"legendFormat", target.legend},
                 {"refId", std::string(1, ref++)}});
  }
  return {{"id", id},
          {"type", "timeseries"},
          {"title", title},
          {"datasource", kDatasource},
          {"gridPos", {{"h", 8}, {"w", 12}, {"x", x}, {"y", y}}},
          {"fieldConfig", {{"defaults", {{"unit", unit}}}, {"overrides", json::array()}}},
          {"options", {{"legend", {{"displayMode", "list"}, {"placement", "bottom"}}}}},
          {"targets", t}};
}

std::string Rate(const std::string& metric) {
  return "sum(rate(" + metric + kSel + "[$__rate_interval]))";
}

std::string Quantile(const char* q, const std::string& histogram) {
  return std::string("histogram_quantile(") + q + ", sum by (le) (rate(" + histogram + "_bucket" +
         kSel + "[$__rate_interval])))";
}

json Variable(const std::string& name, const std::string& query, const std::string& current) {
  return {{"name", name},
          {"label", name},
          {"type", "query"},
          {"datasource", kDatasource},
          {"query", {{"query", query}, {"refId", "PrometheusVariableQueryEditor-VariableQuery"}}},
          {"definition", query},
          {"refresh", 2},
          {"sort", 1},
          {"includeAll", false},
          {"multi", false},
          {"current", {{"selected", true}, {"text", current}, {"value", current}}}};
}

}  // namespace

json GrafanaDashboard(const JobRef& job) {
  std::string uid = PrometheusRuleName(job);
  if (uid.size() > 40) uid.resize(40);

  json panels = json::array();
  int id = 1;
  auto add = [&](const std::string& title, const std::string& unit,
                 const std::vector<Target>& targets) {
    const int n = static_cast<int>(panels.size());
    panels.push_back(Panel(id++, title, unit, targets, (n % 2) * 12, (n / 2) * 8));
  };
  add("Throughput", "ops",
      {{Rate("usp_events_consumed_total"), "consumed/s"},
       {Rate("usp_events_written_total"), "written/s"},
       {"sum by (reason) (rate(usp_events_failed_total" + std::string(kSel) +
            "[$__rate_interval]))",
        "failed/s {{reason}}"}});
  const std::pair<const char*, const char*> latencies[] = {
      {"usp_event_latency_seconds", "Event latency (event time -> written)"},
      {"usp_ingestion_latency_seconds", "Ingestion latency (Kafka append -> written)"},
      {"usp_job_latency_seconds", "Job latency (consumed -> written)"},
      {"usp_transform_latency_seconds", "Transform latency"},
  };
  for (const auto& [metric, title] : latencies) {
    add(title, "s", {{Quantile("0.5", metric), "p50"}, {Quantile("0.99", metric), "p99"}});
  }
  add("Consumer lag", "short",
      {{"sum by (partition) (usp_consumer_lag" + std::string(kSel) + ")",
        "partition {{partition}}"}});
  add("Dead letters", "ops", {{Rate("usp_events_dead_lettered_total"), "dead-lettered/s"}});
  add("Failovers", "short",
      {{"sum(increase(usp_failovers_total" + std::string(kSel) + "[$__range]))",
        "failovers in range"},
       {Quantile("0.99", "usp_failover_duration_seconds"), "p99 failover duration (s)"}});

  json templating = json::array({
      {{"name", "datasource"},
       {"label", "Data source"},
       {"type", "datasource"},
       {"query", "prometheus"},
       {"refresh", 1},
       {"current", json::object()}},
      Variable("namespace", "label_values(usp_events_consumed_total, namespace)", job.ns),
      Variable("kind", "label_values(usp_events_consumed_total{namespace=\"$namespace\"}, kind)",
               job.kind),
      Variable(
          "job",
          "label_values(usp_events_consumed_total{namespace=\"$namespace\",kind=\"$kind\"}, job)",
          job.name),
  });

  return {{"uid", uid},
          {"title", "USP " + job.kind + " " + job.ns + "/" + job.name},
          {"tags", json::array({"usp", job.kind})},
          {"schemaVersion", kDashboardSchemaVersion},
          {"version", 1},
          {"editable", true},
          {"graphTooltip", 1},
          {"time", {{"from", "now-6h"}, {"to", "now"}}},
          {"refresh", "30s"},
          {"timezone", "browser"},
          {"templating", {{"list", templating}}},
          {"annotations", {{"list", json::array()}}},
          {"panels", panels}};
}

}  // namespace usp::monitoring
