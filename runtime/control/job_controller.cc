#include "runtime/control/job_controller.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <future>
#include <set>
#include <sstream>
#include <utility>

#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <spdlog/spdlog.h>

namespace usp {

namespace {

int64_t WallNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// "0-3,7" for {0, 1, 2, 3, 7}; `ps` ascending.
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
  return out.empty() ? "-" : out;
}

bool Subset(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  return std::includes(b.begin(), b.end(), a.begin(), a.end());
}

std::vector<int32_t> Sorted(std::vector<int32_t> v) {
  std::sort(v.begin(), v.end());
  return v;
}

}  // namespace

nlohmann::json FailoverRecord::ToJson() const {
  nlohmann::json j = {{"worker", worker},     {"cause", cause},       {"partitions", partitions},
                      {"promoted", promoted}, {"epoch", epoch},       {"failedAt", failed_at_ms},
                      {"detectedAt", detected_at_ms}, {"detectionMs", detection_ms()},
                      {"waiting", waiting}};
  if (handed_over_at_ms > 0) {
    j["handedOverAt"] = handed_over_at_ms;
    j["handoverMs"] = handover_ms();
    j["totalMs"] = handed_over_at_ms - failed_at_ms;
  }
  if (first_output_ms > 0) {
    j["firstOutputAt"] = first_output_ms;
    j["firstOutputMs"] = first_output_ms - failed_at_ms;
  }
  return j;
}

nlohmann::json JobControllerSnapshot::AssignmentJson() const {
  nlohmann::json workers_json = nlohmann::json::array();
  for (const auto& w : workers) {
    auto it = assignment.active.find(w.id);
    const bool active = it != assignment.active.end();
    workers_json.push_back({{"name", w.id},
                            {"role", active ? "active" : "standby"},
                            {"partitions", active ? it->second : std::vector<int32_t>{}},
                            {"healthy", w.healthy},
                            {"warm", w.warm},
                            {"lag", w.status.lag}});
    if (w.status.replica_lag >= 0) workers_json.back()["replica_lag"] = w.status.replica_lag;
  }
  return {{"epoch", assignment.epoch},
          {"parallelism", assignment.parallelism},
          {"workers", std::move(workers_json)},
          {"unassigned", unassigned},
          {"reason", reason}};
}

std::string JobControllerSnapshot::Table() const {
  std::ostringstream out;
  out << kind << "/" << job << "  epoch " << assignment.epoch << "  parallelism "
      << assignment.parallelism;
  if (!unassigned.empty()) out << "  WAITING: partitions " << Ranges(unassigned);
  if (!reason.empty()) out << "  (" << reason << ")";
  out << "\n";
  char line[256];
  std::snprintf(line, sizeof line, "  %-24s %-8s %-14s %-5s %-8s %s\n", "WORKER", "ROLE",
                "PARTITIONS", "WARM", "HEALTHY", "LAG");
  out << line;
  for (const auto& w : workers) {
    auto it = assignment.active.find(w.id);
    const bool active = it != assignment.active.end();
    std::string role = active ? "active" : (w.healthy ? "standby" : "down");
    std::snprintf(line, sizeof line, "  %-24s %-8s %-14s %-5s %-8s %lld\n", w.id.c_str(),
                  role.c_str(), active ? Ranges(it->second).c_str() : "-",
                  w.warm ? "yes" : "no", w.healthy ? "yes" : "no",
                  static_cast<long long>(w.status.lag));
    out << line;
  }
  if (last_failover) {
    const auto& f = *last_failover;
    out << "  last failover: " << f.worker << " [" << Ranges(f.partitions) << "] -> ";
    for (size_t i = 0; i < f.promoted.size(); ++i) out << (i ? "," : "") << f.promoted[i];
    if (f.waiting) {
      out << "(waiting for a warm worker)";
    } else {
      out << "  detection " << f.detection_ms() << " ms, handover " << f.handover_ms() << " ms";
      if (f.first_output_ms > 0) {
        out << ", first output " << f.first_output_ms - f.failed_at_ms << " ms after the failure";
      }
    }
    out << "  (" << f.cause << ")\n";
  }
  return out.str();
}

