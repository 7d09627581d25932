#include "operator/controller/leader_election.h"

#include <atomic>
#include <thread>

#include <gtest/gtest.h>

#include "operator/kube/fake_kube_client.h"

namespace usp::op {
namespace {

using std::chrono::milliseconds;

LeaderElectionConfig Config(const std::string& identity) {
  LeaderElectionConfig c;
  c.lease_namespace = "usp-system";
  c.lease_name = "usp-operator";
  c.identity = identity;
  c.lease_duration = milliseconds(15'000);
  c.renew_deadline = milliseconds(10'000);
  c.retry_period = milliseconds(2'000);
  return c;
}

std::string Holder(kube::FakeKubeClient& client) {
  auto lease = client.Get(kube::Leases(), "usp-system", "usp-operator");
  return lease.ok() ? (*lease)["spec"].value("holderIdentity", "") : "<none>";
}

TEST(LeaderElection, OnlyOneOfTwoCandidatesLeads) {
  kube::FakeKubeClient client;
  FakeClock clock;
  LeaderElector a(&client, &clock, Config("a"));
  LeaderElector b(&client, &clock, Config("b"));
  EXPECT_TRUE(a.TryAcquireOrRenew());
  EXPECT_FALSE(b.TryAcquireOrRenew());
  for (int i = 0; i < 10; ++i) {  // a renews every retry period; b never gets in
    clock.Advance(milliseconds(2'000));
    EXPECT_TRUE(a.TryAcquireOrRenew());
    EXPECT_FALSE(b.TryAcquireOrRenew());
    EXPECT_TRUE(a.IsLeader());
    EXPECT_FALSE(b.IsLeader());
  }
  EXPECT_EQ(Holder(client), "a");
  auto lease = client.Get(kube::Leases(), "usp-system", "usp-operator");
  EXPECT_EQ((*lease)["spec"]["leaseDurationSeconds"], 15);
  EXPECT_EQ((*lease)["spec"]["leaseTransitions"], 0);
}

TEST(LeaderElection, AnotherCandidateTakesOverAfterTheLeaseExpires) {
  kube::FakeKubeClient client;
  FakeClock clock;
  LeaderElector a(&client, &clock, Config("a"));
  LeaderElector b(&client, &clock, Config("b"));
  ASSERT_TRUE(a.TryAcquireOrRenew());
  EXPECT_FALSE(b.TryAcquireOrRenew());  // b first observes a's lease now
  // a stops renewing (crashed). Not yet expired as b observed it...
  clock.Advance(milliseconds(14'000));
  EXPECT_FALSE(b.TryAcquireOrRenew());
  // ...then expired.
  clock.Advance(milliseconds(1'500));
  EXPECT_TRUE(b.TryAcquireOrRenew());
  EXPECT_EQ(Holder(client), "b");
  auto lease = client.Get(kube::Leases(), "usp-system", "usp-operator");
  EXPECT_EQ((*lease)["spec"]["leaseTransitions"], 1);
  // The old leader, back, must not win the lease back nor think it leads.
  EXPECT_FALSE(a.TryAcquireOrRenew());
  EXPECT_FALSE(a.IsLeader());
}

TEST(LeaderElection, AReleasedLeaseIsTakenAtOnce) {
  kube::FakeKubeClient client;
  FakeClock clock;
  LeaderElector a(&client, &clock, Config("a"));
  LeaderElector b(&client, &clock, Config("b"));
  ASSERT_TRUE(a.TryAcquireOrRenew());
  EXPECT_FALSE(b.TryAcquireOrRenew());
  a.Release();
  EXPECT_FALSE(a.IsLeader());
  EXPECT_EQ(Holder(client), "");
  EXPECT_TRUE(b.TryAcquireOrRenew());
}

TEST(LeaderElection, ConcurrentCandidatesNeverBothWin) {
  // Both read the free lease, both try to write it: the resourceVersion
  // check lets exactly one through.
  kube::FakeKubeClient client;
  FakeClock clock;
  LeaderElector a(&client, &clock, Config("a"));
  LeaderElector b(&client, &clock, Config("b"));
  ASSERT_TRUE(a.TryAcquireOrRenew());
  a.Release();
  for (int round = 0; round < 20; ++round) {
    std::atomic<int> winners{0};
    std::thread ta([&] { winners += a.TryAcquireOrRenew() && Holder(client) == "a"; });
    std::thread tb([&] { winners += b.TryAcquireOrRenew() && Holder(client) == "b"; });
    ta.join();
    tb.join();
    EXPECT_LE(winners.load(), 1);
    EXPECT_FALSE(a.IsLeader() && b.IsLeader());
    (a.IsLeader() ? a : b).Release();
  }
}

TEST(LeaderElection, RunStopsLeadingWhenRenewalsFailPastTheDeadline) {
  kube::FakeKubeClient client;
  SystemClock clock;
  LeaderElectionConfig config = Config("a");
  config.lease_duration = milliseconds(1'000);
  config.renew_deadline = milliseconds(300);
  config.retry_period = milliseconds(100);
  LeaderElector a(&client, &clock, config);
  std::atomic<bool> started{false}, stopped{false}, fail{false};
  client.SetHook([&](const std::string& verb, const kube::ResourceDescriptor&, const std::string&,
                     const std::string&) -> std::optional<kube::ApiError> {
    if (fail && verb == "update") return kube::ApiError::Transport("API server unreachable");
    return std::nullopt;
  });
  std::thread runner([&] {
    bool clean = a.Run([] { return false; }, [&] { started = true; }, [&] { stopped = true; });
    EXPECT_FALSE(clean);
  });
  while (!started) std::this_thread::sleep_for(milliseconds(10));
  fail = true;
  runner.join();
  EXPECT_TRUE(stopped);
  EXPECT_FALSE(a.IsLeader());
}

}  // namespace
}  // namespace usp::op
