#include "operator/reconcile/user_signal_reconciler.h"

#include <mutex>
#include <set>

#include <gtest/gtest.h>

#include "core/user_signal.h"
#include "operator/failover/fake_workers.h"
#include "operator/kube/fake_kube_client.h"
#include "operator/reconcile/conditions.h"

namespace usp::op {
namespace {

using nlohmann::json;

class RecordingEvents : public EventRecorder {
 public:
  void Record(const json& object, const std::string& type, const std::string& reason,
              const std::string& message) override {
    std::lock_guard<std::mutex> lock(mu_);
    events.push_back(type + " " + reason + " " + kube::Name(object) + ": " + message);
  }
  bool Has(const std::string& prefix) const {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& e : events) {
      if (e.rfind(prefix, 0) == 0) return true;
    }
    return false;
  }
  std::vector<std::string> events;

 private:
  mutable std::mutex mu_;
};

json SignalSpec() {
  return {{"eventSources", json::array({{{"kafkaTopic", "events.search"}}})},
          {"attributes", {{"destination", "/query/destination"}}},
          {"parallelism", 1},
          {"standbyReplicas", 1}};
}

class UserSignalReconcilerTest : public ::testing::Test {
 protected:
  UserSignalReconcilerTest() {
    options_.worker.image = "usp:test";
    options_.worker.kafka_bootstrap = "kafka:9092";
    options_.worker.service_account = "usp-worker";
    options_.partitions = 8;
    options_.catalog.ns = "usp-system";
    reconciler_ = std::make_unique<UserSignalReconciler>(&client_, &clock_, &events_, options_);
  }

  void CreateSignal(const std::string& name, const json& spec) {
    json obj = {{"apiVersion", "usp.dev/v1alpha1"},
                {"kind", "UserSignal"},
                {"metadata", {{"name", name}, {"namespace", "default"}}},
                {"spec", spec}};
    ASSERT_TRUE(client_.Create(kube::UserSignals(), "default", obj).ok());
  }
  void SetSpec(const std::string& name, const json& spec) {
    json obj = Get(kube::UserSignals(), name);
    obj["spec"] = spec;
    ASSERT_TRUE(client_.Update(kube::UserSignals(), "default", obj).ok());
  }
  json Get(const kube::ResourceDescriptor& r, const std::string& name, const std::string& ns = "default") {
    auto got = client_.Get(r, ns, name);
    return got.ok() ? *got : json();
  }
  ReconcileResult Reconcile(const std::string& name = "searches") {
    auto result = reconciler_->Reconcile({"default", name});
    EXPECT_TRUE(result.ok()) << result.status().ToString();
    return result.ok() ? *result : ReconcileResult{};
  }
  json Condition(const std::string& name, const std::string& type) {
    auto c = FindStatusCondition(Get(kube::UserSignals(), name)["status"]["conditions"], type);
    return c ? *c : json();
  }
  // Plays the Deployment controller: all replicas of the latest template ready.
  void MarkDeploymentReady(const std::string& name, int ready) {
    json dep = Get(kube::Deployments(), "usp-" + name);
    int64_t replicas = dep["spec"]["replicas"];
    dep["status"] = {{"observedGeneration", kube::Generation(dep)},
                     {"replicas", replicas},
                     {"updatedReplicas", replicas},
                     {"readyReplicas", ready},
                     {"availableReplicas", ready}};
    ASSERT_TRUE(client_.UpdateStatus(kube::Deployments(), "default", dep).ok());
  }