JobController::JobController(JobControllerOptions options, WorkerClient* client,
                             MetricsRegistry* metrics, Now now)
    : base_options_(options),
      client_(client),
      now_(now ? std::move(now) : Now(WallNowMs)),
      options_(std::move(options)) {
  if (metrics != nullptr) {
    const std::map<std::string, std::string> labels = {{"kind", base_options_.kind},
                                                       {"job", base_options_.job}};
    failovers_counter_ = &prometheus::BuildCounter()
                              .Name("usp_failovers_total")
                              .Help("Failovers: a failed worker's partitions moved to a standby.")
                              .Register(metrics->registry())
                              .Add(labels);
    failover_duration_ = &prometheus::BuildHistogram()
                              .Name("usp_failover_duration_seconds")
                              .Help("Worker failure to its partitions acknowledged by the new owner.")
                              .Register(metrics->registry())
                              .Add(labels, LatencyBuckets());
  }
  started_ms_ = now_();
  snapshot_.kind = base_options_.kind;
  snapshot_.job = base_options_.job;
}

JobController::~JobController() { Stop(); }

void JobController::UpsertWorker(const std::string& id, const std::string& base_url) {
  std::lock_guard<std::mutex> lock(mutex_);
  Tracked& t = workers_[id];
  if (t.view.known_dead && !t.failure_planned) {
    // The failure must reach the planner first, or the new incarnation would
    // quietly inherit the dead one's partitions.
    t.pending_url = base_url;
    ++t.generation;
  } else if (t.view.id.empty() || t.view.url != base_url || t.view.known_dead) {
    // A new incarnation: forget the old one's failures; probes decide health.
    Tracked fresh;
    fresh.view.id = id;
    fresh.view.url = base_url;
    fresh.generation = t.generation + 1;
    t = std::move(fresh);
  }
  wake_requested_ = true;
  wake_.notify_all();
}

void JobController::ReportFailure(const std::string& id, const std::string& cause,
                                  int64_t failed_at_ms, bool revoke) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = workers_.find(id);
  if (it == workers_.end() || it->second.view.known_dead) return;
  Tracked& t = it->second;
  t.view.known_dead = true;
  t.view.healthy = false;
  t.view.warm = false;
  t.view.last_error = cause;
  t.failed_at_ms = failed_at_ms;
  t.detected_at_ms = now_();
  t.cause = cause;
  t.revoke = revoke;
  ++t.generation;
  wake_requested_ = true;
  wake_.notify_all();
}

void JobController::RemoveWorker(const std::string& id) {
  std::lock_guard<std::mutex> lock(mutex_);
  workers_.erase(id);
  wake_requested_ = true;
  wake_.notify_all();
}

void JobController::SetParallelism(int32_t parallelism) {
  std::lock_guard<std::mutex> lock(mutex_);
  options_.parallelism = parallelism;
  wake_requested_ = true;
  wake_.notify_all();
}

void JobController::SetNumPartitions(int32_t num_partitions) {
  std::lock_guard<std::mutex> lock(mutex_);
  options_.num_partitions = num_partitions;
  wake_requested_ = true;
  wake_.notify_all();
}

void JobController::SetPolicy(FailoverPolicy policy) {
  std::lock_guard<std::mutex> lock(mutex_);
  options_.policy = policy;
}

void JobController::OnFailover(std::function<void(const FailoverRecord&)> callback) {
  std::lock_guard<std::mutex> lock(mutex_);
  on_failover_ = std::move(callback);
}

void JobController::OnAssignment(std::function<void(const JobControllerSnapshot&)> callback) {
  std::lock_guard<std::mutex> lock(mutex_);
  on_assignment_ = std::move(callback);
}

