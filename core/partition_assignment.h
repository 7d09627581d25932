#pragma once
// Partition ownership for one job and the pure planner that changes it.
//
// A PartitionAssignment says which worker (pod or child process) owns which
// source partitions at an epoch. PlanAssignment takes a snapshot of the job
// (partition count, desired parallelism, worker health and warmth, the previous
// assignment) and returns the next assignment plus every move and why. It does
// no I/O and keeps no state: the controller applies the plan (worker control
// protocol), records it (CR status) and plans again on the next event.
// See ../../shared/DESIGN.md, "Failover".

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/status.h"

namespace usp {

// What the controller knows about one worker at planning time.
struct WorkerState {
  std::string id;        // pod name or local worker id; the sort key everywhere
  bool healthy = false;  // alive and answering probes
  bool warm = false;     // could take over partitions at once (see DESIGN.md)
};

// Who owns what. Workers reject assignments with an epoch older than theirs.
struct PartitionAssignment {
  int64_t epoch = 0;        // 0 = never planned
  int32_t parallelism = 0;  // the parallelism this assignment was planned for
  // Active worker -> its partitions, ascending. A partition appears at most
  // once across all workers; a partition in no list is unassigned.
  std::map<std::string, std::vector<int32_t>> active;
  std::vector<std::string> standbys;  // healthy non-active workers, by id

  bool operator==(const PartitionAssignment&) const = default;
};

// One partition changing owner.
struct PartitionMove {
  int32_t partition = 0;
  std::string from;  // empty if the partition was unassigned
  std::string to;
  std::string reason;  // "worker w1 failed", "rebalance: parallelism 2 -> 3", ...
};

struct PlanInput {
  int32_t num_partitions = 0;  // partitions 0 .. num_partitions-1
  int32_t parallelism = 1;     // desired actives; values below 1 are treated as 1
  // Every worker the controller knows about. A worker of `previous` that is
  // missing here counts as failed. Duplicate ids merge (healthy/warm only if
  // every entry says so).
  std::vector<WorkerState> workers;
  PartitionAssignment previous;  // epoch 0 and no actives: plan from scratch
  bool force_rebalance = false;  // rebalance actives although parallelism is unchanged
};

struct AssignmentPlan {
  PartitionAssignment next;
  std::vector<PartitionMove> moves;   // ascending by partition
  std::vector<std::string> promoted;  // standbys made active, in promotion order
  std::vector<int32_t> unassigned;    // partitions waiting for a warm worker
  std::string reason;                 // one line for logs and the CR status
  bool changed = false;               // next differs from previous; epoch bumped
};

// Plans the next assignment. Deterministic: the same input gives the same plan.
//
// Guarantees:
//  - Failover (parallelism unchanged): only partitions of failed workers
//    (unhealthy or missing from `workers`) and unassigned partitions move. Each
//    failed active is replaced by one WARM standby that takes exactly its
//    partitions; cold (healthy, not warm) and unhealthy workers are never
//    promoted. Without a warm standby the partitions wait, unassigned, and the
//    plan's reason says "waiting for a warm worker"; the next plan that finds
//    a warm worker (a standby that warmed up, a restarted worker) gives them
//    to it. Surviving actives never absorb a failed worker's partitions.
//  - From scratch, on a parallelism change, or with force_rebalance: actives
//    become min(parallelism, warm workers, num_partitions) (actives that stay
//    active count as warm) and their
//    partition counts differ by at most 1, moving as few partitions as possible.
//  - No partition is owned twice; a partition without an owner is listed in
//    `unassigned` (no warm worker to take it).
//  - next.epoch == previous.epoch + 1 when the assignment changes (owners,
//    standbys or parallelism), else previous.epoch: planning again on
//    `next` with the same workers yields no moves and the same epoch.
//  - A worker that was replaced and comes back becomes a standby; it does not
//    get its old partitions back.
//  - Every move carries a reason.
AssignmentPlan PlanAssignment(const PlanInput& input);

// OK when every partition is in [0, num_partitions) and owned at most once,
// worker ids are non-empty, no standby is also active or listed twice, and
// epoch and parallelism are not negative. Full coverage is not required (all
// workers may be dead).
Status Validate(const PartitionAssignment& assignment, int32_t num_partitions);

// {"epoch": 3, "parallelism": 2, "active": {"w1": [0, 1]}, "standbys": ["w3"]}:
// the worker control protocol's and the CR status's form.
nlohmann::json ToJson(const PartitionAssignment& assignment);

// The inverse of ToJson. Missing fields take their defaults; partition lists
// are sorted. InvalidArgument on wrong types or negative numbers. Does not check
// ownership: call Validate with the job's partition count.
Result<PartitionAssignment> ParsePartitionAssignment(const nlohmann::json& doc);

}  // namespace usp
