#include "operator/reconcile/prometheus_rule.h"

#include <gtest/gtest.h>

#include "operator/kube/fake_kube_client.h"
#include "operator/reconcile/conditions.h"
#include "operator/reconcile/user_signal_reconciler.h"

namespace usp::op {
namespace {

using nlohmann::json;

class NoEvents : public EventRecorder {
 public:
  void Record(const json&, const std::string& type, const std::string& reason, const std::string& message) override {
    events.push_back(type + " " + reason + ": " + message);
  }
  std::vector<std::string> events;
};

// The cluster lacks the prometheus-operator CRDs: the type is not served.
std::optional<kube::ApiError> NotServed(const std::string&, const kube::ResourceDescriptor& r, const std::string&,
                                        const std::string&) {
  if (r.plural != "prometheusrules") return std::nullopt;
  return kube::ApiError{404, "NotFound", "the server could not find the requested resource", nullptr};
}

class PrometheusRuleTest : public ::testing::Test {
 protected:
  json CreateSignal(const std::string& name = "searches") {
    json obj = {{"apiVersion", "usp.dev/v1alpha1"},
                {"kind", "UserSignal"},
                {"metadata", {{"name", name}, {"namespace", "default"}}},
                {"spec",
                 {{"eventSources", json::array({{{"kafkaTopic", "events.search"}}})},
                  {"parallelism", 1},
                  {"standbyReplicas", 1}}}};
    auto created = client_.Create(kube::UserSignals(), "default", obj);
    EXPECT_TRUE(created.ok());
    return created.ok() ? *created : json();
  }
  json GetRule(const std::string& name = "usp-usersignal-searches") {
    auto got = client_.Get(PrometheusRules(), "default", name);
    return got.ok() ? *got : json();
  }
  std::unique_ptr<JobReconciler> Reconciler(bool enabled) {
    JobReconcilerOptions o;
    o.worker.kafka_bootstrap = "kafka:9092";
    o.catalog.enabled = false;
    o.prometheus_rules.enabled = enabled;
    o.prometheus_rules.thresholds.latency_seconds = 30;
    return std::make_unique<JobReconciler>(&client_, &clock_, &events_, UserSignalKind(), o);
  }