void JobController::Probe(std::map<std::string, Tracked>& workers, int64_t now) {
  FailoverPolicy policy;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    policy = options_.policy;
  }
  const int timeout_ms = static_cast<int>(std::clamp<int64_t>(policy.probe_interval_ms, 100, 5000));
  std::vector<std::pair<Tracked*, std::future<Result<WorkerStatus>>>> probes;
  for (auto& [id, t] : workers) {
    if (t.view.known_dead) continue;
    const std::string url = t.view.url;
    probes.emplace_back(&t, std::async(std::launch::async, [this, url, timeout_ms] {
                          return client_->GetStatus(url, timeout_ms);
                        }));
  }
  for (auto& [t, future] : probes) {
    Result<WorkerStatus> r = future.get();
    ControlledWorker& w = t->view;
    if (r.ok()) {
      w.status = *r;
      w.status.partitions = Sorted(w.status.partitions);
      w.healthy = true;
      w.warm = r->warm;
      w.consecutive_failures = 0;
      w.last_error.clear();
      t->first_failure_ms = 0;
      continue;
    }
    w.last_error = r.status().message();
    if (w.consecutive_failures++ == 0) t->first_failure_ms = now;
    if (w.healthy && w.consecutive_failures >= policy.failure_threshold) {
      w.healthy = false;
      w.warm = false;
      t->failed_at_ms = t->first_failure_ms;
      t->detected_at_ms = now;
      t->cause = std::to_string(w.consecutive_failures) + " probes failed: " + w.last_error;
      spdlog::warn("{}/{}: worker {} failed: {}", base_options_.kind, base_options_.job, w.id,
                   t->cause);
    }
  }
}

