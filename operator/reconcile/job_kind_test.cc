#include "operator/reconcile/job_kind.h"

#include <gtest/gtest.h>

namespace usp::op {
namespace {

using nlohmann::json;

json Doc(const std::string& kind, const std::string& name, const json& spec) {
  return {{"apiVersion", "usp.dev/v1alpha1"},
          {"kind", kind},
          {"metadata", {{"name", name}, {"namespace", "default"}, {"generation", 3}}},
          {"spec", spec}};
}

TEST(JobKind, FindsTheThreeKinds) {
  EXPECT_EQ(FindJobKind("UserSignal"), &UserSignalKind());
  EXPECT_EQ(FindJobKind("UserSegment"), &UserSegmentKind());
  EXPECT_EQ(FindJobKind("SessionJob"), &SessionJobKind());
  EXPECT_EQ(FindJobKind("Pod"), nullptr);
  EXPECT_TRUE(UserSignalKind().in_catalog);
  EXPECT_TRUE(UserSegmentKind().in_catalog);
  EXPECT_EQ(SessionJobKind().resource.plural, "sessionjobs");
}

TEST(JobKind, ASimpleSignalIsStatelessAndALeftJoinStateful) {
  FieldErrors errors;
  auto simple = UserSignalKind().parse(
      Doc("UserSignal", "searches", {{"eventSources", json::array({{{"kafkaTopic", "events.search"}}})}}), &errors);
  ASSERT_TRUE(simple) << errors.size();
  EXPECT_FALSE(simple->stateful);
  EXPECT_TRUE(simple->signals.empty());
  EXPECT_FALSE(simple->config["metadata"].contains("generation")) << "only spec changes roll the workers";
  EXPECT_EQ(JobWorkerArgs(*simple, {}), std::vector<std::string>{});

  auto join = UserSignalKind().parse(
      Doc("UserSignal", "booked-listings",
          {{"type", "left_join"},
           {"leftEventSource", {{"kafkaTopic", "bookings"}, {"joinKeyField", "/listing_id"}}},
           {"rightEventSource", {{"kafkaTopic", "listings"}, {"joinKeyField", "/id"}}},
           {"userIdField", "/left/user_id"},
           {"parallelism", 3},
           {"standbyReplicas", 2}}),
      &errors);
  ASSERT_TRUE(join) << (errors.empty() ? "" : errors[0].ToString());
  EXPECT_TRUE(join->stateful);
  EXPECT_EQ(join->parallelism, 3);
  EXPECT_EQ(join->standby_replicas, 2);
  EXPECT_EQ(JobWorkerArgs(*join, {}), std::vector<std::string>{"--state-dir=/var/lib/usp/state"});
}

TEST(JobKind, ASegmentReadsItsEnterAndExitSignalsOnceEach) {
  FieldErrors errors;
  auto segment = UserSegmentKind().parse(
      Doc("UserSegment", "planner",
          {{"enter", {{"signals", {"searches", "home-views"}}}},
           {"exit",
            {{"signals", {"bookings", "searches"}},
             {"filter", {{"field", "/attributes/cancelled"}, {"op", "eq"}, {"value", true}}}}},
           {"expireAfter", "14d"},
           {"failover", {{"probeInterval", "250ms"}, {"failureThreshold", 3}}}}),
      &errors);
  ASSERT_TRUE(segment) << (errors.empty() ? "" : errors[0].ToString());
  EXPECT_TRUE(segment->stateful);
  EXPECT_EQ(segment->signals, (std::vector<SignalRef>{{"searches", "spec.enter.signals[0]"},
                                                      {"home-views", "spec.enter.signals[1]"},
                                                      {"bookings", "spec.exit.signals[0]"}}));
  EXPECT_EQ(segment->failover.probe_interval_ms, 250);
  EXPECT_EQ(segment->failover.failure_threshold, 3);
  EXPECT_EQ(segment->config["kind"], "UserSegment");
  EXPECT_EQ(segment->config["spec"]["outputTopic"], "usp.segment.planner");
  // Only a custom output topic needs a flag.
  EXPECT_EQ(JobWorkerArgs(*segment, {{"searches", "usp.signal.searches"},
                                     {"home-views", "views.v2"},
                                     {"bookings", "usp.signal.bookings"}}),
            (std::vector<std::string>{"--state-dir=/var/lib/usp/state", "--signal-topic=home-views=views.v2"}));
}

TEST(JobKind, ASessionJobReadsItsSignalsAndInvalidSpecsGiveFieldPaths) {
  FieldErrors errors;
  auto session = SessionJobKind().parse(
      Doc("SessionJob", "engagement",
          {{"signals", {"searches"}},
           {"window", {{"type", "session"}, {"gap", "30m"}}},
           {"aggregations", json::array({{{"name", "events"}, {"fn", "count"}}})}}),
      &errors);
  ASSERT_TRUE(session) << (errors.empty() ? "" : errors[0].ToString());
  EXPECT_TRUE(session->stateful);
  EXPECT_EQ(session->signals, (std::vector<SignalRef>{{"searches", "spec.signals[0]"}}));
  EXPECT_EQ(session->config["kind"], "SessionJob");

  errors.clear();
  EXPECT_FALSE(UserSegmentKind().parse(Doc("UserSegment", "x", {{"enter", {{"signals", json::array()}}}}), &errors));
  ASSERT_FALSE(errors.empty());
  EXPECT_EQ(errors[0].ToString().rfind("spec.enter.signals", 0), 0u) << errors[0].ToString();
}

TEST(JobKind, OutputTopicsAndReferencesOfRawDocuments) {
  EXPECT_EQ(SignalOutputTopic({{"metadata", {{"name", "searches"}}}, {"spec", json::object()}}),
            "usp.signal.searches");
  EXPECT_EQ(SignalOutputTopic({{"metadata", {{"name", "searches"}}}, {"spec", {{"outputTopic", "s.v2"}}}}), "s.v2");
  EXPECT_EQ(ReferencedSignals({{"spec", {{"enter", {{"signals", {"a", "b"}}}}, {"exit", {{"signals", {"c"}}}}}}}),
            (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(ReferencedSignals({{"spec", {{"signals", {"a", 5}}}}}), std::vector<std::string>{"a"});
  EXPECT_TRUE(ReferencedSignals({{"spec", {{"eventSources", json::array()}}}}).empty());
}

}  // namespace
}  // namespace usp::op
