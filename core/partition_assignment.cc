#include "core/partition_assignment.h"

#include <algorithm>
#include <cstdint>
#include <set>
#include <utility>

namespace usp {
namespace {

// A partition waiting for an owner, and why it has to move.
struct Orphan {
  int32_t partition;
  std::string from;
  std::string reason;
};

std::string Join(const std::vector<std::string>& parts, const char* sep) {
  std::string out;
  for (const auto& p : parts) {
    if (!out.empty()) out += sep;
    out += p;
  }
  return out;
}

// "0-3,7" for {0, 1, 2, 3, 7}; `ps` must be ascending.
std::string Ranges(const std::vector<int32_t>& ps) {
  std::string out;
  for (size_t i = 0; i < ps.size();) {
    size_t j = i;
    while (j + 1 < ps.size() && ps[j + 1] == ps[j] + 1) ++j;
    if (!out.empty()) out += ",";
    out += std::to_string(ps[i]);
    if (j > i) out += "-" + std::to_string(ps[j]);
    i = j + 1;
  }
  return out;
}

class Planner {
 public:
  explicit Planner(const PlanInput& input)
      : num_partitions_(std::max<int32_t>(0, input.num_partitions)),
        parallelism_(std::max<int32_t>(1, input.parallelism)),
        previous_(input.previous) {
    for (const auto& w : input.workers) {
      auto [it, inserted] = workers_.emplace(w.id, w);
      if (!inserted) {
        it->second.healthy = it->second.healthy && w.healthy;
        it->second.warm = it->second.warm && w.warm;
      }
    }
    for (auto& [id, parts] : previous_.active) std::sort(parts.begin(), parts.end());
    std::sort(previous_.standbys.begin(), previous_.standbys.end());
    initial_ = previous_.epoch == 0 && previous_.active.empty();
    rebalance_ = initial_ || input.force_rebalance || previous_.parallelism != parallelism_;
    if (initial_) {
      rebalance_reason_ = "initial assignment";
    } else if (previous_.parallelism != parallelism_) {
      rebalance_reason_ = "rebalance: parallelism " + std::to_string(previous_.parallelism) +
                          " -> " + std::to_string(parallelism_);
    } else {
      rebalance_reason_ = "rebalance: requested";
    }
  }

  AssignmentPlan Run() {
    CollectOwnership();
    if (rebalance_) {
      Rebalance();
    } else {
      ReplaceFailed();
    }
    DistributeLeftovers();
    return Finish();
  }

 private:
  bool Healthy(const std::string& id) const {
    auto it = workers_.find(id);
    return it != workers_.end() && it->second.healthy;
  }
  bool Warm(const std::string& id) const {
    auto it = workers_.find(id);
    return it != workers_.end() && it->second.warm;
  }

  // Survivors keep their partitions; failed workers' partitions, partitions out
  // of range or owned twice, and unowned ones become orphans.
  void CollectOwnership() {
    std::vector<bool> seen(num_partitions_, false);
    for (const auto& [id, parts] : previous_.active) {
      std::vector<int32_t> kept;
      for (int32_t p : parts) {
        if (p < 0 || p >= num_partitions_ || seen[p]) continue;
        seen[p] = true;
        kept.push_back(p);
      }
      if (Healthy(id)) {
        active_[id] = std::move(kept);
        continue;
      }
      failed_.push_back(id);
      for (int32_t p : kept) orphans_.push_back({p, id, "worker " + id + " failed"});
    }
    for (int32_t p = 0; p < num_partitions_; ++p) {
      if (!seen[p]) {
        orphans_.push_back({p, "", initial_ ? "initial assignment" : "unassigned partition"});
      }
    }
    for (const auto& [id, w] : workers_) {
      if (w.healthy && !active_.count(id)) pool_.push_back(id);
    }
    SortPool();
  }

