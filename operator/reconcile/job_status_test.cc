#include "operator/reconcile/job_status.h"

#include <gtest/gtest.h>

#include "operator/reconcile/conditions.h"

namespace usp::op {
namespace {

using nlohmann::json;

json Deployment(int64_t generation, int64_t observed, int replicas, int updated, int ready) {
  return {{"metadata", {{"generation", generation}}},
          {"spec", {{"replicas", 3}}},
          {"status",
           {{"observedGeneration", observed},
            {"replicas", replicas},
            {"updatedReplicas", updated},
            {"readyReplicas", ready},
            {"availableReplicas", ready}}}};
}

struct Case {
  const char* name;
  json deployment;
  const char* ready;
  const char* ready_reason;
  const char* progressing;
  const char* degraded_reason;
  int active;
  int standby;
};

TEST(ComputeJobStatus, DerivesConditionsAndRolesFromTheDeployment) {
  // parallelism 2 + 1 standby = 3 replicas.
  const Case cases[] = {
      {"no deployment yet", nullptr, "False", "Deploying", "True", "AsExpected", 0, 0},
      {"pods starting", Deployment(1, 1, 3, 3, 0), "False", "WorkersNotReady", "True", "AsExpected", 0, 0},
      {"actives ready, standby warming", Deployment(1, 1, 3, 3, 2), "True", "Running", "True",
       "StandbyUnavailable", 2, 0},
      {"all ready", Deployment(1, 1, 3, 3, 3), "True", "Running", "False", "AsExpected", 2, 1},
      {"new spec not yet seen by the controller", Deployment(2, 1, 3, 3, 3), "False", "RollingOut", "True",
       "AsExpected", 2, 1},
      {"old pods still running", Deployment(2, 2, 4, 2, 3), "False", "RollingOut", "True", "AsExpected", 2, 1},
  };
  for (const auto& c : cases) {
    JobObservation o;
    o.generation = 5;
    o.parallelism = 2;
    o.standby_replicas = 1;
    o.partitions = 8;
    o.deployment = c.deployment;
    json status = ComputeJobStatus(json::object(), o, FakeClock().Now());
    const json& conditions = status["conditions"];
    EXPECT_EQ((*FindStatusCondition(conditions, "Ready"))["status"], c.ready) << c.name;
    EXPECT_EQ((*FindStatusCondition(conditions, "Ready"))["reason"], c.ready_reason) << c.name;
    EXPECT_EQ((*FindStatusCondition(conditions, "Progressing"))["status"], c.progressing) << c.name;
    EXPECT_EQ((*FindStatusCondition(conditions, "Degraded"))["reason"], c.degraded_reason) << c.name;
    EXPECT_EQ(status["replicas"]["active"], c.active) << c.name;
    EXPECT_EQ(status["replicas"]["standby"], c.standby) << c.name;
    EXPECT_EQ(status["observedGeneration"], 5) << c.name;
    EXPECT_EQ(status["partitions"], 8) << c.name;
  }
}

TEST(ComputeJobStatus, AnInvalidSpecWinsOverEverythingElse) {
  JobObservation o;
  o.generation = 3;
  o.invalid_spec = "spec.eventSources[0].kafkaTopic: required";
  o.deployment = Deployment(1, 1, 3, 3, 3);
  json status = ComputeJobStatus(json::object(), o, FakeClock().Now());
  auto ready = *FindStatusCondition(status["conditions"], "Ready");
  EXPECT_EQ(ready["status"], "False");
  EXPECT_EQ(ready["reason"], "InvalidSpec");
  EXPECT_EQ(ready["message"], "spec.eventSources[0].kafkaTopic: required");
  EXPECT_EQ(ready["observedGeneration"], 3);
  EXPECT_EQ((*FindStatusCondition(status["conditions"], "Degraded"))["status"], "True");
}

TEST(ComputeJobStatus, IsStableWhenNothingChanged) {
  JobObservation o;
  o.generation = 1;
  o.deployment = Deployment(1, 1, 3, 3, 3);
  o.parallelism = 2;
  FakeClock clock;
  json first = ComputeJobStatus(json::object(), o, clock.Now());
  clock.Advance(std::chrono::minutes(5));
  EXPECT_EQ(ComputeJobStatus(first, o, clock.Now()), first);
}

TEST(SetStatusCondition, ChangesTheTransitionTimeOnlyWhenTheStatusFlips) {
  FakeClock clock;
  json conditions;
  EXPECT_TRUE(SetStatusCondition(&conditions, {"Ready", "False", "Deploying", "m", 1}, clock.Now()));
  const json t0 = conditions[0]["lastTransitionTime"];
  clock.Advance(std::chrono::seconds(10));
  EXPECT_FALSE(SetStatusCondition(&conditions, {"Ready", "False", "Deploying", "m", 1}, clock.Now()));
  EXPECT_TRUE(SetStatusCondition(&conditions, {"Ready", "False", "WorkersNotReady", "m2", 1}, clock.Now()));
  EXPECT_EQ(conditions[0]["lastTransitionTime"], t0);  // reason/message changed, status did not
  EXPECT_TRUE(SetStatusCondition(&conditions, {"Ready", "True", "Running", "", 1}, clock.Now()));
  EXPECT_NE(conditions[0]["lastTransitionTime"], t0);
  EXPECT_EQ(conditions.size(), 1u);
  EXPECT_TRUE(SetStatusCondition(&conditions, {"Degraded", "False", "AsExpected", "", 1}, clock.Now()));
  EXPECT_EQ(conditions.size(), 2u);
  EXPECT_TRUE(IsStatusConditionTrue(conditions, "Ready"));
  EXPECT_FALSE(IsStatusConditionTrue(conditions, "Degraded"));
}

TEST(Time, FormatsAndParsesKubernetesTimestamps) {
  TimePoint t = std::chrono::system_clock::from_time_t(1700000000) + std::chrono::microseconds(123456);
  EXPECT_EQ(FormatTime(t), "2023-11-14T22:13:20Z");
  EXPECT_EQ(FormatMicroTime(t), "2023-11-14T22:13:20.123456Z");
  EXPECT_EQ(*ParseTime("2023-11-14T22:13:20.123456Z"), t);
  EXPECT_EQ(*ParseTime("2023-11-14T23:13:20.123456+01:00"), t);
  EXPECT_FALSE(ParseTime("yesterday").has_value());
}

}  // namespace
}  // namespace usp::op
