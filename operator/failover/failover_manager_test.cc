#include "operator/failover/failover_manager.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <mutex>
#include <string>
#include <vector>

#include "operator/failover/fake_workers.h"

namespace usp::op {
namespace {

using nlohmann::json;

class RecordingEvents : public EventRecorder {
 public:
  void Record(const json& object, const std::string& type, const std::string& reason,
              const std::string& message) override {
    std::lock_guard<std::mutex> lock(mu_);
    events_.push_back(type + " " + reason + " " + object["metadata"].value("name", "") + ": " +
                      message);
  }
  std::vector<std::string> All() {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> events_;
};

json Owner(const std::string& name, int64_t failovers = -1) {
  json o = {{"apiVersion", "usp.dev/v1alpha1"},
            {"kind", "UserSignal"},
            {"metadata", {{"name", name}, {"namespace", "default"}, {"uid", "uid-" + name}}}};
  if (failovers >= 0) o["status"] = {{"failovers", failovers}};
  return o;
}

// A running worker pod of `job` on 127.0.0.N.
json Pod(const std::string& job, const std::string& name, int n) {
  return {{"metadata",
           {{"name", name},
            {"namespace", "default"},
            {"uid", "uid-" + name},
            {"labels",
             {{"app.kubernetes.io/name", "usp-worker"},
              {"usp.dev/job", job},
              {"usp.dev/kind", "UserSignal"}}}}},
          {"spec", {{"containers", json::array({{{"name", "worker"}}})}}},
          {"status",
           {{"phase", "Running"},
            {"podIP", "127.0.0." + std::to_string(n)},
            {"containerStatuses",
             json::array({{{"name", "worker"},
                           {"restartCount", 0},
                           {"containerID", "process://" + std::to_string(100 + n)},
                           {"state", {{"running", {{"startedAt", "2023-11-14T22:13:00Z"}}}}}}})}}}};
}

json Killed(json pod) {
  pod["status"]["phase"] = "Failed";
  pod["status"]["containerStatuses"][0]["state"] = {{"terminated",
                                                     {{"exitCode", 137},
                                                      {"reason", "Error"},
                                                      {"signal", 9},
                                                      {"finishedAt", "2023-11-14T22:13:30.100Z"}}}};
  return pod;
}

std::string Url(int n) { return "http://127.0.0." + std::to_string(n) + ":8081"; }

class FailoverManagerTest : public ::testing::Test {
 protected:
  FailoverManagerTest() {
    FailoverManagerOptions o;
    o.run_loops = false;
    o.now = [this] { return now_ms_; };
    manager_ = std::make_unique<FailoverManager>(&workers_, &metrics_, &events_, o);
    manager_->SetNotify([this](const kube::ObjectKey& key) {
      std::lock_guard<std::mutex> lock(mu_);
      notified_.push_back(key.ToString());
    });
  }

  JobFailoverSpec Spec(int parallelism = 2) {
    JobFailoverSpec s;
    s.parallelism = parallelism;
    s.num_partitions = 8;
    s.policy = {500, 2};
    return s;
  }

  // searches: pods a (127.0.0.1), b (.2), c (.3); after the first plan a
  // owns 0-3, b 4-7, c is the warm standby.
  void StartSearches() {
    for (int n = 1; n <= 3; ++n) workers_.Add(Url(n));
    manager_->OnPodEvent("ADDED", Pod("searches", "a", 1));
    manager_->OnPodEvent("ADDED", Pod("searches", "b", 2));
    manager_->OnPodEvent("ADDED", Pod("searches", "c", 3));
    manager_->Sync(Owner("searches"), Spec());
    ASSERT_TRUE(manager_->Step(kSearches));
  }

  std::vector<int32_t> Owned(const std::string& worker) {
    auto st = manager_->Status(kSearches);
    if (!st || st->assignment.is_null()) return {};
    for (const auto& w : st->assignment["workers"]) {
      if (w["name"] == worker) return w["partitions"].get<std::vector<int32_t>>();
    }
    return {};
  }
  std::vector<std::string> WorkerNames() {
    std::vector<std::string> names;
    auto st = manager_->Status(kSearches);
    if (!st) return names;
    for (const auto& w : st->assignment["workers"]) names.push_back(w["name"]);
    return names;
  }
  size_t Notifications() {
    std::lock_guard<std::mutex> lock(mu_);
    return notified_.size();
  }