  // Warm before cold, then by id: the front is the best standby to promote.
  void SortPool() {
    std::stable_sort(pool_.begin(), pool_.end(),
                     [this](const auto& a, const auto& b) { return Warm(a) > Warm(b); });
  }

  bool WarmInPool() const { return !pool_.empty() && Warm(pool_.front()); }

  // Only warm workers are promoted (DESIGN.md: "the controller only promotes
  // warm standbys"); callers check WarmInPool() first.
  std::string Promote() {
    std::string id = pool_.front();
    pool_.erase(pool_.begin());
    active_[id];
    promoted_.push_back(id);
    return id;
  }

  // Failover: each failed active's partitions go, all together, to one warm
  // standby. Without one they wait (DistributeLeftovers) for the next warm
  // worker: a cold standby or a restarted worker takes them once it is warm.
  void ReplaceFailed() {
    for (const auto& f : failed_) {
      auto owned = [&f](const Orphan& o) { return o.from == f; };
      if (std::none_of(orphans_.begin(), orphans_.end(), owned)) continue;
      if (!WarmInPool()) {
        for (auto& o : orphans_) {
          if (owned(o)) o.reason += " (no warm standby: waited for a warm worker)";
        }
        continue;
      }
      const std::string to = Promote();
      notes_.push_back("worker " + f + " failed: promoted warm standby " + to);
      for (auto it = orphans_.begin(); it != orphans_.end();) {
        if (!owned(*it)) {
          ++it;
          continue;
        }
        Assign(*it, to);
        it = orphans_.erase(it);
      }
    }
  }

  // Balanced actives with the fewest moves: the most loaded workers stay active
  // and get the larger quotas, so only their excess moves.
  void Rebalance() {
    if (!failed_.empty()) notes_.push_back("failed: " + Join(failed_, ", "));
    const size_t warm_pool = static_cast<size_t>(
        std::count_if(pool_.begin(), pool_.end(), [this](const auto& id) { return Warm(id); }));
    const size_t available = active_.size() + warm_pool;
    const size_t k = std::min(
        {static_cast<size_t>(parallelism_), available, static_cast<size_t>(num_partitions_)});
    if (k < static_cast<size_t>(parallelism_) && num_partitions_ > 0) {
      notes_.push_back("only " + std::to_string(k) + " warm actives for parallelism " +
                       std::to_string(parallelism_));
    }
    std::vector<std::string> by_load = ByLoad();
    for (size_t i = k; i < by_load.size(); ++i) {
      for (int32_t p : active_[by_load[i]]) orphans_.push_back({p, by_load[i], rebalance_reason_});
      active_.erase(by_load[i]);
      pool_.push_back(by_load[i]);
    }
    SortPool();
    while (active_.size() < k && WarmInPool()) Promote();

    by_load = ByLoad();
    const size_t n = static_cast<size_t>(num_partitions_);
    const size_t base = k == 0 ? 0 : n / k;
    const size_t extra = k == 0 ? 0 : n % k;
    for (size_t i = 0; i < by_load.size(); ++i) {
      quota_[by_load[i]] = base + (i < extra ? 1 : 0);
      auto& parts = active_[by_load[i]];
      while (parts.size() > quota_[by_load[i]]) {
        orphans_.push_back({parts.back(), by_load[i], rebalance_reason_});
        parts.pop_back();
      }
    }
    SortOrphans();
    for (auto& [id, parts] : active_) {
      while (parts.size() < quota_[id] && !orphans_.empty()) {
        Assign(orphans_.front(), id);
        orphans_.erase(orphans_.begin());
      }
    }
  }

  // Active ids, most partitions first, then by id.
  std::vector<std::string> ByLoad() const {
    std::vector<std::string> ids;
    for (const auto& [id, parts] : active_) ids.push_back(id);
    std::stable_sort(ids.begin(), ids.end(), [this](const auto& a, const auto& b) {
      return active_.at(a).size() > active_.at(b).size();
    });
    return ids;
  }