bool JobController::PlanAndApply(std::map<std::string, Tracked>& workers, int64_t now) {
  JobControllerOptions options;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    options = options_;
  }
  const std::string name = base_options_.kind + "/" + base_options_.job;

  // A controller that starts while workers run (an operator restart, a new
  // leader) adopts what they own instead of starting over.
  if (assignment_.epoch == 0 && assignment_.active.empty()) {
    int64_t max_epoch = 0;
    for (const auto& [id, t] : workers) {
      if (t.view.healthy) max_epoch = std::max(max_epoch, t.view.status.epoch);
    }
    if (max_epoch > 0) {
      std::set<int32_t> owned;
      for (const auto& [id, t] : workers) {
        if (!t.view.healthy) continue;
        if (t.view.status.partitions.empty()) {
          assignment_.standbys.push_back(id);
          continue;
        }
        auto& parts = assignment_.active[id];
        for (int32_t p : t.view.status.partitions) {
          if (owned.insert(p).second) parts.push_back(p);
        }
      }
      assignment_.epoch = max_epoch;
      assignment_.parallelism = options.parallelism;
      spdlog::info("{}: adopted the workers' assignment at epoch {}", name, max_epoch);
    } else {
      const int32_t need = std::min(options.parallelism, options.num_partitions);
      int32_t warm = 0;
      for (const auto& [id, t] : workers) warm += t.view.healthy && t.view.warm ? 1 : 0;
      if (options.num_partitions <= 0) return false;
      if (warm < need && now - started_ms_ < options.initial_settle_ms) return false;
    }
  }

  PlanInput input;
  input.num_partitions = options.num_partitions;
  input.parallelism = options.parallelism;
  input.previous = assignment_;
  for (const auto& [id, t] : workers) input.workers.push_back({id, t.view.healthy, t.view.warm});
  // Below strength with nothing failed or waiting while a warm worker idles
  // (a parallelism increase planned before its new workers were warm), or
  // above strength (a new leader adopted the actives of a higher
  // parallelism, the change having come with the leader change): rebalance,
  // or the job stays off its parallelism until the next parallelism change.
  if (assignment_.epoch > 0) {
    size_t healthy_actives = 0;
    bool failed = false;
    std::set<int32_t> covered;
    for (const auto& [id, parts] : assignment_.active) {
      auto it = workers.find(id);
      if (it != workers.end() && it->second.view.healthy) {
        ++healthy_actives;
      } else {
        failed = true;
      }
      for (int32_t p : parts) {
        if (p >= 0 && p < options.num_partitions) covered.insert(p);
      }
    }
    bool warm_idle = false;
    for (const auto& [id, t] : workers) {
      if (t.view.healthy && t.view.warm && !assignment_.active.count(id)) warm_idle = true;
    }
    const auto target = static_cast<size_t>(std::max(0, std::min(options.parallelism, options.num_partitions)));
    const bool off_strength = (warm_idle && healthy_actives < target) || healthy_actives > target;
    input.force_rebalance = !failed && off_strength &&
                            covered.size() == static_cast<size_t>(std::max(0, options.num_partitions));
  }
  AssignmentPlan plan = PlanAssignment(input);
  PartitionAssignment next = plan.next;

  // Failovers this plan makes: failed workers that owned partitions.
  std::vector<FailoverRecord> new_records;
  for (const auto& [id, parts] : assignment_.active) {
    auto it = workers.find(id);
    const bool failed = it == workers.end() || !it->second.view.healthy;
    if (!failed || parts.empty() || next.active.count(id)) continue;
    FailoverRecord r;
    r.worker = id;
    r.partitions = parts;
    r.epoch = next.epoch;
    if (it != workers.end() && it->second.detected_at_ms > 0) {
      r.cause = it->second.cause;
      r.failed_at_ms = it->second.failed_at_ms;
      r.detected_at_ms = it->second.detected_at_ms;
      it->second.failure_recorded = true;
    } else {
      r.cause = "worker removed";
      r.failed_at_ms = r.detected_at_ms = now;
    }
    std::set<std::string> to;
    for (const auto& m : plan.moves) {
      if (m.from == id) to.insert(m.to);
    }
    r.promoted.assign(to.begin(), to.end());
    r.waiting = std::any_of(parts.begin(), parts.end(), [&plan](int32_t p) {
      return std::binary_search(plan.unassigned.begin(), plan.unassigned.end(), p);
    });
    new_records.push_back(std::move(r));
  }

  // Workers ahead of us (another controller, or a rejected PUT), or an
  // earlier controller's epoch, force a fresh epoch.
  int64_t max_seen = options.min_epoch;
  for (const auto& [id, t] : workers) {
    if (t.view.healthy) max_seen = std::max(max_seen, t.view.status.epoch);
  }
  if (max_seen >= next.epoch && (plan.changed || max_seen > next.epoch)) {
    next.epoch = max_seen + 1;
  }
  auto desired = [&next](const std::string& id) {
    auto it = next.active.find(id);
    return it == next.active.end() ? std::vector<int32_t>{} : it->second;
  };
  auto in_sync = [&](const Tracked& t) {
    return t.view.status.epoch == next.epoch && t.view.status.partitions == desired(t.view.id);
  };
  bool conflict = false;
  for (const auto& [id, t] : workers) {
    if (t.view.healthy && t.view.status.epoch == next.epoch && !in_sync(t)) conflict = true;
  }
  if (conflict) next.epoch = std::max(next.epoch, max_seen) + 1;

  // Revoke first (workers losing partitions drain and commit), then grant.
  std::vector<Tracked*> revokes, grants;
  for (auto& [id, t] : workers) {
    if (t.view.known_dead) {
      if (t.revoke) revokes.push_back(&t);
      continue;
    }
    if (!t.view.healthy || in_sync(t)) continue;
    (Subset(t.view.status.partitions, desired(id)) ? grants : revokes).push_back(&t);
  }
  if (!plan.changed && revokes.empty() && grants.empty() && next.epoch == assignment_.epoch) {
    return false;
  }
  if (plan.changed) spdlog::info("{}: epoch {}: {}", name, next.epoch, plan.reason);

  auto put_all = [&](const std::vector<Tracked*>& targets) {
    std::vector<std::pair<Tracked*, std::future<Result<WorkerStatus>>>> calls;
    for (Tracked* t : targets) {
      std::vector<int32_t> parts = t->view.known_dead ? std::vector<int32_t>{} : desired(t->view.id);
      const std::string url = t->view.url;
      const int64_t epoch = next.epoch;
      const int timeout = t->view.known_dead ? 2000 : options.request_timeout_ms;
      calls.emplace_back(t, std::async(std::launch::async, [this, url, epoch, parts, timeout] {
                           return client_->PutAssignment(url, epoch, parts, timeout);
                         }));
    }
    for (auto& [t, future] : calls) {
      Result<WorkerStatus> r = future.get();
      if (t->view.known_dead) {
        t->revoke = false;  // best effort, once
        if (!r.ok()) spdlog::info("{}: revoke from {}: {}", name, t->view.id, r.status().message());
        continue;
      }
      if (r.ok()) {
        t->view.status = *r;
        t->view.status.partitions = Sorted(t->view.status.partitions);
        continue;
      }
      spdlog::warn("{}: assignment epoch {} to {} failed: {}", name, next.epoch, t->view.id,
                   r.status().message());
      if (r.status().code() == Status::Code::kInvalidArgument) {
        // Rejected (an epoch we did not know of): learn it at the next probe.
        t->view.status.epoch = std::max(t->view.status.epoch, next.epoch);
      } else {
        t->view.healthy = false;
        t->view.warm = false;
        t->view.last_error = r.status().message();
        t->failed_at_ms = t->detected_at_ms = now_();
        t->cause = "assignment failed: " + r.status().message();
      }
    }
  };
  put_all(revokes);
  put_all(grants);
  const int64_t done_ms = now_();

  assignment_ = next;
  unassigned_ = plan.unassigned;
  if (plan.changed) reason_ = plan.reason;

  std::function<void(const FailoverRecord&)> on_failover;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    on_failover = on_failover_;
  }
  auto handed_over = [&](FailoverRecord& r) {
    r.handed_over_at_ms = done_ms;
    ++failovers_;
    if (failovers_counter_ != nullptr) failovers_counter_->Increment();
    if (failover_duration_ != nullptr) {
      failover_duration_->Observe(static_cast<double>(done_ms - r.failed_at_ms) / 1000.0);
    }
    spdlog::warn("{}: failover of {} (partitions {}) to {}: detection {} ms, handover {} ms ({})",
                 name, r.worker, Ranges(r.partitions),
                 r.promoted.empty() ? std::string("-") : r.promoted.front(), r.detection_ms(),
                 r.handover_ms(), r.cause);
  };
  // Waiting failovers whose partitions now have owners.
  for (auto& r : open_records_) {
    if (!r.waiting) continue;
    bool all_owned = true;
    std::set<std::string> to;
    for (int32_t p : r.partitions) {
      bool found = false;
      for (const auto& [id, parts] : next.active) {
        if (std::binary_search(parts.begin(), parts.end(), p)) {
          to.insert(id);
          found = true;
        }
      }
      all_owned = all_owned && found;
    }
    if (!all_owned) continue;
    r.waiting = false;
    r.promoted.assign(to.begin(), to.end());
    r.epoch = next.epoch;
    handed_over(r);
    last_failover_ = r;
    if (on_failover) on_failover(r);
  }
  for (auto& r : new_records) {
    if (!r.waiting) handed_over(r);
    if (r.waiting) {
      spdlog::warn("{}: worker {} failed owning partitions {}: waiting for a warm worker ({})",
                   name, r.worker, Ranges(r.partitions), r.cause);
    }
    last_failover_ = r;
    if (on_failover && r.handed_over_at_ms > 0) on_failover(r);
    open_records_.push_back(std::move(r));
  }
  return true;
}