  const kube::ObjectKey kSearches{"default", "searches"};
  int64_t now_ms_ = 1'700'000'010'500;
  FakeWorkers workers_;
  MetricsRegistry metrics_;
  RecordingEvents events_;
  std::unique_ptr<FailoverManager> manager_;
  std::mutex mu_;
  std::vector<std::string> notified_;
};

TEST_F(FailoverManagerTest, PodsSeenBeforeTheJobAreAnnouncedAndGetTheFirstAssignment) {
  StartSearches();
  EXPECT_EQ(Owned("a"), (std::vector<int32_t>{0, 1, 2, 3}));
  EXPECT_EQ(Owned("b"), (std::vector<int32_t>{4, 5, 6, 7}));
  EXPECT_EQ(workers_.Get(Url(3)).epoch, 1);
  auto st = manager_->Status(kSearches);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->assignment["epoch"], 1);
  EXPECT_EQ(st->assignment["parallelism"], 2);
  EXPECT_EQ(st->warm_standbys, 1);
  EXPECT_EQ(st->failovers, 0);
  EXPECT_TRUE(st->last_failover.is_null());
  EXPECT_GE(Notifications(), 1u) << "the first assignment asks for a status write";
}

TEST_F(FailoverManagerTest, AKilledContainerMovesItsPartitionsToTheStandbyWithAnEvent) {
  StartSearches();
  workers_.Kill(Url(1));
  now_ms_ += 150;
  manager_->OnPodEvent("MODIFIED", Killed(Pod("searches", "a", 1)));
  ASSERT_TRUE(manager_->Step(kSearches));
  EXPECT_EQ(Owned("c"), (std::vector<int32_t>{0, 1, 2, 3}));
  EXPECT_EQ(Owned("b"), (std::vector<int32_t>{4, 5, 6, 7}));

  auto st = manager_->Status(kSearches);
  EXPECT_EQ(st->failovers, 1);
  EXPECT_EQ(st->warm_standbys, 0);
  const json& last = st->last_failover;
  EXPECT_EQ(last["worker"], "a");
  EXPECT_EQ(last["partitions"], json({0, 1, 2, 3}));
  EXPECT_EQ(last["promoted"], json({"c"}));
  EXPECT_EQ(last["cause"], "container terminated: exit code 137 (Error, signal 9)");
  EXPECT_EQ(last["failedAt"], 1'700'000'010'100);  // the container's finishedAt
  EXPECT_EQ(last["detectionMs"], 550);
  EXPECT_TRUE(last.contains("handoverMs"));

  manager_->Tick();
  auto events = events_.All();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0],
            "Warning Failover searches: pod a failed owning partitions 0-3; moved to c at epoch 2: "
            "detection 550 ms, "
            "handover 0 ms; cause: container terminated: exit code 137 (Error, signal 9)");

  // The kubelet deletes the failed pod; the replacement comes up as the new standby.
  manager_->OnPodEvent("DELETED", Killed(Pod("searches", "a", 1)));
  workers_.Add(Url(4));
  manager_->OnPodEvent("ADDED", Pod("searches", "d", 4));
  manager_->Tick();
  manager_->Step(kSearches);
  EXPECT_EQ(WorkerNames(), (std::vector<std::string>{"b", "c", "d"}));
  st = manager_->Status(kSearches);
  EXPECT_EQ(st->warm_standbys, 1);
  EXPECT_EQ(st->failovers, 1);
  EXPECT_EQ(events_.All().size(), 1u);

  const std::string text = metrics_.Serialize();
  EXPECT_NE(text.find("usp_failovers_total{job=\"searches\",kind=\"UserSignal\"} 1"),
            std::string::npos)
      << text;
  EXPECT_NE(
      text.find("usp_failover_duration_seconds_count{job=\"searches\",kind=\"UserSignal\"} 1"),
      std::string::npos);
}