  kube::FakeKubeClient client_;
  FakeClock clock_;
  RecordingEvents events_;
  UserSignalReconcilerOptions options_;
  std::unique_ptr<UserSignalReconciler> reconciler_;
};

TEST_F(UserSignalReconcilerTest, CreatesConfigMapAndDeploymentFromNothing) {
  CreateSignal("searches", SignalSpec());
  ReconcileResult result = Reconcile();
  EXPECT_GT(result.requeue_after.count(), 0);  // workers not ready yet: look again

  json signal = Get(kube::UserSignals(), "searches");
  EXPECT_TRUE(kube::HasFinalizer(signal, kFinalizer));

  json cm = Get(kube::ConfigMaps(), "usp-searches");
  ASSERT_TRUE(cm.is_object());
  json job = json::parse(cm["data"]["job.json"].get<std::string>());
  EXPECT_EQ(job["spec"]["outputTopic"], "usp.signal.searches");  // normalized: defaults filled in
  EXPECT_EQ(job["spec"]["onError"], "deadLetter");
  EXPECT_FALSE(job["metadata"].contains("generation"));

  json dep = Get(kube::Deployments(), "usp-searches");
  ASSERT_TRUE(dep.is_object());
  EXPECT_EQ(dep["spec"]["replicas"], 2);  // parallelism 1 + standbyReplicas 1
  const json& ref = dep["metadata"]["ownerReferences"][0];
  EXPECT_EQ(ref["kind"], "UserSignal");
  EXPECT_EQ(ref["uid"], kube::Uid(signal));
  EXPECT_EQ(ref["controller"], true);
  EXPECT_EQ(ref["blockOwnerDeletion"], true);
  EXPECT_TRUE(kube::IsControlledBy(cm, signal));
  const json& pod = dep["spec"]["template"];
  EXPECT_EQ(pod["metadata"]["labels"]["app.kubernetes.io/name"], "usp-worker");
  EXPECT_EQ(pod["metadata"]["labels"]["usp.dev/job"], "searches");
  EXPECT_EQ(pod["metadata"]["labels"]["usp.dev/kind"], "UserSignal");
  EXPECT_EQ(pod["metadata"]["annotations"][kConfigHashAnnotation],
            ConfigHash(cm["data"]["job.json"].get<std::string>()));
  const json& container = pod["spec"]["containers"][0];
  EXPECT_EQ(container["image"], "usp:test");
  EXPECT_EQ(container["command"], json::array({"usp-runtime"}));
  EXPECT_EQ(container["args"][0], "worker");
  EXPECT_EQ(container["args"][1], "--config=/etc/usp/job.json");
  EXPECT_EQ(container["args"][2], "--bootstrap=kafka:9092");
  EXPECT_EQ(container["args"][3], "--http-port=8081");
  EXPECT_EQ(container["args"][4], "--address=$(POD_IP)");
  EXPECT_EQ(container["args"][5], "--partitions=none") << "workers start as warm standbys";
  EXPECT_EQ(container["lifecycle"]["preStop"]["exec"]["command"], json::array({"sleep", "2"}))
      << "a deleted pod's partitions are revoked before SIGTERM";
  EXPECT_EQ(container["readinessProbe"]["httpGet"]["path"], "/readyz");
  EXPECT_EQ(container["livenessProbe"]["httpGet"]["path"], "/healthz");
  EXPECT_EQ(container["securityContext"]["allowPrivilegeEscalation"], false);
  EXPECT_EQ(container["securityContext"]["capabilities"]["drop"], json::array({"ALL"}));
  EXPECT_EQ(pod["spec"]["securityContext"]["runAsNonRoot"], true);
  EXPECT_EQ(pod["spec"]["securityContext"]["seccompProfile"]["type"], "RuntimeDefault");
  EXPECT_EQ(pod["spec"]["serviceAccountName"], "usp-worker");
  EXPECT_EQ(pod["spec"]["automountServiceAccountToken"], false);

  EXPECT_EQ(signal["status"]["observedGeneration"], 1);
  EXPECT_EQ(signal["status"]["partitions"], 8);
  EXPECT_EQ(Condition("searches", "Ready")["status"], "False");
  EXPECT_EQ(Condition("searches", "Progressing")["status"], "True");
  EXPECT_TRUE(events_.Has("Normal Created searches: Created Deployment usp-searches"));

  json catalog = Get(kube::ConfigMaps(), "usp-query-catalog", "usp-system");
  ASSERT_TRUE(catalog["data"].contains("default.searches.yaml"));
  EXPECT_NE(catalog["data"]["index.json"].get<std::string>().find("usp.signal.searches"), std::string::npos);
}

TEST_F(UserSignalReconcilerTest, ASecondPassOnAConvergedObjectMakesNoWrites) {
  CreateSignal("searches", SignalSpec());
  Reconcile();
  MarkDeploymentReady("searches", 2);
  Reconcile();
  EXPECT_EQ(Condition("searches", "Ready")["status"], "True");
  EXPECT_TRUE(events_.Has("Normal Ready searches"));
  const size_t events_before = events_.events.size();
  client_.ClearActions();
  ReconcileResult result = Reconcile();
  EXPECT_EQ(client_.WriteCount(), 0u) << "writes on an idempotent pass";
  EXPECT_EQ(events_.events.size(), events_before);
  EXPECT_EQ(result.requeue_after.count(), 0);
  json status = Get(kube::UserSignals(), "searches")["status"];
  EXPECT_EQ(status["replicas"], json({{"active", 1}, {"standby", 1}, {"warm", 1}}));
}

TEST_F(UserSignalReconcilerTest, ASpecChangeUpdatesReplicasAndTheConfigHash) {
  CreateSignal("searches", SignalSpec());
  Reconcile();
  const json before = Get(kube::Deployments(), "usp-searches");
  json spec = SignalSpec();
  spec["parallelism"] = 3;
  spec["attributes"]["city"] = "/query/city";
  SetSpec("searches", spec);
  Reconcile();
  const json after = Get(kube::Deployments(), "usp-searches");
  EXPECT_EQ(after["spec"]["replicas"], 4);
  EXPECT_NE(after["spec"]["template"]["metadata"]["annotations"][kConfigHashAnnotation],
            before["spec"]["template"]["metadata"]["annotations"][kConfigHashAnnotation]);
  EXPECT_EQ(kube::Uid(after), kube::Uid(before));  // updated in place, not recreated
  json job = json::parse(Get(kube::ConfigMaps(), "usp-searches")["data"]["job.json"].get<std::string>());
  EXPECT_EQ(job["spec"]["attributes"]["city"], "/query/city");
  EXPECT_EQ(Get(kube::UserSignals(), "searches")["status"]["observedGeneration"], 2);
  EXPECT_TRUE(events_.Has("Normal Updated searches: Updated Deployment usp-searches: replicas 2 -> 4"));
}

TEST_F(UserSignalReconcilerTest, AnInvalidSpecIsReportedWithItsFieldPathAndDeploysNothing) {
  json spec = SignalSpec();
  spec["eventSources"][0].erase("kafkaTopic");
  spec["onError"] = "explode";
  CreateSignal("searches", spec);
  Reconcile();
  json ready = Condition("searches", "Ready");
  EXPECT_EQ(ready["status"], "False");
  EXPECT_EQ(ready["reason"], "InvalidSpec");
  EXPECT_NE(ready["message"].get<std::string>().find("spec.eventSources[0].kafkaTopic"), std::string::npos)
      << ready["message"];
  EXPECT_NE(ready["message"].get<std::string>().find("spec.onError"), std::string::npos);
  EXPECT_EQ(Condition("searches", "Degraded")["status"], "True");
  EXPECT_FALSE(Get(kube::Deployments(), "usp-searches").is_object());
  EXPECT_FALSE(Get(kube::ConfigMaps(), "usp-searches").is_object());
  EXPECT_TRUE(events_.Has("Warning InvalidSpec searches: spec.eventSources[0].kafkaTopic"));
  EXPECT_FALSE(Get(kube::ConfigMaps(), "usp-query-catalog", "usp-system")["data"].contains("default.searches.yaml"));
}

TEST_F(UserSignalReconcilerTest, BreakingAValidSpecLeavesTheRunningWorkloadsAlone) {
  CreateSignal("searches", SignalSpec());
  Reconcile();
  json spec = SignalSpec();
  spec["parallelism"] = 0;
  SetSpec("searches", spec);
  client_.ClearActions();
  Reconcile();
  EXPECT_EQ(client_.WriteCount("deployments"), 0u);
  EXPECT_EQ(client_.WriteCount("usersignals"), 1u);  // the status only
  EXPECT_EQ(Condition("searches", "Ready")["reason"], "InvalidSpec");
  EXPECT_NE(Condition("searches", "Ready")["message"].get<std::string>().find("spec.parallelism"), std::string::npos);
  EXPECT_EQ(Get(kube::Deployments(), "usp-searches")["spec"]["replicas"], 2);
}

TEST_F(UserSignalReconcilerTest, AStatusConflictIsRetriedAgainstFreshState) {
  CreateSignal("searches", SignalSpec());
  // Another writer changes the status between our read and our write: the
  // first status update gets 409; the retry must keep the other writer's
  // change (no blind overwrite).
  bool interfered = false;
  client_.SetHook([&](const std::string& verb, const kube::ResourceDescriptor& r, const std::string& ns,
                      const std::string& name) -> std::optional<kube::ApiError> {
    if (verb != "update-status" || r.plural != "usersignals" || interfered) return std::nullopt;
    interfered = true;
    json other = *client_.Get(r, ns, name);
    other["status"]["conditions"] = json::array({{{"type", "ExternalCheck"},
                                                  {"status", "True"},
                                                  {"reason", "Passed"},
                                                  {"message", ""},
                                                  {"lastTransitionTime", "2024-01-01T00:00:00Z"}}});
    EXPECT_TRUE(client_.UpdateStatus(r, ns, other).ok());
    return std::nullopt;  // our own call now carries a stale resourceVersion
  });
  Reconcile();
  ASSERT_TRUE(interfered);
  size_t status_writes = 0;
  for (const auto& a : client_.Actions()) status_writes += a.verb == "update-status" && a.resource == "usersignals";
  EXPECT_EQ(status_writes, 2u);  // the interfering write and our retried one
  EXPECT_EQ(Condition("searches", "ExternalCheck")["status"], "True");
  EXPECT_EQ(Condition("searches", "Ready")["status"], "False");
  EXPECT_EQ(Get(kube::UserSignals(), "searches")["status"]["observedGeneration"], 1);
}

TEST_F(UserSignalReconcilerTest, AConflictOnTheFinalizerUpdateIsRetried) {
  CreateSignal("searches", SignalSpec());
  int conflicts = 1;
  client_.SetHook([&](const std::string& verb, const kube::ResourceDescriptor& r, const std::string&,
                      const std::string& name) -> std::optional<kube::ApiError> {
    if (verb == "update" && r.plural == "usersignals" && conflicts-- > 0) {
      return kube::ApiError::FromStatus(409, {{"reason", "Conflict"}, {"message", "modified"}});
    }
    return std::nullopt;
  });
  Reconcile();
  EXPECT_TRUE(kube::HasFinalizer(Get(kube::UserSignals(), "searches"), kFinalizer));
  EXPECT_TRUE(Get(kube::Deployments(), "usp-searches").is_object());
}

TEST_F(UserSignalReconcilerTest, WritesWhoseAnswerWasLostAreAdoptedNotDuplicated) {
  CreateSignal("searches", SignalSpec());
  // The server carries out the first of each write (finalizer, catalog,
  // ConfigMap, Deployment, status) but answers 500, as when its answer
  // timed out: each reconcile fails, is retried, and finds what it wrote.
  std::set<std::string> lost;
  client_.SetAfterHook([&](const std::string& verb, const kube::ResourceDescriptor& r, const std::string&,
                           const std::string& name) -> std::optional<kube::ApiError> {
    if (r.plural == "events" || !lost.insert(verb + " " + r.plural + " " + name).second) return std::nullopt;
    return kube::ApiError::FromStatus(500, {{"reason", "InternalError"}, {"message", "request timed out"}});
  });
  int failed = 0;
  for (int i = 0; i < 10; ++i) {
    auto result = reconciler_->Reconcile({"default", "searches"});
    if (result.ok()) break;
    ++failed;
    EXPECT_EQ(result.status().code(), Status::Code::kUnavailable) << result.status().ToString();
    EXPECT_NE(result.status().message().find("500"), std::string::npos) << result.status().ToString();
  }
  client_.SetAfterHook(nullptr);
  EXPECT_GE(failed, 3);
  EXPECT_TRUE(lost.count("create deployments usp-searches")) << failed;
  EXPECT_TRUE(lost.count("create configmaps usp-searches"));
  EXPECT_TRUE(lost.count("update usersignals searches"));  // the finalizer
  EXPECT_TRUE(lost.count("update-status usersignals searches"));
  size_t deployment_creates = 0, configmap_creates = 0;
  for (const auto& a : client_.Actions()) {
    deployment_creates += a.verb == "create" && a.resource == "deployments";
    configmap_creates += a.verb == "create" && a.resource == "configmaps" && a.name == "usp-searches";
  }
  EXPECT_EQ(deployment_creates, 1u);  // adopted, never created twice
  EXPECT_EQ(configmap_creates, 1u);
  json signal = Get(kube::UserSignals(), "searches");
  EXPECT_TRUE(kube::HasFinalizer(signal, kFinalizer));
  EXPECT_TRUE(kube::IsControlledBy(Get(kube::Deployments(), "usp-searches"), signal));
  EXPECT_EQ(signal["status"]["observedGeneration"], 1);
  // Nothing lost: the workers become ready and the status says so.
  MarkDeploymentReady("searches", 2);
  Reconcile();
  EXPECT_EQ(Condition("searches", "Ready")["status"], "True");
  client_.ClearActions();
  Reconcile();
  EXPECT_EQ(client_.WriteCount(), 0u);
}

TEST_F(UserSignalReconcilerTest, ACreateMeetingAlreadyExistsAdoptsTheObject) {
  CreateSignal("searches", SignalSpec());
  Reconcile();
  json signal = Get(kube::UserSignals(), "searches");
  ASSERT_TRUE(client_.Delete(kube::Deployments(), "default", "usp-searches").ok());
  // Our read misses the Deployment (created by our previous incarnation, or
  // stale): the create meets 409 AlreadyExists and the object is adopted.
  json theirs = DesiredDeployment(signal, 2, "0000000000000000", options_.worker);
  ASSERT_TRUE(client_.Create(kube::Deployments(), "default", theirs).ok());
  bool missed = false;
  int gets = 0;
  client_.SetHook([&](const std::string& verb, const kube::ResourceDescriptor& r, const std::string&,
                      const std::string&) -> std::optional<kube::ApiError> {
    // The second read of the pass is EnsureDeployment's (the first observes).
    if (verb != "get" || r.plural != "deployments" || ++gets != 2) return std::nullopt;
    missed = true;
    return kube::ApiError::FromStatus(404, {{"reason", "NotFound"}, {"message", "not found"}});
  });
  client_.ClearActions();
  Reconcile();
  ASSERT_TRUE(missed);
  size_t creates = 0, updates = 0;
  for (const auto& a : client_.Actions()) {
    creates += a.verb == "create" && a.resource == "deployments";
    updates += a.verb == "update" && a.resource == "deployments";
  }
  EXPECT_EQ(creates, 0u);  // the create met AlreadyExists
  EXPECT_EQ(updates, 1u);  // and the existing object was brought to the desired spec
  json dep = Get(kube::Deployments(), "usp-searches");
  EXPECT_NE(dep["spec"]["template"]["metadata"]["annotations"][kConfigHashAnnotation], "0000000000000000");
  EXPECT_TRUE(kube::IsControlledBy(dep, signal));
}

TEST_F(UserSignalReconcilerTest, DeletionCleansTheCatalogAndRemovesTheFinalizer) {
  CreateSignal("searches", SignalSpec());
  CreateSignal("bookings", SignalSpec());
  Reconcile("searches");
  Reconcile("bookings");
  ASSERT_TRUE(Get(kube::ConfigMaps(), "usp-query-catalog", "usp-system")["data"].contains("default.searches.yaml"));
  ASSERT_TRUE(client_.Delete(kube::UserSignals(), "default", "searches").ok());
  json deleting = Get(kube::UserSignals(), "searches");
  ASSERT_TRUE(kube::IsBeingDeleted(deleting));  // held by the finalizer
  Reconcile("searches");
  EXPECT_FALSE(Get(kube::UserSignals(), "searches").is_object());  // finalizer removed -> gone
  json catalog = Get(kube::ConfigMaps(), "usp-query-catalog", "usp-system");
  EXPECT_FALSE(catalog["data"].contains("default.searches.yaml"));
  EXPECT_TRUE(catalog["data"].contains("default.bookings.yaml"));
  // Owner references let garbage collection take the workloads.
  EXPECT_FALSE(Get(kube::Deployments(), "usp-searches").is_object());
  EXPECT_FALSE(Get(kube::ConfigMaps(), "usp-searches").is_object());
  EXPECT_TRUE(Get(kube::Deployments(), "usp-bookings").is_object());
  // A reconcile of the vanished key is a no-op.
  client_.ClearActions();
  Reconcile("searches");
  EXPECT_EQ(client_.WriteCount(), 0u);
}

TEST_F(UserSignalReconcilerTest, ADeploymentOwnedBySomeoneElseIsNotTakenOver) {
  ASSERT_TRUE(client_.Create(kube::Deployments(), "default",
                             {{"metadata",
                               {{"name", "usp-searches"},
                                {"ownerReferences", json::array({{{"apiVersion", "apps/v1"},
                                                                  {"kind", "ReplicaSet"},
                                                                  {"name", "x"},
                                                                  {"uid", "other"},
                                                                  {"controller", true}}})}}},
                              {"spec", {{"replicas", 7}}}})
                  .ok());
  CreateSignal("searches", SignalSpec());
  auto result = reconciler_->Reconcile({"default", "searches"});
  EXPECT_FALSE(result.ok());
  EXPECT_EQ(Get(kube::Deployments(), "usp-searches")["spec"]["replicas"], 7);
  EXPECT_EQ(Condition("searches", "Degraded")["reason"], "ReconcileError");
}

TEST_F(UserSignalReconcilerTest, ANewGenerationDuringTheStatusWriteAsksForAnotherPass) {
  CreateSignal("searches", SignalSpec());
  bool changed = false;
  client_.SetHook([&](const std::string& verb, const kube::ResourceDescriptor& r, const std::string& ns,
                      const std::string& name) -> std::optional<kube::ApiError> {
    if (verb != "update-status" || r.plural != "usersignals" || changed) return std::nullopt;
    changed = true;
    json obj = *client_.Get(r, ns, name);
    obj["spec"]["parallelism"] = 2;
    EXPECT_TRUE(client_.Update(r, ns, obj).ok());
    return std::nullopt;
  });
  auto result = reconciler_->Reconcile({"default", "searches"});
  ASSERT_TRUE(result.ok());
  EXPECT_TRUE(result->requeue);
  client_.SetHook(nullptr);
  Reconcile();
  EXPECT_EQ(Get(kube::Deployments(), "usp-searches")["spec"]["replicas"], 3);
  EXPECT_EQ(Get(kube::UserSignals(), "searches")["status"]["observedGeneration"], 2);
}

// A running worker pod of searches on 127.0.0.N, as the pod informer delivers it.
json WorkerPod(const std::string& name, int n) {
  return {{"metadata",
           {{"name", name},
            {"namespace", "default"},
            {"uid", "uid-" + name},
            {"labels", {{"app.kubernetes.io/name", "usp-worker"}, {"usp.dev/job", "searches"}, {"usp.dev/kind", "UserSignal"}}}}},
          {"spec", {{"containers", json::array({{{"name", "worker"}}})}}},
          {"status",
           {{"phase", "Running"},
            {"podIP", "127.0.0." + std::to_string(n)},
            {"containerStatuses",
             json::array({{{"name", "worker"},
                           {"restartCount", 0},
                           {"containerID", "process://" + std::to_string(n)},
                           {"state", {{"running", {{"startedAt", "2023-11-14T22:13:00Z"}}}}}}})}}}};
}

class UserSignalFailoverTest : public UserSignalReconcilerTest {
 protected:
  UserSignalFailoverTest() {
    FailoverManagerOptions o;
    o.run_loops = false;
    o.now = [this] { return now_ms_; };
    failover_ = std::make_unique<FailoverManager>(&workers_, nullptr, &events_, o);
    reconciler_ = std::make_unique<UserSignalReconciler>(&client_, &clock_, &events_, options_, failover_.get());
  }
  // searches with parallelism 2 + 1 standby, its three pods running and the
  // first assignment made (a: 0-3, b: 4-7, c: standby).
  void Start() {
    json spec = SignalSpec();
    spec["parallelism"] = 2;
    CreateSignal("searches", spec);
    Reconcile();
    MarkDeploymentReady("searches", 3);
    for (int n = 1; n <= 3; ++n) {
      workers_.Add("http://127.0.0." + std::to_string(n) + ":8081");
      failover_->OnPodEvent("ADDED", WorkerPod(std::string(1, static_cast<char>('a' + n - 1)), n));
    }
    ASSERT_TRUE(failover_->Step({"default", "searches"}));
    Reconcile();
  }
  json Status() { return Get(kube::UserSignals(), "searches")["status"]; }