  // Partitions still without an owner (a failed worker's with no warm
  // standby, unowned ones, new ones). Below full strength (fewer actives than
  // min(parallelism, partitions)) they go to newly promoted warm workers, or
  // wait for one: surviving actives never absorb a failed worker's load. At
  // full strength they go to the least loaded actives.
  void DistributeLeftovers() {
    if (orphans_.empty()) return;
    const size_t target = std::min(static_cast<size_t>(parallelism_),
                                   static_cast<size_t>(num_partitions_));
    std::vector<std::string> targets;
    while (active_.size() < target && targets.size() < orphans_.size() && WarmInPool()) {
      targets.push_back(Promote());
    }
    if (targets.empty() && active_.size() >= target) {
      for (const auto& [id, parts] : active_) targets.push_back(id);
    }
    SortOrphans();
    if (targets.empty()) {
      for (const auto& o : orphans_) unassigned_.push_back(o.partition);
      const bool any_healthy = !active_.empty() || !pool_.empty();
      notes_.push_back(std::string(any_healthy ? "waiting for a warm worker"
                                               : "no healthy worker") +
                       ": partitions " + Ranges(unassigned_) + " unassigned");
      orphans_.clear();
      return;
    }
    for (const auto& o : orphans_) {
      const std::string* least = nullptr;
      for (const auto& id : targets) {
        if (least == nullptr || active_.at(id).size() < active_.at(*least).size()) least = &id;
      }
      Assign(o, *least);
    }
    orphans_.clear();
  }

  void SortOrphans() {
    std::stable_sort(orphans_.begin(), orphans_.end(),
                     [](const Orphan& a, const Orphan& b) { return a.partition < b.partition; });
  }

  void Assign(const Orphan& o, const std::string& to) {
    active_[to].push_back(o.partition);
    if (o.from != to) moves_.push_back({o.partition, o.from, to, o.reason});
  }

  AssignmentPlan Finish() {
    AssignmentPlan plan;
    PartitionAssignment& next = plan.next;
    next.parallelism = parallelism_;
    for (auto& [id, parts] : active_) {
      std::sort(parts.begin(), parts.end());
      next.active[id] = parts;
    }
    for (const auto& [id, w] : workers_) {
      if (w.healthy && !active_.count(id)) next.standbys.push_back(id);
    }
    plan.changed = next.active != previous_.active || next.standbys != previous_.standbys ||
                   next.parallelism != previous_.parallelism;
    next.epoch = previous_.epoch + (plan.changed ? 1 : 0);
    std::sort(moves_.begin(), moves_.end(),
              [](const auto& a, const auto& b) { return a.partition < b.partition; });
    plan.moves = std::move(moves_);
    plan.promoted = std::move(promoted_);
    plan.unassigned = std::move(unassigned_);

    std::vector<std::string> summary;
    if (rebalance_ && plan.changed) summary.push_back(rebalance_reason_);
    summary.insert(summary.end(), notes_.begin(), notes_.end());
    if (summary.empty()) summary.push_back(plan.changed ? "standbys changed" : "no change");
    plan.reason = Join(summary, "; ");
    return plan;
  }

  const int32_t num_partitions_;
  const int32_t parallelism_;
  PartitionAssignment previous_;  // partition lists and standbys sorted
  std::map<std::string, WorkerState> workers_;
  bool initial_ = false;
  bool rebalance_ = false;
  std::string rebalance_reason_;