TEST_F(FailoverManagerTest, AGracefulDeleteRevokesThePartitionsBeforeTheStandbyGetsThem) {
  StartSearches();
  json terminating = Pod("searches", "b", 2);
  terminating["metadata"]["deletionTimestamp"] = "2023-11-14T22:14:00Z";
  manager_->OnPodEvent("MODIFIED", terminating);
  ASSERT_TRUE(manager_->Step(kSearches));
  // The terminating worker drains and commits first (still reachable), then the standby takes over.
  const auto puts = workers_.Puts();
  const auto revoke = std::find(puts.begin(), puts.end(), Url(2) + "@2[]");
  const auto grant = std::find(puts.begin(), puts.end(), Url(3) + "@2[4,5,6,7]");
  ASSERT_NE(revoke, puts.end()) << ::testing::PrintToString(puts);
  ASSERT_NE(grant, puts.end()) << ::testing::PrintToString(puts);
  EXPECT_LT(revoke, grant);
  EXPECT_EQ(workers_.Get(Url(2)).partitions, std::vector<int32_t>{});
  auto st = manager_->Status(kSearches);
  EXPECT_EQ(st->last_failover["worker"], "b");
  EXPECT_EQ(st->last_failover["cause"], "pod terminating");
  EXPECT_EQ(st->last_failover["detectionMs"], 0);
}

TEST_F(FailoverManagerTest, ADeletedPodKeepsItsCauseBecauseItIsRemovedOnlyAfterThePlan) {
  StartSearches();
  workers_.Kill(Url(1));
  manager_->OnPodEvent("DELETED", Pod("searches", "a", 1));  // e.g. --grace-period=0
  manager_->Tick();  // before the controller planned: "a" still owns 0-3, so it stays
  EXPECT_EQ(WorkerNames(), (std::vector<std::string>{"a", "b", "c"}));
  ASSERT_TRUE(manager_->Step(kSearches));
  EXPECT_EQ(manager_->Status(kSearches)->last_failover["cause"], "pod deleted");
  manager_->Tick();
  manager_->Step(kSearches);
  EXPECT_EQ(WorkerNames(), (std::vector<std::string>{"b", "c"}));
}

TEST_F(FailoverManagerTest, LagIsPublishedEveryRefreshIntervalOnly) {
  StartSearches();
  manager_->Tick();
  const size_t before = Notifications();
  workers_.SetLag(Url(1), 1234);
  manager_->Step(kSearches);
  manager_->Tick();
  EXPECT_EQ(Notifications(), before) << "a probe's lag alone does not ask for a status write";
  EXPECT_EQ(manager_->Status(kSearches)->lag, 0) << "nor does the next status show it yet";
  now_ms_ += 10'000;
  manager_->Tick();
  EXPECT_EQ(Notifications(), before + 1);
  auto st = manager_->Status(kSearches);
  EXPECT_EQ(st->lag, 1234);
  EXPECT_EQ(st->assignment["workers"][0]["lag"], 1234);
  manager_->Tick();
  EXPECT_EQ(Notifications(), before + 1);
  // Warmth is shown: a worker that turns cold asks for one.
  workers_.SetWarm(Url(3), false);
  manager_->Step(kSearches);
  manager_->Tick();
  EXPECT_EQ(Notifications(), before + 2);
  EXPECT_EQ(manager_->Status(kSearches)->warm_standbys, 0);
}