  int64_t now_ms_ = 1'700'000'010'500;
  FakeWorkers workers_;
  std::unique_ptr<FailoverManager> failover_;
};

TEST_F(UserSignalFailoverTest, TheStatusShowsTheAssignmentAndTheWarmStandby) {
  Start();
  json status = Status();
  ASSERT_TRUE(status.contains("assignment")) << status.dump(2);
  EXPECT_EQ(status["assignment"]["epoch"], 1);
  EXPECT_EQ(status["assignment"]["parallelism"], 2);
  EXPECT_EQ(status["assignment"]["unassigned"], json::array());
  const json& workers = status["assignment"]["workers"];
  ASSERT_EQ(workers.size(), 3u);
  EXPECT_EQ(workers[0], json({{"name", "a"}, {"role", "active"}, {"partitions", {0, 1, 2, 3}},
                              {"healthy", true}, {"warm", true}, {"lag", 0}}));
  EXPECT_EQ(workers[1]["partitions"], json({4, 5, 6, 7}));
  EXPECT_EQ(workers[2]["role"], "standby");
  EXPECT_EQ(status["replicas"], json({{"active", 2}, {"standby", 1}, {"warm", 1}}));
  EXPECT_EQ(status["failovers"], 0);
  EXPECT_EQ(status["lag"], 0);
  EXPECT_FALSE(status.contains("lastFailover"));
  EXPECT_EQ(Condition("searches", "Degraded")["reason"], "AsExpected");
  // Converged: a second pass writes nothing, even when the workers' lag moved
  // (each status write brings the resource back: fresh lag would loop).
  client_.ClearActions();
  Reconcile();
  workers_.SetLag("http://127.0.0.1:8081", 500);
  failover_->Step({"default", "searches"});
  Reconcile();
  EXPECT_EQ(client_.WriteCount(), 0u);
}

TEST_F(UserSignalFailoverTest, AFailoverIsReportedInTheStatusAndAsAWarningEvent) {
  Start();
  workers_.Kill("http://127.0.0.1:8081");
  json killed = WorkerPod("a", 1);
  killed["status"]["phase"] = "Failed";
  killed["status"]["containerStatuses"][0]["state"] = {
      {"terminated", {{"exitCode", 137}, {"reason", "Error"}, {"finishedAt", "2023-11-14T22:13:30.400Z"}}}};
  now_ms_ += 20;
  failover_->OnPodEvent("MODIFIED", killed);
  ASSERT_TRUE(failover_->Step({"default", "searches"}));
  failover_->Tick();  // records the Event
  Reconcile();

  json status = Status();
  EXPECT_EQ(status["assignment"]["epoch"], 2);
  EXPECT_EQ(status["failovers"], 1);
  const json& last = status["lastFailover"];
  EXPECT_EQ(last["worker"], "a");
  EXPECT_EQ(last["partitions"], json({0, 1, 2, 3}));
  EXPECT_EQ(last["promoted"], json({"c"}));
  EXPECT_EQ(last["detectionMs"], 120);
  EXPECT_EQ(last["handoverMs"], 0);
  EXPECT_EQ(last["cause"], "container terminated: exit code 137 (Error)");
  for (const auto& w : status["assignment"]["workers"]) {
    if (w["name"] == "c") {
      EXPECT_EQ(w["partitions"], json({0, 1, 2, 3}));
    }
    if (w["name"] == "a") {
      EXPECT_EQ(w["healthy"], false);
    }
  }
  EXPECT_EQ(status["replicas"]["warm"], 0);
  EXPECT_EQ(Condition("searches", "Degraded")["reason"], "StandbyUnavailable");
  EXPECT_TRUE(events_.Has("Warning Failover searches: pod a failed owning partitions 0-3; moved to c at epoch 2: "
                          "detection 120 ms, handover 0 ms; cause: container terminated: exit code 137 (Error)"))
      << ::testing::PrintToString(events_.events);
}

TEST_F(UserSignalFailoverTest, PartitionsWithoutAWarmWorkerMakeTheJobDegraded) {
  Start();
  workers_.SetWarm("http://127.0.0.3:8081", false);
  workers_.Kill("http://127.0.0.2:8081");
  failover_->OnPodEvent("DELETED", WorkerPod("b", 2));
  failover_->Step({"default", "searches"});
  Reconcile();
  json status = Status();
  EXPECT_EQ(status["assignment"]["unassigned"], json({4, 5, 6, 7}));
  EXPECT_TRUE(status["lastFailover"]["waiting"].get<bool>());
  json degraded = Condition("searches", "Degraded");
  EXPECT_EQ(degraded["status"], "True");
  EXPECT_EQ(degraded["reason"], "PartitionsUnassigned");
  EXPECT_NE(degraded["message"].get<std::string>().find("partitions 4-7 wait for a warm worker"), std::string::npos)
      << degraded["message"];
}

TEST_F(UserSignalFailoverTest, AnInvalidSpecOrDeletionStopsTheController) {
  Start();
  ASSERT_TRUE(failover_->Has({"default", "searches"}));
  json spec = SignalSpec();
  spec["parallelism"] = 0;
  SetSpec("searches", spec);
  Reconcile();
  EXPECT_FALSE(failover_->Has({"default", "searches"}));
  EXPECT_EQ(Status()["assignment"]["epoch"], 1) << "the last known assignment stays shown";
  SetSpec("searches", SignalSpec());
  Reconcile();
  EXPECT_TRUE(failover_->Has({"default", "searches"}));
  ASSERT_TRUE(client_.Delete(kube::UserSignals(), "default", "searches").ok());
  Reconcile();
  EXPECT_FALSE(failover_->Has({"default", "searches"}));
}

// UserSegments and SessionJobs: the same reconcile, parameterized by kind.
class StatefulJobReconcilerTest : public UserSignalReconcilerTest {
 protected:
  StatefulJobReconcilerTest() {
    segments_ = std::make_unique<JobReconciler>(&client_, &clock_, &events_, UserSegmentKind(), options_);
    sessions_ = std::make_unique<JobReconciler>(&client_, &clock_, &events_, SessionJobKind(), options_);
  }
  void Create(const kube::ResourceDescriptor& r, const std::string& name, const json& spec) {
    json obj = {{"apiVersion", "usp.dev/v1alpha1"},
                {"kind", r.kind},
                {"metadata", {{"name", name}, {"namespace", "default"}}},
                {"spec", spec}};
    ASSERT_TRUE(client_.Create(r, "default", obj).ok());
  }
  static json SegmentSpec() {
    return {{"enter", {{"signals", {"searches"}}}}, {"exit", {{"signals", {"bookings"}}}}, {"expireAfter", "14d"}};
  }
  static json SessionSpec() {
    return {{"signals", {"searches", "home-views"}},
            {"window", {{"type", "sliding"}, {"size", "10m"}, {"slide", "5m"}}},
            {"aggregations", json::array({{{"name", "events"}, {"fn", "count"}}})}};
  }
  ReconcileResult ReconcileWith(JobReconciler* r, const std::string& name) {
    auto result = r->Reconcile({"default", name});
    EXPECT_TRUE(result.ok()) << result.status().ToString();
    return result.ok() ? *result : ReconcileResult{};
  }
  json ConditionOf(const kube::ResourceDescriptor& r, const std::string& name, const std::string& type) {
    auto c = FindStatusCondition(Get(r, name)["status"]["conditions"], type);
    return c ? *c : json();
  }
  static bool HasArg(const json& dep, const std::string& arg) {
    for (const auto& a : dep["spec"]["template"]["spec"]["containers"][0]["args"]) {
      if (a == arg) return true;
    }
    return false;
  }
  static int CountArgsWithPrefix(const json& dep, const std::string& prefix) {
    int n = 0;
    for (const auto& a : dep["spec"]["template"]["spec"]["containers"][0]["args"]) {
      if (a.get<std::string>().rfind(prefix, 0) == 0) ++n;
    }
    return n;
  }

