#include "core/monitoring/alert_rules.h"

#include <gtest/gtest.h>

namespace usp::monitoring {
namespace {

using nlohmann::json;

const JobRef kJob{"UserSignal", "searches", "team-a"};

const json& RuleNamed(const json& groups, const std::string& alert) {
  for (const auto& rule : groups[0]["rules"]) {
    if (rule["alert"] == alert) return rule;
  }
  static const json kNone;
  ADD_FAILURE() << "no alert " << alert;
  return kNone;
}

TEST(AlertRules, OneGroupHoldsTheSeedsThreeAlerts) {
  json groups = AlertRuleGroups(kJob, {});
  ASSERT_EQ(groups.size(), 1u);
  EXPECT_EQ(groups[0]["name"], "usp-usersignal-searches");
  ASSERT_EQ(groups[0]["rules"].size(), 3u);
  EXPECT_EQ(groups[0]["rules"][0]["alert"], kEventsWrittenAnomaly);
  EXPECT_EQ(groups[0]["rules"][1]["alert"], kOverallLatencyHigh);
  EXPECT_EQ(groups[0]["rules"][2]["alert"], kSuccessRateLow);
}

TEST(AlertRules, EveryExpressionSelectsTheJobByNamespaceKindAndName) {
  json groups = AlertRuleGroups(kJob, {});
  for (const auto& rule : groups[0]["rules"]) {
    const std::string expr = rule["expr"];
    EXPECT_NE(expr.find("{namespace=\"team-a\",kind=\"UserSignal\",job=\"searches\"}"),
              std::string::npos)
        << expr;
    EXPECT_EQ(rule["labels"]["severity"], "warning");
    EXPECT_TRUE(rule["annotations"].contains("summary"));
  }
}

TEST(AlertRules, ExpressionsUseTheDesignMetricsAndThresholds) {
  AlertThresholds t;
  t.written_drop_ratio = 0.25;
  t.written_baseline_window = "1w";
  t.latency_quantile = 0.95;
  t.latency_seconds = 12.5;
  t.latency_for = "3m";
  t.min_success_ratio = 0.9;
  t.severity = "critical";
  json groups = AlertRuleGroups(kJob, t);
  const std::string anomaly = RuleNamed(groups, kEventsWrittenAnomaly)["expr"];
  EXPECT_NE(anomaly.find("rate(usp_events_written_total{"), std::string::npos);
  EXPECT_NE(anomaly.find("< 0.25 * "), std::string::npos) << anomaly;
  EXPECT_NE(anomaly.find("[1w] offset 10m"), std::string::npos) << anomaly;
  const json& latency = RuleNamed(groups, kOverallLatencyHigh);
  EXPECT_NE(latency["expr"].get<std::string>().find(
                "histogram_quantile(0.95, sum by (namespace, kind, job, le) "
                "(rate(usp_event_latency_seconds_bucket{"),
            std::string::npos);
  EXPECT_NE(latency["expr"].get<std::string>().find("> 12.5"), std::string::npos);
  EXPECT_EQ(latency["for"], "3m");
  EXPECT_EQ(latency["labels"]["severity"], "critical");
  const std::string success = RuleNamed(groups, kSuccessRateLow)["expr"];
  EXPECT_NE(success.find("usp_events_failed_total{"), std::string::npos);
  EXPECT_NE(success.find("usp_events_consumed_total{"), std::string::npos);
  EXPECT_NE(success.find(") < 0.9"), std::string::npos) << success;
}

TEST(AlertRules, LabelValuesAreEscapedInSelectors) {
  EXPECT_EQ(JobSelector({"UserSignal", "a\"b", "n"}),
            "namespace=\"n\",kind=\"UserSignal\",job=\"a\\\"b\"");
}

TEST(AlertRules, ValidateNamesTheBadField) {
  EXPECT_TRUE(Validate({}).ok());
  AlertThresholds t;
  t.latency_quantile = 1;
  EXPECT_EQ(Validate(t).message().rfind("latency_quantile:", 0), 0u) << Validate(t).message();
  t = {};
  t.min_success_ratio = 1.5;
  EXPECT_EQ(Validate(t).message().rfind("min_success_ratio:", 0), 0u);
  t = {};
  t.written_drop_ratio = 0;
  EXPECT_EQ(Validate(t).message().rfind("written_drop_ratio:", 0), 0u);
  t = {};
  t.latency_seconds = -1;
  EXPECT_EQ(Validate(t).message().rfind("latency_seconds:", 0), 0u);
  t = {};
  t.latency_for = "ten minutes";
  EXPECT_EQ(Validate(t).message().rfind("latency_for: \"ten minutes\"", 0), 0u)
      << Validate(t).message();
}

TEST(AlertRules, PrometheusRuleIsAMonitoringCoreosObjectInTheJobsNamespace) {
  json rule = PrometheusRule({"SessionJob", "search-engagement", "team-b"}, {});
  EXPECT_EQ(rule["apiVersion"], "monitoring.coreos.com/v1");
  EXPECT_EQ(rule["kind"], "PrometheusRule");
  EXPECT_EQ(rule["metadata"]["name"], "usp-sessionjob-search-engagement");
  EXPECT_EQ(rule["metadata"]["namespace"], "team-b");
  EXPECT_EQ(rule["metadata"]["labels"]["usp.dev/job"], "search-engagement");
  EXPECT_EQ(rule["metadata"]["labels"]["usp.dev/kind"], "SessionJob");
  EXPECT_FALSE(rule["metadata"].contains("ownerReferences"));
  EXPECT_EQ(rule["spec"]["groups"],
            AlertRuleGroups({"SessionJob", "search-engagement", "team-b"}, {}));
}

}  // namespace
}  // namespace usp::monitoring