TEST_F(FailoverManagerTest, JobsShareOneRegistryAndPodsOfOtherJobsAreApart) {
  StartSearches();
  for (int n = 11; n <= 12; ++n) workers_.Add(Url(n));
  manager_->Sync(Owner("bookings"), Spec(1));
  manager_->OnPodEvent("ADDED", Pod("bookings", "x", 11));
  manager_->OnPodEvent("ADDED", Pod("bookings", "y", 12));
  const kube::ObjectKey bookings{"default", "bookings"};
  ASSERT_TRUE(manager_->Step(bookings));
  EXPECT_EQ(manager_->Status(bookings)->assignment["workers"].size(), 2u);
  EXPECT_EQ(WorkerNames(), (std::vector<std::string>{"a", "b", "c"}));
  const std::string text = metrics_.Serialize();
  EXPECT_NE(text.find("usp_failovers_total{job=\"searches\",kind=\"UserSignal\"} 0"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("usp_failovers_total{job=\"bookings\",kind=\"UserSignal\"} 0"),
            std::string::npos)
      << text;
  EXPECT_NE(
      text.find("usp_failover_duration_seconds_count{job=\"bookings\",kind=\"UserSignal\"} 0"),
      std::string::npos);
  // A pod of another kind is not ours.
  json segment = Pod("searches", "z", 20);
  segment["metadata"]["labels"]["usp.dev/kind"] = "UserSegment";
  manager_->OnPodEvent("ADDED", segment);
  manager_->Step(kSearches);
  EXPECT_EQ(WorkerNames(), (std::vector<std::string>{"a", "b", "c"}));
}

TEST_F(FailoverManagerTest, ForgetStopsControllingAndANewControllerAdoptsTheWorkers) {
  StartSearches();
  manager_->Forget(kSearches);
  EXPECT_FALSE(manager_->Has(kSearches));
  EXPECT_FALSE(manager_->Status(kSearches));
  EXPECT_EQ(workers_.Get(Url(1)).partitions, (std::vector<int32_t>{0, 1, 2, 3}))
      << "workers keep their partitions";
  // Valid again (or a new leader): the pods are still known, and the
  // workers' epoch is adopted instead of starting over; the count goes on
  // from the resource's status.
  manager_->Sync(Owner("searches", /*failovers=*/4), Spec());
  manager_->Step(kSearches);
  auto st = manager_->Status(kSearches);
  EXPECT_EQ(st->assignment["epoch"], 1);
  EXPECT_EQ(Owned("a"), (std::vector<int32_t>{0, 1, 2, 3}));
  EXPECT_EQ(st->failovers, 4);
}

TEST_F(FailoverManagerTest, ANewControllerWithFreshWorkersPlansAboveTheEpochTheStatusShowed) {
  // An earlier leader assigned epoch 7 to workers that are gone (a rollout
  // while no operator ran); the new pods hold no epoch. Epoch 1 again would
  // reuse an epoch the status and any surviving old worker have seen.
  for (int n = 1; n <= 3; ++n) workers_.Add(Url(n));
  manager_->OnPodEvent("ADDED", Pod("searches", "a", 1));
  manager_->OnPodEvent("ADDED", Pod("searches", "b", 2));
  manager_->OnPodEvent("ADDED", Pod("searches", "c", 3));
  json owner = Owner("searches", /*failovers=*/1);
  owner["status"]["assignment"] = {{"epoch", 7}, {"parallelism", 2}, {"workers", json::array()}};
  manager_->Sync(owner, Spec());
  ASSERT_TRUE(manager_->Step(kSearches));
  auto st = manager_->Status(kSearches);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->assignment["epoch"], 8);
  EXPECT_EQ(workers_.Get(Url(1)).epoch, 8);
  EXPECT_EQ(Owned("a"), (std::vector<int32_t>{0, 1, 2, 3}));
  EXPECT_EQ(Owned("b"), (std::vector<int32_t>{4, 5, 6, 7}));
  // A further restart adopts epoch 8 from the workers without a new epoch.
  manager_->Forget(kSearches);
  owner["status"]["assignment"]["epoch"] = 8;
  manager_->Sync(owner, Spec());
  manager_->Step(kSearches);
  EXPECT_EQ(manager_->Status(kSearches)->assignment["epoch"], 8);
  EXPECT_EQ(workers_.Get(Url(2)).epoch, 8);
}

