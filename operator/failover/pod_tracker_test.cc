#include "operator/failover/pod_tracker.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace usp::op {
namespace {

using nlohmann::json;

constexpr int64_t kNow = 1'700'000'010'500;  // 2023-11-14T22:13:30.500Z

std::vector<std::string> Strings(const std::vector<WorkerAction>& actions) {
  std::vector<std::string> out;
  for (const auto& a : actions) out.push_back(a.ToString());
  return out;
}

// A worker pod as the API serves it.
struct PodBuilder {
  std::string name = "usp-searches-abc-1";
  std::string uid = "uid-1";
  std::string phase = "Running";
  std::string ip = "127.0.0.5";
  json state = {{"running", {{"startedAt", "2023-11-14T22:13:00Z"}}}};
  json last_state = json::object();
  std::string container_id = "process://100";
  int64_t restarts = 0;
  bool deleting = false;
  int port = 0;  // 0: no ports in the spec

  json Build() const {
    json cs = {{"name", "worker"},
               {"state", state},
               {"lastState", last_state},
               {"restartCount", restarts},
               {"containerID", container_id}};
    json container = {{"name", "worker"}};
    if (port > 0) container["ports"] = json::array({{{"name", "http"}, {"containerPort", port}}});
    json pod = {{"metadata", {{"name", name}, {"namespace", "default"}, {"uid", uid}}},
                {"spec", {{"containers", json::array({container})}}},
                {"status", {{"phase", phase}, {"containerStatuses", json::array({cs})}}}};
    if (!ip.empty()) pod["status"]["podIP"] = ip;
    if (deleting) pod["metadata"]["deletionTimestamp"] = "2023-11-14T22:14:00Z";
    return pod;
  }
};

json Terminated(int exit_code, const std::string& reason, const std::string& finished,
                int signal = 0) {
  json t = {{"exitCode", exit_code},
            {"reason", reason},
            {"finishedAt", finished},
            {"startedAt", "2023-11-14T22:13:00Z"}};
  if (signal > 0) t["signal"] = signal;
  return t;
}

TEST(PodTracker, APendingPodIsNotAnnouncedARunningOneIsOnce) {
  PodTracker tracker;
  PodBuilder p;
  p.phase = "Pending";
  p.ip = "";
  p.state = {{"waiting", {{"reason", "ContainerCreating"}}}};
  EXPECT_TRUE(tracker.Observe("ADDED", p.Build(), kNow).empty());

  PodBuilder running;
  EXPECT_EQ(Strings(tracker.Observe("MODIFIED", running.Build(), kNow)),
            std::vector<std::string>{"upsert usp-searches-abc-1 http://127.0.0.5:8081"});
  EXPECT_TRUE(tracker.Observe("MODIFIED", running.Build(), kNow).empty()) << "no news, no calls";
  EXPECT_EQ(Strings(tracker.Running()),
            std::vector<std::string>{"upsert usp-searches-abc-1 http://127.0.0.5:8081"});
}

TEST(PodTracker, TheWorkerUrlUsesTheContainersHttpPort) {
  PodTracker tracker(8081);
  PodBuilder p;
  p.port = 9191;
  EXPECT_EQ(Strings(tracker.Observe("ADDED", p.Build(), kNow)),
            std::vector<std::string>{"upsert usp-searches-abc-1 http://127.0.0.5:9191"});
}

TEST(PodTracker, AKilledContainerIsAFailureAtItsFinishTime) {
  PodTracker tracker;
  PodBuilder p;
  tracker.Observe("ADDED", p.Build(), kNow);
  p.phase = "Failed";
  p.state = {{"terminated", Terminated(137, "Error", "2023-11-14T22:13:30.120Z", 9)}};
  EXPECT_EQ(Strings(tracker.Observe("MODIFIED", p.Build(), kNow)),
            std::vector<std::string>{"failure usp-searches-abc-1 @1700000010120 container "
                                     "terminated: exit code 137 (Error, signal 9)"});
  EXPECT_TRUE(tracker.Observe("MODIFIED", p.Build(), kNow).empty()) << "reported once";
  // The kubelet then deletes the failed pod: nothing more to report, only removal.
  EXPECT_EQ(Strings(tracker.Observe("DELETED", p.Build(), kNow)),
            std::vector<std::string>{"remove usp-searches-abc-1"});
  EXPECT_TRUE(tracker.Empty());
}

TEST(PodTracker, AGracefulDeleteRevokesAndTheDeletionOnlyRemoves) {
  PodTracker tracker;
  PodBuilder p;
  tracker.Observe("ADDED", p.Build(), kNow);
  p.deleting = true;
  EXPECT_EQ(
      Strings(tracker.Observe("MODIFIED", p.Build(), kNow)),
      std::vector<std::string>{"failure usp-searches-abc-1 @1700000010500 revoke pod terminating"});
  // While it shuts down (SIGTERM: exit 0) nothing is announced again.
  p.state = {{"terminated", Terminated(0, "Completed", "2023-11-14T22:13:31Z")}};
  EXPECT_TRUE(tracker.Observe("MODIFIED", p.Build(), kNow + 900).empty());
  EXPECT_EQ(Strings(tracker.Observe("DELETED", p.Build(), kNow + 1000)),
            std::vector<std::string>{"remove usp-searches-abc-1"});
}

TEST(PodTracker, ADeletionWithoutWarningIsAFailureThenARemoval) {
  PodTracker tracker;
  PodBuilder p;
  tracker.Observe("ADDED", p.Build(), kNow);
  EXPECT_EQ(Strings(tracker.Observe("DELETED", p.Build(), kNow + 7)),
            (std::vector<std::string>{"failure usp-searches-abc-1 @1700000010507 pod deleted",
                                      "remove usp-searches-abc-1"}));
}

TEST(PodTracker, ARestartInPlaceIsAFailureThenTheNewIncarnation) {
  PodTracker tracker;
  PodBuilder p;
  tracker.Observe("ADDED", p.Build(), kNow);
  // A real kubelet restarts the container: restartCount 1, running again
  // with a new container ID, the old one's end in lastState.
  p.restarts = 1;
  p.container_id = "containerd://new";
  p.last_state = {{"terminated", Terminated(1, "Error", "2023-11-14T22:13:29Z")}};
  EXPECT_EQ(
      Strings(tracker.Observe("MODIFIED", p.Build(), kNow)),
      (std::vector<std::string>{
          "failure usp-searches-abc-1 @1700000009999 container terminated: exit code 1 (Error)",
          "upsert usp-searches-abc-1 http://127.0.0.5:8081"}));
  EXPECT_TRUE(tracker.Observe("MODIFIED", p.Build(), kNow).empty());
}

TEST(PodTracker, ARestartSeenInTwoStepsIsReportedOnce) {
  PodTracker tracker;
  PodBuilder p;
  tracker.Observe("ADDED", p.Build(), kNow);
  const json ended = Terminated(2, "Error", "2023-11-14T22:13:30.200Z");
  p.state = {{"terminated", ended}};
  EXPECT_EQ(tracker.Observe("MODIFIED", p.Build(), kNow).size(), 1u);
  // Then the restart: lastState holds the termination already reported.
  p.restarts = 1;
  p.container_id = "containerd://new";
  p.state = {{"running", {{"startedAt", "2023-11-14T22:13:31Z"}}}};
  p.last_state = {{"terminated", ended}};
  EXPECT_EQ(Strings(tracker.Observe("MODIFIED", p.Build(), kNow + 1000)),
            std::vector<std::string>{"upsert usp-searches-abc-1 http://127.0.0.5:8081"});
}

TEST(PodTracker, APodThatDiedBeforeItRanIsNeverAnnounced) {
  PodTracker tracker;
  PodBuilder p;
  p.phase = "Failed";
  p.state = {{"terminated", Terminated(128, "StartError", "2023-11-14T22:13:30Z")}};
  EXPECT_TRUE(tracker.Observe("ADDED", p.Build(), kNow).empty());
  EXPECT_EQ(Strings(tracker.Observe("DELETED", p.Build(), kNow)),
            std::vector<std::string>{"remove usp-searches-abc-1"});
}

TEST(PodTracker, ATerminatingPodIsNotAnnounced) {
  PodTracker tracker;
  PodBuilder p;
  p.deleting = true;
  EXPECT_TRUE(tracker.Observe("ADDED", p.Build(), kNow).empty());
  EXPECT_TRUE(tracker.Running().empty());
}

TEST(PodTracker, ANewPodUnderAnOldNameStartsAfresh) {
  PodTracker tracker;
  PodBuilder p;
  tracker.Observe("ADDED", p.Build(), kNow);
  p.deleting = true;
  tracker.Observe("MODIFIED", p.Build(), kNow);
  PodBuilder again;
  again.uid = "uid-2";
  again.ip = "127.0.0.9";
  EXPECT_EQ(Strings(tracker.Observe("ADDED", again.Build(), kNow)),
            std::vector<std::string>{"upsert usp-searches-abc-1 http://127.0.0.9:8081"});
}

TEST(FailureTimeMs, UsesFractionsAndBoundsSecondPrecisionByTheObservation) {
  EXPECT_EQ(FailureTimeMs("2023-11-14T22:13:30.120Z", kNow), 1'700'000'010'120);
  // Second precision: the latest moment it allows...
  EXPECT_EQ(FailureTimeMs("2023-11-14T22:13:29Z", kNow), 1'700'000'009'999);
  // ...but never after the observation.
  EXPECT_EQ(FailureTimeMs("2023-11-14T22:13:30Z", kNow), kNow);
  EXPECT_EQ(FailureTimeMs("", kNow), kNow);
  EXPECT_EQ(FailureTimeMs("yesterday", kNow), kNow);
}

}  // namespace
}  // namespace usp::op