void JobController::TrackFirstOutput(const std::map<std::string, Tracked>& workers) {
  std::function<void(const FailoverRecord&)> on_failover;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    on_failover = on_failover_;
  }
  const int64_t now = now_();
  for (auto it = open_records_.begin(); it != open_records_.end();) {
    FailoverRecord& r = *it;
    if (r.waiting) {
      ++it;
      continue;
    }
    int64_t first = 0;
    bool all = !r.promoted.empty();
    for (const auto& id : r.promoted) {
      auto w = workers.find(id);
      const int64_t out = w == workers.end() ? 0 : w->second.view.status.first_output_ms;
      const int64_t at = w == workers.end() ? 0 : w->second.view.status.assigned_at_ms;
      if (out > 0 && at + 1000 >= r.detected_at_ms) {
        first = std::max(first, out);
      } else {
        all = false;
      }
    }
    if (all && first > 0) {
      r.first_output_ms = first;
      if (last_failover_ && last_failover_->worker == r.worker &&
          last_failover_->failed_at_ms == r.failed_at_ms) {
        last_failover_ = r;
      }
      if (on_failover) on_failover(r);
      it = open_records_.erase(it);
    } else if (now - r.handed_over_at_ms > 60000) {
      it = open_records_.erase(it);  // no events on those partitions: stop looking
    } else {
      ++it;
    }
  }
}

