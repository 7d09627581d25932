#include "runtime/jobs/job_factory.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "runtime/jobs/job_test_util.h"
#include "runtime/worker/worker_cli.h"

namespace usp {
namespace {

using namespace jobs_testing;  // NOLINT

TEST(JobFactory, ASegmentReadsItsSignalsTopicsWithOverrides) {
  LoadedResource r = Load(kTripPlannerYaml);
  EXPECT_TRUE(IsStatefulResource(r));
  StatefulJobOptions options;
  options.signal_topics["bookings"] = "custom.bookings";
  auto plan = MakeStatefulJob(r, options);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_EQ(plan->job.kind, "UserSegment");
  EXPECT_EQ(plan->job.name, "trip-planner");
  EXPECT_EQ(plan->job.source_topics,
            (std::vector<std::string>{"usp.signal.searches", "custom.bookings"}));
  EXPECT_EQ(plan->job.output_topic, "usp.segment.trip-planner");
  EXPECT_EQ(plan->job.changelog_topic, "usp.changelog.usersegment.trip-planner");
  EXPECT_NE(plan->processor, nullptr);
}

TEST(JobFactory, ASessionJobGetsItsTopics) {
  LoadedResource r = Load(R"(apiVersion: usp.dev/v1alpha1
kind: SessionJob
metadata:
  name: engagement
spec:
  signals: [searches, views]
  window: {type: session, gap: 30m}
  aggregations:
    - {name: n, fn: count}
  outputTopic: sessions.out
)");
  StatefulJobOptions options;
  options.source_partitions = 4;
  auto plan = MakeStatefulJob(r, options);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_EQ(plan->job.kind, "SessionJob");
  EXPECT_EQ(plan->job.source_topics,
            (std::vector<std::string>{"usp.signal.searches", "usp.signal.views"}));
  EXPECT_EQ(plan->job.output_topic, "sessions.out");
  EXPECT_EQ(plan->job.changelog_topic, "usp.changelog.sessionjob.engagement");
  ASSERT_TRUE(plan->dropped_late);
  EXPECT_EQ(plan->dropped_late(), 0);
}

TEST(JobFactory, ASimpleSignalIsNotStatefulAndMoreBuildersCanRegister) {
  LoadedResource r = Load(R"(apiVersion: usp.dev/v1alpha1
kind: UserSignal
metadata:
  name: searches
spec:
  eventSources:
    - kafkaTopic: search-events
)");
  EXPECT_FALSE(IsStatefulResource(r));
  EXPECT_FALSE(MakeStatefulJob(r, {}).ok());
  RegisterStatefulJobBuilder(
      "test/searches",
      [](const LoadedResource& x) { return x.user_signal && x.name == "searches"; },
      [](const LoadedResource& x, const StatefulJobOptions&) -> Result<StatefulJobPlan> {
        StatefulJobPlan plan;
        plan.job.kind = "UserSignal";
        plan.job.name = x.name;
        return plan;
      });
  EXPECT_TRUE(IsStatefulResource(r));
  auto plan = MakeStatefulJob(r, {});
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->job.name, "searches");
}

TEST(WorkerCli, SignalTopicFlagsParse) {
  std::map<std::string, std::string> m;
  EXPECT_TRUE(ParseSignalTopic("searches=my.topic", &m).ok());
  EXPECT_EQ(m.at("searches"), "my.topic");
  EXPECT_TRUE(ParseSignalTopic("searches=my.topic", &m).ok());  // same again: fine
  EXPECT_FALSE(ParseSignalTopic("searches=other", &m).ok());
  for (const char* bad : {"", "x", "=t", "n="}) {
    EXPECT_FALSE(ParseSignalTopic(bad, &m).ok()) << bad;
  }
}

TEST(WorkerCli, AUserSegmentIsAStatefulJobWithItsOwnGroupStateDirAndSignalTopics) {
  namespace fs = std::filesystem;
  std::string tmpl = (fs::temp_directory_path() / "usp-jobs-cli-XXXXXX").string();
  fs::path dir = mkdtemp(tmpl.data());
  std::ofstream(dir / "segment.yaml") << kTripPlannerYaml;
  WorkerFlags flags;
  flags.config = (dir / "segment.yaml").string();
  flags.bootstrap = "127.0.0.1:9092";
  flags.partitions = "none";
  flags.state_dir = (dir / "state").string();
  flags.signal_topics = {"bookings=custom.bookings"};
  auto config = LoadWorkerConfig(flags);
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_TRUE(config->stateful);
  EXPECT_EQ(config->kind, "UserSegment");
  EXPECT_EQ(config->name, "trip-planner");
  EXPECT_EQ(config->consumer.group_id, "usp.UserSegment.trip-planner");
  EXPECT_EQ(config->state_dir, flags.state_dir);
  EXPECT_EQ(config->signal_topics.at("bookings"), "custom.bookings");
  EXPECT_FALSE(config->options.all_partitions);
  EXPECT_TRUE(config->options.partitions.empty());
  StatefulJobOptions options;
  options.signal_topics = config->signal_topics;
  auto plan = MakeStatefulJob(config->resource, options);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->job.source_topics,
            (std::vector<std::string>{"usp.signal.searches", "custom.bookings"}));
  flags.signal_topics = {"nonsense"};
  EXPECT_FALSE(LoadWorkerConfig(flags).ok());
  std::error_code ec;
  fs::remove_all(dir, ec);
}

}  // namespace
}  // namespace usp
