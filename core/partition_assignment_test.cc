#include "core/partition_assignment.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>

namespace usp {
namespace {

using Parts = std::vector<int32_t>;

WorkerState Up(const std::string& id, bool warm = true) { return {id, true, warm}; }
WorkerState Down(const std::string& id) { return {id, false, false}; }

Parts Range(int32_t from, int32_t to) {  // [from, to]
  Parts out;
  for (int32_t p = from; p <= to; ++p) out.push_back(p);
  return out;
}

PartitionAssignment Assignment(int64_t epoch, int32_t parallelism,
                               std::map<std::string, Parts> active,
                               std::vector<std::string> standbys) {
  return {epoch, parallelism, std::move(active), std::move(standbys)};
}

AssignmentPlan Plan(int32_t n, int32_t parallelism, std::vector<WorkerState> workers,
                    PartitionAssignment previous = {}) {
  PlanInput in;
  in.num_partitions = n;
  in.parallelism = parallelism;
  in.workers = std::move(workers);
  in.previous = std::move(previous);
  AssignmentPlan plan = PlanAssignment(in);
  EXPECT_TRUE(Validate(plan.next, n).ok()) << Validate(plan.next, n).ToString();
  return plan;
}

// Partitions that changed owner, as the plan reports them.
std::set<int32_t> Moved(const AssignmentPlan& plan) {
  std::set<int32_t> out;
  for (const auto& m : plan.moves) out.insert(m.partition);
  return out;
}

// The steady state the failover tests start from: w1 [0-3], w2 [4-7], w3 standby.
PartitionAssignment TwoActivesOneStandby() {
  return Assignment(1, 2, {{"w1", Range(0, 3)}, {"w2", Range(4, 7)}}, {"w3"});
}

TEST(PartitionPlanner, InitialAssignmentSplitsPartitionsEvenlyAndKeepsTheRestAsStandbys) {
  AssignmentPlan plan = Plan(8, 2, {Up("w3"), Up("w1"), Up("w2")});
  EXPECT_EQ(plan.next, TwoActivesOneStandby());
  EXPECT_TRUE(plan.changed);
  ASSERT_EQ(plan.moves.size(), 8u);
  for (const auto& m : plan.moves) {
    EXPECT_EQ(m.from, "");
    EXPECT_EQ(m.reason, "initial assignment");
  }
  EXPECT_EQ(plan.reason, "initial assignment");
}

TEST(PartitionPlanner, InitialAssignmentPrefersWarmWorkersAsActives) {
  AssignmentPlan plan = Plan(4, 1, {Up("a", false), Up("b", true)});
  EXPECT_EQ(plan.next, Assignment(1, 1, {{"b", Range(0, 3)}}, {"a"}));
}

TEST(PartitionPlanner, InitialAssignmentWithFewerWorkersThanParallelismSaysSo) {
  AssignmentPlan plan = Plan(5, 3, {Up("w1"), Up("w2")});
  EXPECT_EQ(plan.next, Assignment(1, 3, {{"w1", {0, 1, 2}}, {"w2", {3, 4}}}, {}));
  EXPECT_NE(plan.reason.find("only 2 warm actives for parallelism 3"), std::string::npos) << plan.reason;
}

TEST(PartitionPlanner, FailedActiveIsReplacedByWarmStandbyTakingExactlyItsPartitions) {
  AssignmentPlan plan = Plan(8, 2, {Down("w1"), Up("w2"), Up("w3")}, TwoActivesOneStandby());
  EXPECT_EQ(plan.next, Assignment(2, 2, {{"w2", Range(4, 7)}, {"w3", Range(0, 3)}}, {}));
  EXPECT_EQ(plan.promoted, std::vector<std::string>{"w3"});
  ASSERT_EQ(plan.moves.size(), 4u);
  for (const auto& m : plan.moves) {
    EXPECT_EQ(m.from, "w1");
    EXPECT_EQ(m.to, "w3");
    EXPECT_EQ(m.reason, "worker w1 failed");
  }
  EXPECT_EQ(plan.reason, "worker w1 failed: promoted warm standby w3");
}

TEST(PartitionPlanner, WorkerMissingFromTheSnapshotCountsAsFailed) {
  AssignmentPlan plan = Plan(8, 2, {Up("w2"), Up("w3")}, TwoActivesOneStandby());
  EXPECT_EQ(plan.next.active.at("w3"), Range(0, 3));
  EXPECT_EQ(plan.next.active.at("w2"), Range(4, 7));
  EXPECT_EQ(Moved(plan), (std::set<int32_t>{0, 1, 2, 3}));
}

TEST(PartitionPlanner, WarmStandbyIsPromotedBeforeColdOneEvenIfItSortsLater) {
  auto prev = Assignment(4, 2, {{"w1", Range(0, 3)}, {"w2", Range(4, 7)}}, {"s1", "s2"});
  AssignmentPlan plan = Plan(8, 2, {Down("w1"), Up("w2"), Up("s1", false), Up("s2", true)}, prev);
  EXPECT_EQ(plan.promoted, std::vector<std::string>{"s2"});
  EXPECT_EQ(plan.next.active.at("s2"), Range(0, 3));
  EXPECT_EQ(plan.next.standbys, std::vector<std::string>{"s1"});
  EXPECT_EQ(plan.moves[0].reason, "worker w1 failed");
}

TEST(PartitionPlanner, WithoutWarmStandbyPartitionsWaitForTheNextWarmWorker) {
  auto prev = Assignment(4, 2, {{"w1", Range(0, 3)}, {"w2", Range(4, 7)}}, {"s1"});
  AssignmentPlan plan = Plan(8, 2, {Down("w1"), Up("w2"), Up("s1", false)}, prev);
  // The cold standby is not promoted and w2 does not absorb w1's load.
  EXPECT_EQ(plan.next, Assignment(5, 2, {{"w2", Range(4, 7)}}, {"s1"}));
  EXPECT_TRUE(plan.promoted.empty());
  EXPECT_TRUE(plan.moves.empty());
  EXPECT_EQ(plan.unassigned, Range(0, 3));
  EXPECT_NE(plan.reason.find("waiting for a warm worker: partitions 0-3 unassigned"),
            std::string::npos)
      << plan.reason;

  // Planning again while s1 is still cold changes nothing.
  AssignmentPlan still = Plan(8, 2, {Up("w2"), Up("s1", false)}, plan.next);
  EXPECT_FALSE(still.changed);
  EXPECT_EQ(still.unassigned, Range(0, 3));

  // Once s1 is warm it takes exactly the waiting partitions.
  AssignmentPlan warm = Plan(8, 2, {Up("w2"), Up("s1", true)}, plan.next);
  EXPECT_EQ(warm.next, Assignment(6, 2, {{"s1", Range(0, 3)}, {"w2", Range(4, 7)}}, {}));
  EXPECT_EQ(warm.promoted, std::vector<std::string>{"s1"});
  EXPECT_EQ(Moved(warm), (std::set<int32_t>{0, 1, 2, 3}));
  EXPECT_TRUE(warm.unassigned.empty());
}

TEST(PartitionPlanner, UnhealthyStandbyIsNeverPromoted) {
  auto prev = Assignment(4, 2, {{"w1", Range(0, 3)}, {"w2", Range(4, 7)}}, {"s1", "s2"});
  AssignmentPlan plan = Plan(8, 2, {Down("w1"), Up("w2"), Down("s1"), Up("s2", true)}, prev);
  EXPECT_EQ(plan.promoted, std::vector<std::string>{"s2"});
  EXPECT_EQ(plan.next.standbys, std::vector<std::string>{});
  // s1 is healthy again but still cold, w1 is back warm: w1 has lost its
  // partitions for good and s1 would not be promoted; both are standbys.
  AssignmentPlan back = Plan(8, 2, {Up("w1"), Up("w2"), Up("s1", false), Up("s2")}, plan.next);
  EXPECT_TRUE(back.moves.empty());
  EXPECT_EQ(back.next.standbys, (std::vector<std::string>{"s1", "w1"}));
}

TEST(PartitionPlanner, SeveralFailuresAtOnceEachGetTheirOwnStandby) {
  auto prev = Assignment(3, 3, {{"w1", Range(0, 2)}, {"w2", Range(3, 5)}, {"w3", Range(6, 8)}},
                         {"s1", "s2"});
  AssignmentPlan plan = Plan(9, 3, {Down("w1"), Up("w2"), Down("w3"), Up("s1"), Up("s2")}, prev);
  EXPECT_EQ(plan.next,
            Assignment(4, 3, {{"s1", Range(0, 2)}, {"w2", Range(3, 5)}, {"s2", Range(6, 8)}}, {}));
  EXPECT_EQ(plan.promoted, (std::vector<std::string>{"s1", "s2"}));
  EXPECT_EQ(plan.moves.size(), 6u);
}

TEST(PartitionPlanner, WithoutAnyStandbyTheFailedWorkersPartitionsWaitForItsReplacement) {
  auto prev = Assignment(2, 3, {{"w1", Range(0, 2)}, {"w2", Range(3, 5)}, {"w3", Range(6, 8)}}, {});
  AssignmentPlan plan = Plan(9, 3, {Down("w1"), Up("w2"), Up("w3")}, prev);
  EXPECT_EQ(plan.next, Assignment(3, 3, {{"w2", Range(3, 5)}, {"w3", Range(6, 8)}}, {}));
  EXPECT_TRUE(plan.moves.empty());
  EXPECT_EQ(plan.unassigned, Range(0, 2));
  // The replacement (a new pod, a restarted process) comes up cold, then warm.
  AssignmentPlan cold = Plan(9, 3, {Up("w2"), Up("w3"), Up("w4", false)}, plan.next);
  EXPECT_EQ(cold.unassigned, Range(0, 2));
  AssignmentPlan warm = Plan(9, 3, {Up("w2"), Up("w3"), Up("w4")}, cold.next);
  EXPECT_EQ(warm.next.active.at("w4"), Range(0, 2));
  EXPECT_EQ(warm.moves.size(), 3u);
  EXPECT_EQ(warm.moves[0].reason, "unassigned partition");
}

TEST(PartitionPlanner, AllWorkersDeadLeavesPartitionsUnassignedWithAReason) {
  AssignmentPlan plan = Plan(8, 2, {Down("w1"), Down("w2"), Down("w3")}, TwoActivesOneStandby());
  EXPECT_EQ(plan.next, Assignment(2, 2, {}, {}));
  EXPECT_EQ(plan.unassigned, Range(0, 7));
  EXPECT_TRUE(plan.moves.empty());
  EXPECT_NE(plan.reason.find("no healthy worker: partitions 0-7 unassigned"), std::string::npos)
      << plan.reason;

  // The partitions wait for the next warm worker, which takes them all.
  AssignmentPlan cold = Plan(8, 2, {Up("w4", false)}, plan.next);
  EXPECT_EQ(cold.next, Assignment(3, 2, {}, {"w4"}));
  EXPECT_EQ(cold.unassigned, Range(0, 7));
  AssignmentPlan back = Plan(8, 2, {Up("w4")}, cold.next);
  EXPECT_EQ(back.next, Assignment(4, 2, {{"w4", Range(0, 7)}}, {}));
  EXPECT_TRUE(back.unassigned.empty());
  EXPECT_EQ(back.moves.size(), 8u);
  EXPECT_EQ(back.moves[0].reason, "unassigned partition");
}

TEST(PartitionPlanner, ParallelismTwoToThreeMovesOnlyTheExcessToTheNewActive) {
  AssignmentPlan plan = Plan(8, 3, {Up("w1"), Up("w2"), Up("w3")}, TwoActivesOneStandby());
  EXPECT_EQ(plan.next,
            Assignment(2, 3, {{"w1", {0, 1, 2}}, {"w2", {4, 5, 6}}, {"w3", {3, 7}}}, {}));
  ASSERT_EQ(plan.moves.size(), 2u);  // the minimum: 8 - 3 - 3
  for (const auto& m : plan.moves) {
    EXPECT_EQ(m.to, "w3");
    EXPECT_EQ(m.reason, "rebalance: parallelism 2 -> 3");
  }
  EXPECT_EQ(plan.promoted, std::vector<std::string>{"w3"});
}

TEST(PartitionPlanner, ParallelismThreeToTwoMovesOnlyTheRemovedActivesPartitions) {
  auto prev = Assignment(5, 3, {{"w1", {0, 1, 2}}, {"w2", {4, 5, 6}}, {"w3", {3, 7}}}, {});
  AssignmentPlan plan = Plan(8, 2, {Up("w1"), Up("w2"), Up("w3")}, prev);
  EXPECT_EQ(plan.next, Assignment(6, 2, {{"w1", {0, 1, 2, 3}}, {"w2", {4, 5, 6, 7}}}, {"w3"}));
  ASSERT_EQ(plan.moves.size(), 2u);
  for (const auto& m : plan.moves) {
    EXPECT_EQ(m.from, "w3");
    EXPECT_EQ(m.reason, "rebalance: parallelism 3 -> 2");
  }
}

TEST(PartitionPlanner, ScaleDownKeepsTheMostLoadedActives) {
  auto prev = Assignment(5, 3, {{"a", {0}}, {"b", {1, 2, 3}}, {"c", {4, 5, 6, 7}}}, {});
  AssignmentPlan plan = Plan(8, 2, {Up("a"), Up("b"), Up("c")}, prev);
  EXPECT_EQ(plan.next, Assignment(6, 2, {{"b", {0, 1, 2, 3}}, {"c", {4, 5, 6, 7}}}, {"a"}));
  EXPECT_EQ(plan.moves.size(), 1u);
}

TEST(PartitionPlanner, ForcedRebalanceEvensOutUnevenActives) {
  auto prev = Assignment(3, 2, {{"w2", Range(0, 7)}}, {"w4"});
  PlanInput in{8, 2, {Up("w2"), Up("w4")}, prev, /*force_rebalance=*/true};
  AssignmentPlan plan = PlanAssignment(in);
  EXPECT_EQ(plan.next, Assignment(4, 2, {{"w2", Range(0, 3)}, {"w4", Range(4, 7)}}, {}));
  EXPECT_EQ(plan.moves[0].reason, "rebalance: requested");
}

TEST(PartitionPlanner, ReturningWorkerBecomesStandbyWithoutItsOldPartitions) {
  AssignmentPlan failover = Plan(8, 2, {Down("w1"), Up("w2"), Up("w3")}, TwoActivesOneStandby());
  AssignmentPlan back = Plan(8, 2, {Up("w1"), Up("w2"), Up("w3")}, failover.next);
  EXPECT_EQ(back.next, Assignment(3, 2, {{"w2", Range(4, 7)}, {"w3", Range(0, 3)}}, {"w1"}));
  EXPECT_TRUE(back.moves.empty());
  EXPECT_TRUE(back.changed);  // the standby list changed
}

TEST(PartitionPlanner, InitialAssignmentUsesOnlyWarmWorkers) {
  AssignmentPlan plan = Plan(4, 2, {Up("w1", false), Up("w2", false)});
  EXPECT_EQ(plan.next.active.size(), 0u);
  EXPECT_EQ(plan.unassigned, Range(0, 3));
  AssignmentPlan one = Plan(4, 2, {Up("w1"), Up("w2", false)});
  EXPECT_EQ(one.next.active, (std::map<std::string, Parts>{{"w1", Range(0, 3)}}));
  EXPECT_NE(one.reason.find("only 1 warm actives for parallelism 2"), std::string::npos)
      << one.reason;
}

TEST(PartitionPlanner, PlanningAgainOnTheResultChangesNothing) {
  const std::vector<WorkerState> workers = {Down("w1"), Up("w2"), Up("w3", false), Up("w4")};
  for (int32_t parallelism : {1, 2, 3}) {
    AssignmentPlan first = Plan(8, parallelism, workers, TwoActivesOneStandby());
    AssignmentPlan again = Plan(8, parallelism, workers, first.next);
    EXPECT_EQ(again.next, first.next) << parallelism;
    EXPECT_FALSE(again.changed);
    EXPECT_TRUE(again.moves.empty());
    EXPECT_TRUE(again.promoted.empty());
    EXPECT_EQ(again.reason, "no change");
  }
}

TEST(PartitionPlanner, EpochIncreasesByOneOnEveryChangeAndOnlyThen) {
  AssignmentPlan p1 = Plan(8, 2, {Up("w1"), Up("w2"), Up("w3")});
  AssignmentPlan p2 = Plan(8, 2, {Up("w1"), Up("w2"), Up("w3")}, p1.next);
  AssignmentPlan p3 = Plan(8, 2, {Down("w1"), Up("w2"), Up("w3")}, p2.next);
  AssignmentPlan p4 = Plan(8, 2, {Up("w2"), Up("w3"), Up("w5")}, p3.next);
  AssignmentPlan p5 = Plan(8, 3, {Up("w2"), Up("w3"), Up("w5")}, p4.next);
  EXPECT_EQ(p1.next.epoch, 1);
  EXPECT_EQ(p2.next.epoch, 1);
  EXPECT_EQ(p3.next.epoch, 2);
  EXPECT_EQ(p4.next.epoch, 3);
  EXPECT_EQ(p5.next.epoch, 4);
}

TEST(PartitionPlanner, PreviousAssignmentWithDoubleOwnershipIsRepaired) {
  auto prev = Assignment(7, 2, {{"w1", {0, 1, 2}}, {"w2", {2, 3}}}, {});
  AssignmentPlan plan = Plan(4, 2, {Up("w1"), Up("w2")}, prev);
  EXPECT_EQ(plan.next, Assignment(8, 2, {{"w1", {0, 1, 2}}, {"w2", {3}}}, {}));
}

TEST(PartitionPlanner, NewPartitionsGoToTheLeastLoadedActives) {
  AssignmentPlan plan = Plan(10, 2, {Up("w1"), Up("w2")},
                             Assignment(1, 2, {{"w1", Range(0, 3)}, {"w2", Range(4, 7)}}, {}));
  EXPECT_EQ(plan.next.active.at("w1"), (Parts{0, 1, 2, 3, 8}));
  EXPECT_EQ(plan.next.active.at("w2"), (Parts{4, 5, 6, 7, 9}));
  EXPECT_EQ(plan.moves[0].reason, "unassigned partition");
}

// Random snapshots: health flips, workers come and go, parallelism and the
// partition count change. The invariants hold at every step.
TEST(PartitionPlanner, RandomScenariosNeverDoubleAssignAndCoverEveryPartition) {
  std::mt19937 rng(20240611);
  auto chance = [&rng](int percent) {
    return std::uniform_int_distribution<int>(0, 99)(rng) < percent;
  };
  for (int scenario = 0; scenario < 300; ++scenario) {
    int32_t n = std::uniform_int_distribution<int32_t>(0, 16)(rng);
    int32_t parallelism = std::uniform_int_distribution<int32_t>(1, 4)(rng);
    std::map<std::string, WorkerState> workers;
    for (int i = 0; i < 4; ++i) {
      std::string id = "w" + std::to_string(i);
      workers[id] = {id, chance(80), chance(70)};
    }
    PartitionAssignment prev;
    int next_id = 4;
    for (int step = 0; step < 12; ++step) {
      SCOPED_TRACE("scenario " + std::to_string(scenario) + " step " + std::to_string(step));
      const int32_t prev_parallelism = parallelism;
      const bool from_scratch = prev.epoch == 0 && prev.active.empty();
      if (step > 0) {
        for (auto& [id, w] : workers) {
          if (chance(20)) w.healthy = !w.healthy;
          if (chance(20)) w.warm = !w.warm;
        }
        if (chance(15)) {
          std::string id = "w" + std::to_string(next_id++);
          workers[id] = {id, true, chance(50)};
        }
        if (chance(10) && !workers.empty()) workers.erase(workers.begin());
        if (chance(15)) parallelism = std::uniform_int_distribution<int32_t>(1, 4)(rng);
        if (chance(5)) n += 2;
      }
      PlanInput in;
      in.num_partitions = n;
      in.parallelism = parallelism;
      for (const auto& [id, w] : workers) in.workers.push_back(w);
      in.previous = prev;
      AssignmentPlan plan = PlanAssignment(in);
      const PartitionAssignment& next = plan.next;

      ASSERT_TRUE(Validate(next, n).ok()) << Validate(next, n).ToString();
      std::set<std::string> healthy;
      for (const auto& [id, w] : workers) {
        if (w.healthy) healthy.insert(id);
      }
      size_t owned = 0;
      for (const auto& [id, parts] : next.active) {
        EXPECT_TRUE(healthy.count(id)) << id << " is active but not healthy";
        owned += parts.size();
      }
      EXPECT_EQ(owned + plan.unassigned.size(), static_cast<size_t>(n));
      for (const auto& id : plan.promoted) {
        EXPECT_TRUE(workers.at(id).warm) << "promoted " << id << " is cold";
      }
      if (!plan.unassigned.empty()) {
        // Partitions wait only while the job is below strength and no warm
        // worker is left to promote.
        EXPECT_LT(next.active.size(), static_cast<size_t>(std::min(parallelism, n)));
        for (const auto& id : next.standbys) {
          EXPECT_FALSE(workers.at(id).warm) << id << " is warm but was not promoted";
        }
      }
      for (const auto& id : next.standbys) EXPECT_TRUE(healthy.count(id));
      EXPECT_EQ(next.active.size() + next.standbys.size(), healthy.size());

      EXPECT_EQ(next.epoch, prev.epoch + (plan.changed ? 1 : 0));
      if (!plan.changed) {
        EXPECT_EQ(next, prev);
      }
      for (const auto& m : plan.moves) {
        EXPECT_FALSE(m.reason.empty());
        EXPECT_NE(m.from, m.to);
        const auto& to_parts = next.active.at(m.to);
        EXPECT_TRUE(std::binary_search(to_parts.begin(), to_parts.end(), m.partition));
      }

      const bool rebalance = from_scratch || prev_parallelism != parallelism || step == 0;
      if (!rebalance) {
        // Failover: healthy actives keep everything they had.
        for (const auto& m : plan.moves) {
          EXPECT_TRUE(m.from.empty() || !healthy.count(m.from))
              << m.partition << " from " << m.from;
        }
        for (const auto& [id, parts] : prev.active) {
          if (!healthy.count(id)) continue;
          for (int32_t p : parts) {
            if (p >= n) continue;
            const auto& now = next.active.at(id);
            EXPECT_TRUE(std::binary_search(now.begin(), now.end(), p));
          }
        }
      } else if (!next.active.empty()) {
        size_t lo = SIZE_MAX, hi = 0;
        for (const auto& [id, parts] : next.active) {
          lo = std::min(lo, parts.size());
          hi = std::max(hi, parts.size());
        }
        EXPECT_LE(hi - lo, 1u);
      }

      in.previous = next;
      AssignmentPlan again = PlanAssignment(in);
      EXPECT_FALSE(again.changed);
      EXPECT_TRUE(again.moves.empty());
      EXPECT_EQ(again.next, next);
      prev = next;
    }
  }
}

TEST(PartitionAssignmentValidate, RejectsDoubleOwnershipAndOutOfRangePartitions) {
  EXPECT_TRUE(Validate(TwoActivesOneStandby(), 8).ok());
  Status dup = Validate(Assignment(1, 2, {{"a", {0, 1}}, {"b", {1}}}, {}), 2);
  EXPECT_EQ(dup.code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(dup.message(), "partition 1 owned by both a and b");
  EXPECT_FALSE(Validate(Assignment(1, 1, {{"a", {0, 0}}}, {}), 2).ok());
  EXPECT_FALSE(Validate(Assignment(1, 1, {{"a", {2}}}, {}), 2).ok());
  EXPECT_FALSE(Validate(Assignment(1, 1, {{"a", {0}}}, {"a"}), 2).ok());
  EXPECT_FALSE(Validate(Assignment(1, 1, {{"a", {0}}}, {"b", "b"}), 2).ok());
  EXPECT_FALSE(Validate(Assignment(-1, 1, {}, {}), 2).ok());
  EXPECT_TRUE(Validate(Assignment(3, 2, {}, {}), 2).ok());  // all dead is valid
}

TEST(PartitionAssignmentJson, RoundTrips) {
  const PartitionAssignment a = TwoActivesOneStandby();
  const nlohmann::json j = ToJson(a);
  EXPECT_EQ(j, nlohmann::json::parse(R"({"epoch": 1, "parallelism": 2,
      "active": {"w1": [0, 1, 2, 3], "w2": [4, 5, 6, 7]}, "standbys": ["w3"]})"));
  Result<PartitionAssignment> back = ParsePartitionAssignment(j);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, a);
  EXPECT_EQ(
      ToJson(PartitionAssignment{}),
      nlohmann::json::parse(R"({"epoch": 0, "parallelism": 0, "active": {}, "standbys": []})"));
}

TEST(PartitionAssignmentJson, ParseSortsPartitionsAndRejectsWrongTypes) {
  auto sorted = ParsePartitionAssignment(nlohmann::json::parse(R"({"active": {"a": [3, 1]}})"));
  ASSERT_TRUE(sorted.ok());
  EXPECT_EQ(sorted->active.at("a"), (Parts{1, 3}));
  for (const char* bad : {R"([])", R"({"epoch": "1"})", R"({"epoch": -1})", R"({"active": []})",
                          R"({"active": {"a": [-1]}})", R"({"active": {"a": [1.5]}})",
                          R"({"standbys": [1]})", R"({"parallelism": 4294967296})"}) {
    auto r = ParsePartitionAssignment(nlohmann::json::parse(bad));
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument);
    }
  }
}

}  // namespace
}  // namespace usp