  kube::FakeKubeClient client_;
  FakeClock clock_;
  NoEvents events_;
};

TEST_F(PrometheusRuleTest, CreatesTheJobsRuleOwnedByTheResource) {
  json signal = CreateSignal();
  PrometheusRuleSync sync(&client_, {});
  auto outcome = sync.Ensure(signal);
  ASSERT_TRUE(outcome.ok()) << outcome.status().ToString();
  EXPECT_EQ(*outcome, PrometheusRuleSync::Outcome::kCreated);
  json rule = GetRule();
  ASSERT_TRUE(rule.is_object());
  EXPECT_EQ(rule["spec"]["groups"], monitoring::AlertRuleGroups({"UserSignal", "searches", "default"}, {}));
  EXPECT_TRUE(kube::IsControlledBy(rule, signal)) << "garbage-collected with the UserSignal";
  EXPECT_EQ(rule["metadata"]["ownerReferences"][0]["uid"], kube::Uid(signal));
  EXPECT_EQ(rule["metadata"]["labels"]["usp.dev/job"], "searches");
  EXPECT_EQ(rule["metadata"]["labels"]["app.kubernetes.io/managed-by"], "usp-operator");

  client_.ClearActions();
  outcome = sync.Ensure(signal);
  ASSERT_TRUE(outcome.ok());
  EXPECT_EQ(*outcome, PrometheusRuleSync::Outcome::kUnchanged);
  EXPECT_EQ(client_.WriteCount(), 0u);
}

TEST_F(PrometheusRuleTest, EditsOfTheRuleAreReverted) {
  json signal = CreateSignal();
  PrometheusRuleSync sync(&client_, {});
  ASSERT_TRUE(sync.Ensure(signal).ok());
  json rule = GetRule();
  rule["spec"]["groups"][0]["rules"] = json::array();
  rule["metadata"]["labels"]["team"] = "search";
  ASSERT_TRUE(client_.Update(PrometheusRules(), "default", rule).ok());
  auto outcome = sync.Ensure(signal);
  ASSERT_TRUE(outcome.ok());
  EXPECT_EQ(*outcome, PrometheusRuleSync::Outcome::kUpdated);
  EXPECT_EQ(GetRule()["spec"], sync.Desired(signal)["spec"]);
  EXPECT_EQ(GetRule()["metadata"]["labels"]["team"], "search") << "other labels are kept";
}

TEST_F(PrometheusRuleTest, NewThresholdsUpdateTheRule) {
  json signal = CreateSignal();
  ASSERT_TRUE(PrometheusRuleSync(&client_, {}).Ensure(signal).ok());
  monitoring::AlertThresholds t;
  t.latency_seconds = 5;
  PrometheusRuleSync sync(&client_, t);
  auto outcome = sync.Ensure(signal);
  ASSERT_TRUE(outcome.ok());
  EXPECT_EQ(*outcome, PrometheusRuleSync::Outcome::kUpdated);
  const std::string expr = GetRule()["spec"]["groups"][0]["rules"][1]["expr"];
  EXPECT_NE(expr.find("> 5\n"), std::string::npos) << expr;
}

TEST_F(PrometheusRuleTest, ARuleAnotherControllerOwnsIsLeftAlone) {
  json signal = CreateSignal();
  json other = monitoring::PrometheusRule({"UserSignal", "searches", "default"}, {});
  other["spec"]["groups"] = json::array();
  other["metadata"]["ownerReferences"] = json::array(
      {{{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"name", "x"}, {"uid", "other-uid"}, {"controller", true}}});
  ASSERT_TRUE(client_.Create(PrometheusRules(), "default", other).ok());
  auto outcome = PrometheusRuleSync(&client_, {}).Ensure(signal);
  ASSERT_FALSE(outcome.ok());
  EXPECT_NE(outcome.status().message().find("not controlled by this UserSignal"), std::string::npos);
  EXPECT_EQ(GetRule()["spec"]["groups"], json::array());
}

TEST_F(PrometheusRuleTest, AnUnservedTypeIsNotAnError) {
  json signal = CreateSignal();
  client_.SetHook(&NotServed);
  PrometheusRuleSync sync(&client_, {});
  for (int i = 0; i < 2; ++i) {
    auto outcome = sync.Ensure(signal);
    ASSERT_TRUE(outcome.ok()) << outcome.status().ToString();
    EXPECT_EQ(*outcome, PrometheusRuleSync::Outcome::kNotServed);
  }
  // Installed later: the next reconcile creates it.
  client_.SetHook(nullptr);
  auto outcome = sync.Ensure(signal);
  ASSERT_TRUE(outcome.ok());
  EXPECT_EQ(*outcome, PrometheusRuleSync::Outcome::kCreated);
}

TEST_F(PrometheusRuleTest, OtherApiErrorsAreReported) {
  json signal = CreateSignal();
  client_.SetHook([](const std::string&, const kube::ResourceDescriptor& r, const std::string&,
                     const std::string&) -> std::optional<kube::ApiError> {
    if (r.plural != "prometheusrules") return std::nullopt;
    return kube::ApiError{403, "Forbidden", "prometheusrules is forbidden", nullptr};
  });
  auto outcome = PrometheusRuleSync(&client_, {}).Ensure(signal);
  EXPECT_FALSE(outcome.ok());
}

TEST_F(PrometheusRuleTest, TheReconcilerCreatesTheRuleWhenEnabled) {
  json signal = CreateSignal();
  auto result = Reconciler(true)->Reconcile({"default", "searches"});
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  json rule = GetRule();
  ASSERT_TRUE(rule.is_object());
  EXPECT_TRUE(kube::IsControlledBy(rule, signal));
  const std::string expr = rule["spec"]["groups"][0]["rules"][1]["expr"];
  EXPECT_NE(expr.find("> 30\n"), std::string::npos) << "the reconciler's thresholds: " << expr;
  EXPECT_TRUE(client_.Get(kube::Deployments(), "default", "usp-searches").ok());
}

TEST_F(PrometheusRuleTest, TheReconcilerLeavesRulesAloneByDefault) {
  CreateSignal();
  auto result = Reconciler(false)->Reconcile({"default", "searches"});
  ASSERT_TRUE(result.ok());
  EXPECT_FALSE(client_.Get(PrometheusRules(), "default", "usp-usersignal-searches").ok());
  EXPECT_EQ(client_.WriteCount("prometheusrules"), 0u);
}

TEST_F(PrometheusRuleTest, WithoutTheCrdTheReconcilerStillRunsTheJob) {
  CreateSignal();
  client_.SetHook(&NotServed);
  auto reconciler = Reconciler(true);
  auto result = reconciler->Reconcile({"default", "searches"});
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_TRUE(client_.Get(kube::Deployments(), "default", "usp-searches").ok());
  auto signal = client_.Get(kube::UserSignals(), "default", "searches");
  ASSERT_TRUE(signal.ok());
  EXPECT_TRUE(FindStatusCondition((*signal)["status"]["conditions"], kConditionReady).has_value());
  for (const auto& e : events_.events) EXPECT_EQ(e.find("PrometheusRule"), std::string::npos) << e;
}

}  // namespace
}  // namespace usp::op
