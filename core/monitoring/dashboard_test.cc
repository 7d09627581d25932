#include "core/monitoring/dashboard.h"

#include <gtest/gtest.h>

#include <set>

namespace usp::monitoring {
namespace {

using nlohmann::json;

std::string AllExpressions(const json& dashboard) {
  std::string all;
  for (const auto& panel : dashboard["panels"]) {
    for (const auto& target : panel["targets"]) all += target["expr"].get<std::string>() + "\n";
  }
  return all;
}

TEST(Dashboard, IsAModernTemplatedGrafanaDashboard) {
  json d = GrafanaDashboard({"UserSegment", "active-trip-planner", "team-a"});
  EXPECT_GE(d["schemaVersion"].get<int>(), 36);
  EXPECT_EQ(d["uid"], "usp-usersegment-active-trip-planner");
  EXPECT_EQ(d["title"], "USP UserSegment team-a/active-trip-planner");
  std::map<std::string, json> vars;
  for (const auto& v : d["templating"]["list"]) vars[v["name"]] = v;
  ASSERT_TRUE(vars.count("datasource"));
  EXPECT_EQ(vars["datasource"]["type"], "datasource");
  EXPECT_EQ(vars["datasource"]["query"], "prometheus");
  EXPECT_EQ(vars["namespace"]["current"]["value"], "team-a");
  EXPECT_EQ(vars["kind"]["current"]["value"], "UserSegment");
  EXPECT_EQ(vars["job"]["current"]["value"], "active-trip-planner");
  for (const auto& panel : d["panels"]) {
    EXPECT_EQ(panel["datasource"]["uid"], "${datasource}") << panel["title"];
  }
}

TEST(Dashboard, PanelsCoverThroughputLatenciesLagDeadLettersAndFailovers) {
  json d = GrafanaDashboard({"UserSignal", "searches", "default"});
  const std::string all = AllExpressions(d);
  for (const char* metric :
       {"usp_events_consumed_total", "usp_events_written_total", "usp_events_failed_total",
        "usp_event_latency_seconds_bucket", "usp_ingestion_latency_seconds_bucket",
        "usp_job_latency_seconds_bucket", "usp_transform_latency_seconds_bucket",
        "usp_consumer_lag", "usp_events_dead_lettered_total", "usp_failovers_total"}) {
    EXPECT_NE(all.find(metric), std::string::npos) << metric;
  }
  // p50 and p99 of each latency histogram.
  for (const char* h : {"usp_event_latency_seconds", "usp_ingestion_latency_seconds",
                        "usp_job_latency_seconds", "usp_transform_latency_seconds"}) {
    const std::string b = std::string(h) + "_bucket";
    EXPECT_NE(all.find("histogram_quantile(0.5, sum by (le) (rate(" + b), std::string::npos) << h;
    EXPECT_NE(all.find("histogram_quantile(0.99, sum by (le) (rate(" + b), std::string::npos) << h;
  }
}

TEST(Dashboard, EveryQueryIsFilteredByTheJobVariables) {
  json d = GrafanaDashboard({"UserSignal", "searches", "default"});
  std::set<int> ids;
  for (const auto& panel : d["panels"]) {
    ids.insert(panel["id"].get<int>());
    ASSERT_FALSE(panel["targets"].empty());
    for (const auto& target : panel["targets"]) {
      EXPECT_NE(target["expr"].get<std::string>().find(
                    "{namespace=\"$namespace\",kind=\"$kind\",job=\"$job\"}"),
                std::string::npos)
          << target["expr"];
    }
  }
  EXPECT_EQ(ids.size(), d["panels"].size()) << "panel ids are unique";
}

TEST(Dashboard, LongNamesGiveAGrafanaSizedUid) {
  json d = GrafanaDashboard({"UserSignal", std::string(60, 'x'), "default"});
  EXPECT_EQ(d["uid"].get<std::string>().size(), 40u);
}

}  // namespace
}  // namespace usp::monitoring