  std::map<std::string, std::vector<int32_t>> active_;
  std::map<std::string, size_t> quota_;
  std::vector<std::string> failed_;
  std::vector<std::string> pool_;  // healthy non-actives, best candidate first
  std::vector<Orphan> orphans_;
  std::vector<PartitionMove> moves_;
  std::vector<std::string> promoted_;
  std::vector<int32_t> unassigned_;
  std::vector<std::string> notes_;
};

}  // namespace

AssignmentPlan PlanAssignment(const PlanInput& input) { return Planner(input).Run(); }

Status Validate(const PartitionAssignment& a, int32_t num_partitions) {
  if (a.epoch < 0) return Status::InvalidArgument("epoch is negative");
  if (a.parallelism < 0) return Status::InvalidArgument("parallelism is negative");
  std::map<int32_t, std::string> owner;
  for (const auto& [id, parts] : a.active) {
    if (id.empty()) return Status::InvalidArgument("active worker with an empty id");
    for (int32_t p : parts) {
      if (p < 0 || p >= num_partitions) {
        return Status::InvalidArgument("worker " + id + ": partition " + std::to_string(p) +
                                       " out of range [0, " + std::to_string(num_partitions) + ")");
      }
      auto [it, inserted] = owner.emplace(p, id);
      if (!inserted) {
        return Status::InvalidArgument("partition " + std::to_string(p) + " owned by both " +
                                       it->second + " and " + id);
      }
    }
  }
  std::set<std::string> standbys;
  for (const auto& id : a.standbys) {
    if (id.empty()) return Status::InvalidArgument("standby with an empty id");
    if (a.active.count(id)) return Status::InvalidArgument(id + " is both active and standby");
    if (!standbys.insert(id).second) return Status::InvalidArgument(id + " is listed twice");
  }
  return Status::Ok();
}

nlohmann::json ToJson(const PartitionAssignment& a) {
  nlohmann::json active = nlohmann::json::object();
  for (const auto& [id, parts] : a.active) active[id] = parts;
  return {{"epoch", a.epoch},
          {"parallelism", a.parallelism},
          {"active", std::move(active)},
          {"standbys", a.standbys}};
}

Result<PartitionAssignment> ParsePartitionAssignment(const nlohmann::json& doc) {
  if (!doc.is_object()) return Status::InvalidArgument("assignment: expected an object");
  PartitionAssignment a;
  auto integer = [&doc](const char* key, int64_t min, int64_t max, int64_t* out) -> Status {
    if (!doc.contains(key)) return Status::Ok();
    const auto& v = doc.at(key);
    if (!v.is_number_integer() || v.get<int64_t>() < min || v.get<int64_t>() > max) {
      return Status::InvalidArgument(std::string("assignment.") + key +
                                     ": expected a non-negative integer");
    }
    *out = v.get<int64_t>();
    return Status::Ok();
  };
  int64_t parallelism = 0;
  USP_RETURN_IF_ERROR(integer("epoch", 0, INT64_MAX, &a.epoch));
  USP_RETURN_IF_ERROR(integer("parallelism", 0, INT32_MAX, &parallelism));
  a.parallelism = static_cast<int32_t>(parallelism);
  if (doc.contains("active")) {
    const auto& active = doc.at("active");
    if (!active.is_object())
      return Status::InvalidArgument("assignment.active: expected an object");
    for (const auto& [id, parts] : active.items()) {
      const std::string path = "assignment.active." + id;
      if (!parts.is_array()) return Status::InvalidArgument(path + ": expected an array");
      auto& out = a.active[id];
      for (const auto& p : parts) {
        if (!p.is_number_integer() || p.get<int64_t>() < 0 || p.get<int64_t>() > INT32_MAX) {
          return Status::InvalidArgument(path + ": expected non-negative partition numbers");
        }
        out.push_back(static_cast<int32_t>(p.get<int64_t>()));
      }
      std::sort(out.begin(), out.end());
    }
  }
  if (doc.contains("standbys")) {
    const auto& standbys = doc.at("standbys");
    if (!standbys.is_array()) {
      return Status::InvalidArgument("assignment.standbys: expected an array");
    }
    for (const auto& s : standbys) {
      if (!s.is_string()) return Status::InvalidArgument("assignment.standbys: expected strings");
      a.standbys.push_back(s.get<std::string>());
    }
  }
  return a;
}

}  // namespace usp