  std::unique_ptr<JobReconciler> segments_;
  std::unique_ptr<JobReconciler> sessions_;
};

TEST_F(StatefulJobReconcilerTest, AUserSegmentRunsAsStatefulWorkersReadingItsSignals) {
  CreateSignal("searches", SignalSpec());
  json bookings = SignalSpec();
  bookings["outputTopic"] = "bookings.v2";
  CreateSignal("bookings", bookings);
  Create(kube::UserSegments(), "planner", SegmentSpec());
  EXPECT_GT(ReconcileWith(segments_.get(), "planner").requeue_after.count(), 0);

  json segment = Get(kube::UserSegments(), "planner");
  EXPECT_TRUE(kube::HasFinalizer(segment, kFinalizer));
  json cm = Get(kube::ConfigMaps(), "usp-segment-planner");
  ASSERT_TRUE(cm.is_object());
  json job = json::parse(cm["data"]["job.json"].get<std::string>());
  EXPECT_EQ(job["kind"], "UserSegment");
  EXPECT_EQ(job["spec"]["outputTopic"], "usp.segment.planner");
  EXPECT_FALSE(job["metadata"].contains("generation"));

  json dep = Get(kube::Deployments(), "usp-segment-planner");
  ASSERT_TRUE(dep.is_object());
  EXPECT_EQ(dep["spec"]["replicas"], 2);
  EXPECT_EQ(dep["metadata"]["ownerReferences"][0]["kind"], "UserSegment");
  EXPECT_EQ(dep["spec"]["selector"]["matchLabels"]["usp.dev/kind"], "UserSegment");
  EXPECT_EQ(dep["spec"]["template"]["metadata"]["labels"]["usp.dev/job"], "planner");
  EXPECT_TRUE(HasArg(dep, "--partitions=none"));
  EXPECT_TRUE(HasArg(dep, "--config=/etc/usp/job.json"));
  EXPECT_TRUE(HasArg(dep, "--state-dir=/var/lib/usp/state")) << dep["spec"]["template"].dump();
  EXPECT_TRUE(HasArg(dep, "--signal-topic=bookings=bookings.v2"));
  EXPECT_EQ(CountArgsWithPrefix(dep, "--signal-topic="), 1) << "searches keeps usp.signal.searches";
  const json& container = dep["spec"]["template"]["spec"]["containers"][0];
  EXPECT_EQ(container["lifecycle"]["preStop"]["exec"]["command"], json::array({"sleep", "2"}));
  EXPECT_EQ(container["readinessProbe"]["httpGet"]["path"], "/readyz");
  bool state_volume = false;
  for (const auto& v : dep["spec"]["template"]["spec"]["volumes"]) {
    state_volume = state_volume || (v["name"] == "state" && v.contains("emptyDir"));
  }
  EXPECT_TRUE(state_volume);
  EXPECT_TRUE(events_.Has("Normal Created planner: Created Deployment usp-segment-planner"));
  EXPECT_EQ(ConditionOf(kube::UserSegments(), "planner", "Ready")["reason"], "WorkersNotReady");
  EXPECT_EQ(segment["status"]["partitions"], 8);

  MarkDeploymentReady("segment-planner", 2);
  ReconcileWith(segments_.get(), "planner");
  EXPECT_EQ(ConditionOf(kube::UserSegments(), "planner", "Ready")["status"], "True");
  EXPECT_EQ(Get(kube::UserSegments(), "planner")["status"]["replicas"],
            json({{"active", 1}, {"standby", 1}, {"warm", 1}}));
  client_.ClearActions();
  ReconcileWith(segments_.get(), "planner");
  EXPECT_EQ(client_.WriteCount(), 0u) << "converged";

  // The query catalog lists the segment too: the query service materializes
  // its output topic and serves /segments.
  json catalog = Get(kube::ConfigMaps(), "usp-query-catalog", "usp-system");
  ASSERT_TRUE(catalog.is_object());
  ASSERT_TRUE(catalog["data"].contains("default.usersegment.planner.yaml")) << catalog.dump();
  EXPECT_TRUE(catalog["data"].contains("default.searches.yaml"));
  json listed = json::parse(catalog["data"]["default.usersegment.planner.yaml"].get<std::string>());
  EXPECT_EQ(listed["kind"], "UserSegment");
  EXPECT_NE(catalog["data"]["index.json"].get<std::string>().find("usp.segment.planner"),
            std::string::npos);

  // A changed outputTopic of a signal it reads rolls the workers.
  bookings["outputTopic"] = "bookings.v3";
  SetSpec("bookings", bookings);
  ReconcileWith(segments_.get(), "planner");
  dep = Get(kube::Deployments(), "usp-segment-planner");
  EXPECT_TRUE(HasArg(dep, "--signal-topic=bookings=bookings.v3"));
  EXPECT_EQ(CountArgsWithPrefix(dep, "--signal-topic="), 1);
}

TEST_F(StatefulJobReconcilerTest, AMissingSignalIsReportedWithItsFieldAndDeploysNothingUntilItExists) {
  CreateSignal("searches", SignalSpec());
  Create(kube::SessionJobs(), "engagement", SessionSpec());
  EXPECT_EQ(ReconcileWith(sessions_.get(), "engagement").requeue_after.count(), 0);
  json ready = ConditionOf(kube::SessionJobs(), "engagement", "Ready");
  EXPECT_EQ(ready["status"], "False");
  EXPECT_EQ(ready["reason"], "SignalNotFound");
  EXPECT_EQ(ready["message"], "spec.signals[1]: no UserSignal \"home-views\" in namespace default");
  EXPECT_EQ(ConditionOf(kube::SessionJobs(), "engagement", "Degraded")["status"], "True");
  EXPECT_TRUE(events_.Has("Warning SignalNotFound engagement: spec.signals[1]"));
  EXPECT_FALSE(Get(kube::Deployments(), "usp-session-engagement").is_object());
  EXPECT_FALSE(Get(kube::ConfigMaps(), "usp-session-engagement").is_object());
  client_.ClearActions();
  ReconcileWith(sessions_.get(), "engagement");
  EXPECT_EQ(client_.WriteCount(), 0u) << "no status rewrite, no second Event";

  CreateSignal("home-views", SignalSpec());
  ReconcileWith(sessions_.get(), "engagement");
  json dep = Get(kube::Deployments(), "usp-session-engagement");
  ASSERT_TRUE(dep.is_object());
  EXPECT_TRUE(HasArg(dep, "--state-dir=/var/lib/usp/state"));
  EXPECT_EQ(CountArgsWithPrefix(dep, "--signal-topic="), 0);
  json job = json::parse(Get(kube::ConfigMaps(), "usp-session-engagement")["data"]["job.json"].get<std::string>());
  EXPECT_EQ(job["kind"], "SessionJob");
  EXPECT_EQ(ConditionOf(kube::SessionJobs(), "engagement", "Ready")["reason"], "WorkersNotReady");
}

TEST_F(StatefulJobReconcilerTest, AnInvalidSegmentGetsInvalidSpecWithTheFieldPath) {
  json spec = SegmentSpec();
  spec["enter"]["signals"] = json::array();
  Create(kube::UserSegments(), "planner", spec);
  ReconcileWith(segments_.get(), "planner");
  json ready = ConditionOf(kube::UserSegments(), "planner", "Ready");
  EXPECT_EQ(ready["reason"], "InvalidSpec");
  EXPECT_EQ(ready["message"].get<std::string>().rfind("spec.enter.signals", 0), 0u) << ready["message"];
  EXPECT_FALSE(Get(kube::Deployments(), "usp-segment-planner").is_object());
}

TEST_F(StatefulJobReconcilerTest, KindsWithTheSameNameDoNotCollide) {
  CreateSignal("searches", SignalSpec());
  Create(kube::UserSegments(), "searches", {{"enter", {{"signals", {"searches"}}}}});
  Reconcile("searches");
  ReconcileWith(segments_.get(), "searches");
  EXPECT_EQ(Get(kube::Deployments(), "usp-searches")["metadata"]["ownerReferences"][0]["kind"], "UserSignal");
  EXPECT_EQ(Get(kube::Deployments(), "usp-segment-searches")["metadata"]["ownerReferences"][0]["kind"],
            "UserSegment");
  EXPECT_NE(ConditionOf(kube::UserSegments(), "searches", "Ready")["reason"], "ReconcileError");
}

TEST_F(StatefulJobReconcilerTest, ALeftJoinSignalGetsAStateDir) {
  CreateSignal("booked", {{"type", "left_join"},
                          {"leftEventSource", {{"kafkaTopic", "bookings"}, {"joinKeyField", "/listing_id"}}},
                          {"rightEventSource", {{"kafkaTopic", "listings"}, {"joinKeyField", "/id"}}},
                          {"userIdField", "/left/user_id"}});
  Reconcile("booked");
  json dep = Get(kube::Deployments(), "usp-booked");
  ASSERT_TRUE(dep.is_object()) << Get(kube::UserSignals(), "booked")["status"].dump();
  EXPECT_TRUE(HasArg(dep, "--state-dir=/var/lib/usp/state"));
  CreateSignal("searches", SignalSpec());
  Reconcile("searches");
  EXPECT_EQ(CountArgsWithPrefix(Get(kube::Deployments(), "usp-searches"), "--state-dir"), 0);
}

TEST_F(StatefulJobReconcilerTest, DeletionRemovesTheFinalizer) {
  CreateSignal("searches", SignalSpec());
  Create(kube::UserSegments(), "planner", {{"enter", {{"signals", {"searches"}}}}});
  ReconcileWith(segments_.get(), "planner");
  ASSERT_TRUE(client_.Delete(kube::UserSegments(), "default", "planner").ok());
  ReconcileWith(segments_.get(), "planner");
  EXPECT_FALSE(Get(kube::UserSegments(), "planner").is_object()) << "finalizer removed, object gone";
}

// A worker pod of a UserSegment.
json SegmentPod(const std::string& name, int n) {
  json pod = WorkerPod(name, n);
  pod["metadata"]["labels"]["usp.dev/job"] = "planner";
  pod["metadata"]["labels"]["usp.dev/kind"] = "UserSegment";
  return pod;
}

TEST_F(UserSignalFailoverTest, AUserSegmentGetsItsOwnFailoverController) {
  JobReconciler segments(&client_, &clock_, &events_, UserSegmentKind(), options_, failover_.get());
  Start();  // the UserSignal searches, pods a-c
  json spec = {{"enter", {{"signals", {"searches"}}}}, {"parallelism", 2}, {"standbyReplicas", 1}};
  ASSERT_TRUE(client_
                  .Create(kube::UserSegments(), "default",
                          {{"apiVersion", "usp.dev/v1alpha1"},
                           {"kind", "UserSegment"},
                           {"metadata", {{"name", "planner"}, {"namespace", "default"}}},
                           {"spec", spec}})
                  .ok());
  ASSERT_TRUE(segments.Reconcile({"default", "planner"}).ok());
  EXPECT_TRUE(failover_->Has({"default", "planner"}, "UserSegment"));
  EXPECT_FALSE(failover_->Has({"default", "planner"}));
  for (int n = 4; n <= 6; ++n) {
    workers_.Add("http://127.0.0." + std::to_string(n) + ":8081");
    failover_->OnPodEvent("ADDED", SegmentPod("s" + std::to_string(n), n));
  }
  ASSERT_TRUE(failover_->Step({"default", "planner"}, "UserSegment"));
  ASSERT_TRUE(segments.Reconcile({"default", "planner"}).ok());
  json status = Get(kube::UserSegments(), "planner")["status"];
  ASSERT_TRUE(status.contains("assignment")) << status.dump(2);
  EXPECT_EQ(status["assignment"]["epoch"], 1);
  ASSERT_EQ(status["assignment"]["workers"].size(), 3u);
  EXPECT_EQ(status["assignment"]["workers"][0]["name"], "s4");
  EXPECT_EQ(status["assignment"]["workers"][0]["partitions"], json({0, 1, 2, 3}));
  // The UserSignal's controller still sees only its own pods.
  EXPECT_EQ(Status()["assignment"]["workers"].size(), 3u);
  EXPECT_EQ(Status()["assignment"]["workers"][0]["name"], "a");

  workers_.Kill("http://127.0.0.4:8081");
  failover_->OnPodEvent("DELETED", SegmentPod("s4", 4));
  ASSERT_TRUE(failover_->Step({"default", "planner"}, "UserSegment"));
  failover_->Tick();
  ASSERT_TRUE(segments.Reconcile({"default", "planner"}).ok());
  status = Get(kube::UserSegments(), "planner")["status"];
  EXPECT_EQ(status["lastFailover"]["worker"], "s4");
  EXPECT_EQ(status["lastFailover"]["promoted"], json({"s6"}));
  EXPECT_EQ(status["failovers"], 1);
  EXPECT_TRUE(events_.Has("Warning Failover planner: pod s4 failed owning partitions 0-3; moved to s6"))
      << ::testing::PrintToString(events_.events);
  EXPECT_FALSE(Status().contains("lastFailover")) << "the UserSignal had no failover";

  ASSERT_TRUE(client_.Delete(kube::UserSegments(), "default", "planner").ok());
  ASSERT_TRUE(segments.Reconcile({"default", "planner"}).ok());
  EXPECT_FALSE(failover_->Has({"default", "planner"}, "UserSegment"));
  EXPECT_TRUE(failover_->Has({"default", "searches"}));
}

TEST(UnsupportedKindReconciler, ReportsReadyFalseUnsupported) {
  kube::FakeKubeClient client;
  FakeClock clock;
  RecordingEvents events;
  ASSERT_TRUE(client.Create(kube::UserSegments(), "default",
                            {{"metadata", {{"name", "planners"}}}, {"spec", {{"expireAfter", "14d"}}}})
                  .ok());
  UnsupportedKindReconciler reconciler(&client, &clock, &events, kube::UserSegments(), 8);
  ASSERT_TRUE(reconciler.Reconcile({"default", "planners"}).ok());
  auto obj = client.Get(kube::UserSegments(), "default", "planners");
  auto ready = FindStatusCondition((*obj)["status"]["conditions"], "Ready");
  ASSERT_TRUE(ready);
  EXPECT_EQ((*ready)["status"], "False");
  EXPECT_EQ((*ready)["reason"], "Unsupported");
  client.ClearActions();
  ASSERT_TRUE(reconciler.Reconcile({"default", "planners"}).ok());
  EXPECT_EQ(client.WriteCount(), 0u);
}

}  // namespace
}  // namespace usp::op