TEST_F(FailoverManagerTest, AScaleUpPlannedBeforeTheNewWorkerWasWarmCompletesOnceItIs) {
  workers_.Add(Url(1));
  workers_.Add(Url(2), /*warm=*/false);
  manager_->OnPodEvent("ADDED", Pod("searches", "a", 1));
  manager_->OnPodEvent("ADDED", Pod("searches", "b", 2));
  manager_->Sync(Owner("searches"), Spec(1));
  ASSERT_TRUE(manager_->Step(kSearches));
  EXPECT_EQ(Owned("a"), (std::vector<int32_t>{0, 1, 2, 3, 4, 5, 6, 7}));
  // parallelism 1 -> 2 while b is still cold: a keeps everything for now.
  manager_->Sync(Owner("searches"), Spec(2));
  manager_->Step(kSearches);
  EXPECT_EQ(Owned("a"), (std::vector<int32_t>{0, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_TRUE(Owned("b").empty());
  // b warms up: the job gets its second active without another spec change.
  workers_.SetWarm(Url(2), true);
  now_ms_ += 1000;
  manager_->Step(kSearches);
  EXPECT_EQ(Owned("a"), (std::vector<int32_t>{0, 1, 2, 3}));
  EXPECT_EQ(Owned("b"), (std::vector<int32_t>{4, 5, 6, 7}));
  EXPECT_EQ(workers_.Get(Url(2)).partitions, (std::vector<int32_t>{4, 5, 6, 7}));
  // Planned again: nothing moves.
  const auto epoch = manager_->Status(kSearches)->assignment["epoch"];
  now_ms_ += 1000;
  manager_->Step(kSearches);
  EXPECT_EQ(manager_->Status(kSearches)->assignment["epoch"], epoch);
}

TEST_F(FailoverManagerTest, ANewLeaderAdoptingTwoActivesForParallelismOneScalesDown) {
  // The old leader ran parallelism 2; the new one starts with the spec at 1
  // already (the change came with the leader change) and adopts the
  // workers' assignment: it must not keep two actives for good.
  for (int n = 1; n <= 3; ++n) workers_.Add(Url(n));
  manager_->OnPodEvent("ADDED", Pod("searches", "a", 1));
  manager_->OnPodEvent("ADDED", Pod("searches", "b", 2));
  manager_->OnPodEvent("ADDED", Pod("searches", "c", 3));
  manager_->Sync(Owner("searches"), Spec(2));
  ASSERT_TRUE(manager_->Step(kSearches));
  ASSERT_EQ(Owned("a"), (std::vector<int32_t>{0, 1, 2, 3}));
  ASSERT_EQ(Owned("b"), (std::vector<int32_t>{4, 5, 6, 7}));
  manager_->Forget(kSearches);
  manager_->Sync(Owner("searches"), Spec(1));
  for (int i = 0; i < 3; ++i) {
    now_ms_ += 1000;
    manager_->Step(kSearches);
  }
  int actives = 0;
  std::vector<int32_t> all;
  for (const char* pod : {"a", "b", "c"}) {
    auto owned = Owned(pod);
    if (!owned.empty()) ++actives;
    all.insert(all.end(), owned.begin(), owned.end());
  }
  std::sort(all.begin(), all.end());
  EXPECT_EQ(actives, 1);
  EXPECT_EQ(all, (std::vector<int32_t>{0, 1, 2, 3, 4, 5, 6, 7}));
}

TEST_F(FailoverManagerTest, AfterStopSyncIsIgnored) {
  StartSearches();
  manager_->Stop();
  manager_->Sync(Owner("searches"), Spec());
  EXPECT_FALSE(manager_->Has(kSearches));
}

TEST(FailoverEventMessage, NamesPodPartitionsOwnerDurationsAndCause) {
  FailoverRecord r;
  r.worker = "usp-searches-x";
  r.partitions = {0, 1, 2, 3, 6};
  r.promoted = {"usp-searches-y"};
  r.epoch = 7;
  r.failed_at_ms = 1000;
  r.detected_at_ms = 1120;
  r.handed_over_at_ms = 1150;
  r.cause = "pod deleted";
  EXPECT_EQ(FailoverEventMessage(r),
            "pod usp-searches-x failed owning partitions 0-3,6; moved to usp-searches-y at epoch "
            "7: detection 120 ms, "
            "handover 30 ms; cause: pod deleted");
}

}  // namespace
}  // namespace usp::op