void JobController::Publish(const std::map<std::string, Tracked>& workers) {
  JobControllerSnapshot snap;
  snap.kind = base_options_.kind;
  snap.job = base_options_.job;
  snap.assignment = assignment_;
  for (const auto& [id, t] : workers) snap.workers.push_back(t.view);
  snap.unassigned = unassigned_;
  snap.reason = reason_;
  snap.failovers = failovers_;
  snap.last_failover = last_failover_;
  snap.updated_at_ms = now_();
  std::lock_guard<std::mutex> lock(mutex_);
  snapshot_ = std::move(snap);
}

bool JobController::Step() {
  std::map<std::string, Tracked> workers;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    workers = workers_;
  }
  const int64_t now = now_();
  Probe(workers, now);
  const bool changed = PlanAndApply(workers, now);
  TrackFirstOutput(workers);
  for (auto& [id, t] : workers) {
    if (t.view.known_dead) t.failure_planned = true;  // the plan above has seen it
  }
  {
    // Merge back, unless the environment changed a worker meanwhile (it wins).
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& [id, t] : workers) {
      auto it = workers_.find(id);
      if (it == workers_.end()) continue;
      Tracked& env = it->second;
      if (env.generation != t.generation) {
        if (env.view.known_dead && t.view.known_dead) env.failure_planned = t.failure_planned;
        continue;
      }
      env = t;
    }
    for (auto& [id, env] : workers_) {
      if (!env.view.known_dead || !env.failure_planned || env.pending_url.empty()) continue;
      Tracked fresh;
      fresh.view.id = id;
      fresh.view.url = env.pending_url;
      fresh.generation = env.generation + 1;
      env = std::move(fresh);
      wake_requested_ = true;
    }
    workers = workers_;
  }
  Publish(workers);
  if (changed) {
    std::function<void(const JobControllerSnapshot&)> callback;
    JobControllerSnapshot snap;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      callback = on_assignment_;
      snap = snapshot_;
    }
    if (callback) callback(snap);
  }
  return changed;
}

void JobController::Loop() {
  bool again = false;
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      const auto wait = std::chrono::milliseconds(again ? 20 : options_.policy.probe_interval_ms);
      wake_.wait_for(lock, wait, [this] { return stop_ || wake_requested_; });
      if (stop_) return;
      wake_requested_ = false;
    }
    try {
      again = Step();
    } catch (const std::exception& e) {
      spdlog::error("{}/{}: control step failed: {}", base_options_.kind, base_options_.job,
                    e.what());
      again = false;
    }
  }
}

void JobController::Start() {
  if (thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = false;
  }
  thread_ = std::thread([this] { Loop(); });
}

void JobController::Stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
    wake_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

JobControllerSnapshot JobController::Snapshot() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return snapshot_;
}

}  // namespace usp
