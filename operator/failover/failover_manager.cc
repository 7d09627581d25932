#include "operator/failover/failover_manager.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <utility>

#include "operator/reconcile/workload.h"

namespace usp::op {

using nlohmann::json;

namespace {

constexpr auto kTickInterval = std::chrono::milliseconds(200);

// "0-3,7" for {0, 1, 2, 3, 7}.
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

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ",") + s;
  return out.empty() ? "-" : out;
}

// What the status shows of a snapshot, lag left out: a change means the
// status should be rewritten.
std::string Shown(const JobControllerSnapshot& snap) {
  json workers = json::array();
  for (const auto& w : snap.workers) {
    auto it = snap.assignment.active.find(w.id);
    workers.push_back({w.id, w.healthy, w.warm,
                       it == snap.assignment.active.end() ? std::vector<int32_t>{} : it->second});
  }
  return json{{"epoch", snap.assignment.epoch},
              {"workers", workers},
              {"unassigned", snap.unassigned},
              {"reason", snap.reason},
              {"failovers", snap.failovers},
              {"last", snap.last_failover ? snap.last_failover->ToJson() : json()}}
      .dump();
}

// Only what an Event's involvedObject needs.
json OwnerRef(const json& owner) {
  return {{"apiVersion", owner.value("apiVersion", "usp.dev/v1alpha1")},
          {"kind", owner.value("kind", "UserSignal")},
          {"metadata",
           {{"name", kube::Name(owner)},
            {"namespace", kube::Namespace(owner)},
            {"uid", kube::Uid(owner)},
            {"resourceVersion", kube::ResourceVersion(owner)}}}};
}

}  // namespace

std::string FailoverEventMessage(const FailoverRecord& r) {
  std::string msg = "pod " + r.worker + " failed owning partitions " + Ranges(r.partitions) +
                    "; moved to " + Join(r.promoted) + " at epoch " + std::to_string(r.epoch) +
                    ": detection " + std::to_string(r.detection_ms()) + " ms, handover " +
                    std::to_string(r.handover_ms()) + " ms; cause: " + r.cause;
  return msg;
}

FailoverManager::FailoverManager(WorkerClient* client, MetricsRegistry* metrics,
                                 EventRecorder* events, FailoverManagerOptions options)
    : client_(client), metrics_(metrics), events_(events), options_(std::move(options)) {
  if (options_.run_loops) loop_ = std::thread([this] { Loop(); });
}

FailoverManager::~FailoverManager() { Stop(); }

void FailoverManager::SetNotify(std::function<void(const std::string&, const kube::ObjectKey&)> notify) {
  notify_ = std::move(notify);
}

void FailoverManager::SetNotify(std::function<void(const kube::ObjectKey&)> notify) {
  notify_ = [notify = std::move(notify)](const std::string&, const kube::ObjectKey& key) { notify(key); };
}

int64_t FailoverManager::Now() const {
  if (options_.now) return options_.now();
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void FailoverManager::Notify(const JobKey& key) {
  if (notify_) notify_(key.first, key.second);
}

void FailoverManager::Sync(const json& owner, const JobFailoverSpec& spec) {
  const std::string kind = owner.value("kind", "UserSignal");
  const JobKey key{kind, kube::KeyOf(owner)};
  std::lock_guard<std::mutex> lock(mu_);
  if (stopped_) return;
  auto& slot = jobs_[key];
  if (!slot) {
    slot = std::make_unique<Job>(options_.worker_http_port);
    slot->kind = kind;
    slot->key = key.second;
  }
  Job& job = *slot;
  if (!job.shared) job.shared = std::make_shared<JobShared>();
  {
    std::lock_guard<std::mutex> owner_lock(job.shared->mu);
    job.shared->owner = OwnerRef(owner);
  }
  if (!job.controller) {
    JobControllerOptions o;
    o.kind = kind;
    o.job = key.second.name;
    o.num_partitions = spec.num_partitions;
    o.parallelism = spec.parallelism;
    o.policy = spec.policy;
    o.initial_settle_ms = options_.initial_settle_ms;
    const json& status = owner.contains("status") ? owner["status"] : json();
    // Epochs go on from what the status showed (an earlier leader's).
    if (status.is_object() && status.contains("assignment") && status["assignment"].is_object() &&
        status["assignment"].contains("epoch") && status["assignment"]["epoch"].is_number_integer()) {
      o.min_epoch = status["assignment"]["epoch"].get<int64_t>();
    }
    job.controller = std::make_unique<JobController>(o, client_, metrics_, options_.now);
    job.base_failovers = status.is_object() && status.contains("failovers") &&
                                 status["failovers"].is_number_integer()
                             ? status["failovers"].get<int64_t>()
                             : 0;
    std::shared_ptr<JobShared> shared = job.shared;
    job.controller->OnFailover(
        [this, key, shared](const FailoverRecord& r) { OnFailover(key, shared, r); });
    job.controller->OnAssignment([this, key](const JobControllerSnapshot&) { Notify(key); });
    Apply(job, job.pods.Running());
    if (options_.run_loops) job.controller->Start();
    spdlog::info("failover: controlling {} {} ({} partitions, parallelism {})", kind,
                 key.second.ToString(), spec.num_partitions, spec.parallelism);
  } else {
    if (spec.parallelism != job.spec.parallelism) job.controller->SetParallelism(spec.parallelism);
    if (spec.num_partitions != job.spec.num_partitions)
      job.controller->SetNumPartitions(spec.num_partitions);
    if (spec.policy.probe_interval_ms != job.spec.policy.probe_interval_ms ||
        spec.policy.failure_threshold != job.spec.policy.failure_threshold) {
      job.controller->SetPolicy(spec.policy);
    }
  }
  job.spec = spec;
}

void FailoverManager::Forget(const kube::ObjectKey& key, const std::string& kind) {
  std::unique_ptr<JobController> controller;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = jobs_.find(JobKey{kind, key});
    if (it == jobs_.end()) return;
    controller = std::move(it->second->controller);
    it->second->deleted.clear();
    it->second->shown.clear();
    if (it->second->pods.Empty()) jobs_.erase(it);  // else keep tracking pods for a later Sync
  }
  if (controller) {
    controller->Stop();  // outside mu_: its callbacks may be waiting for it
    spdlog::info("failover: stopped controlling {} {}", kind, key.ToString());
  }
}

bool FailoverManager::Has(const kube::ObjectKey& key, const std::string& kind) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = jobs_.find(JobKey{kind, key});
  return it != jobs_.end() && it->second->controller != nullptr;
}

std::optional<JobFailoverStatus> FailoverManager::Status(const kube::ObjectKey& key,
                                                         const std::string& kind) const {
  JobControllerSnapshot snap;
  JobFailoverStatus st;
  std::map<std::string, int64_t> lag;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = jobs_.find(JobKey{kind, key});
    if (it == jobs_.end() || !it->second->controller) return std::nullopt;
    snap = it->second->controller->Snapshot();
    st.failovers = it->second->base_failovers;
    lag = it->second->lag;
  }
  // The published lag, not the latest probe's (see lag_refresh_ms).
  for (auto& w : snap.workers) {
    auto l = lag.find(w.id);
    w.status.lag = l == lag.end() ? 0 : std::max<int64_t>(0, l->second);
  }
  // Epoch 0: nothing planned or adopted yet (e.g. a new leader's first
  // moments); the status keeps what it showed.
  if (snap.assignment.epoch > 0) st.assignment = snap.AssignmentJson();
  if (snap.last_failover) st.last_failover = snap.last_failover->ToJson();
  st.failovers += snap.failovers;
  for (const auto& w : snap.workers) {
    auto owned = snap.assignment.active.find(w.id);
    if (owned != snap.assignment.active.end()) {
      st.lag += w.status.lag;
    } else if (w.healthy && w.warm) {
      ++st.warm_standbys;
    }
  }
  st.unassigned = snap.unassigned;
  return st;
}

void FailoverManager::Apply(Job& job, const std::vector<WorkerAction>& actions) {
  if (!job.controller) return;
  for (const auto& a : actions) {
    switch (a.type) {
      case WorkerAction::Type::kUpsert:
        spdlog::info("failover: {} {} worker {} at {}", job.kind, job.key.ToString(), a.worker, a.url);
        job.deleted.erase(a.worker);
        job.controller->UpsertWorker(a.worker, a.url);
        break;
      case WorkerAction::Type::kFailure:
        spdlog::warn("failover: {} {} worker {} failed: {}{}", job.kind, job.key.ToString(), a.worker, a.cause,
                     a.revoke ? " (revoking its partitions)" : "");
        job.controller->ReportFailure(a.worker, a.cause, a.failed_at_ms, a.revoke);
        break;
      case WorkerAction::Type::kRemove:
        // Removed by Tick() once no partitions are planned on it, so the
        // failover is recorded with the pod's own cause.
        job.deleted.emplace(a.worker, Now());
        break;
    }
  }
}

void FailoverManager::OnPodEvent(const std::string& type, const json& pod) {
  std::string kind = kube::Label(pod, kKindLabel);
  if (kind.empty()) kind = "UserSignal";
  const std::string job_name = kube::Label(pod, kJobLabel);
  if (job_name.empty() || (kind != "UserSignal" && kind != "UserSegment" && kind != "SessionJob")) return;
  const JobKey key{kind, kube::ObjectKey{kube::Namespace(pod), job_name}};
  std::lock_guard<std::mutex> lock(mu_);
  if (stopped_) return;
  auto it = jobs_.find(key);
  if (it == jobs_.end()) {
    if (type == "DELETED") return;
    it = jobs_.emplace(key, std::make_unique<Job>(options_.worker_http_port)).first;
    it->second->kind = kind;
    it->second->key = key.second;
  }
  Job& job = *it->second;
  Apply(job, job.pods.Observe(type, pod, Now()));
  if (!job.controller && job.pods.Empty()) jobs_.erase(it);
}

void FailoverManager::OnFailover(const JobKey& key,
                                 const std::shared_ptr<JobShared>& shared,
                                 const FailoverRecord& r) {
  Notify(key);
  if (r.first_output_ms > 0 || events_ == nullptr) return;  // the second call: first output known
  PendingEvent e;
  {
    std::lock_guard<std::mutex> lock(shared->mu);
    e.owner = shared->owner;
  }
  e.type = "Warning";
  e.reason = "Failover";
  e.message = FailoverEventMessage(r);
  {
    std::lock_guard<std::mutex> lock(events_mu_);
    pending_events_.push_back(std::move(e));
  }
  events_cv_.notify_all();
}

void FailoverManager::Tick() {
  std::vector<JobKey> changed;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const int64_t now = Now();
    for (auto& [key, job] : jobs_) {
      if (!job->controller) continue;
      JobControllerSnapshot snap = job->controller->Snapshot();
      for (auto it = job->deleted.begin(); it != job->deleted.end();) {
        const bool owns = snap.assignment.active.count(it->first) > 0;
        if (!owns || now - it->second >= options_.remove_deleted_after_ms) {
          job->controller->RemoveWorker(it->first);
          it = job->deleted.erase(it);
        } else {
          ++it;
        }
      }
      std::string shown = Shown(snap);
      bool notify = shown != job->shown;
      job->shown = std::move(shown);
      if (job->lag_published_ms == 0 || now - job->lag_published_ms >= options_.lag_refresh_ms) {
        std::map<std::string, int64_t> lag;
        for (const auto& w : snap.workers) lag[w.id] = w.status.lag;
        notify = notify || lag != job->lag;
        job->lag = std::move(lag);
        job->lag_published_ms = now;
      }
      if (notify) changed.push_back(key);
    }
  }
  for (const auto& key : changed) Notify(key);

  std::deque<PendingEvent> events;
  {
    std::lock_guard<std::mutex> lock(events_mu_);
    events.swap(pending_events_);
  }
  for (const auto& e : events) events_->Record(e.owner, e.type, e.reason, e.message);
}

void FailoverManager::Loop() {
  while (true) {
    {
      std::unique_lock<std::mutex> lock(events_mu_);
      events_cv_.wait_for(lock, kTickInterval,
                          [this] { return loop_stop_ || !pending_events_.empty(); });
      if (loop_stop_) return;
    }
    Tick();
  }
}

bool FailoverManager::Step(const kube::ObjectKey& key, const std::string& kind) {
  JobController* controller = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = jobs_.find(JobKey{kind, key});
    if (it == jobs_.end() || !it->second->controller) return false;
    controller = it->second->controller.get();
  }
  return controller->Step();
}

void FailoverManager::Stop() {
  std::vector<std::unique_ptr<JobController>> controllers;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) return;
    stopped_ = true;
    for (auto& [key, job] : jobs_) {
      if (job->controller) controllers.push_back(std::move(job->controller));
    }
    jobs_.clear();
  }
  for (auto& c : controllers) c->Stop();
  {
    std::lock_guard<std::mutex> lock(events_mu_);
    loop_stop_ = true;
  }
  events_cv_.notify_all();
  if (loop_.joinable()) loop_.join();
  // Failovers of the last moments still get their Events.
  std::deque<PendingEvent> events;
  {
    std::lock_guard<std::mutex> lock(events_mu_);
    events.swap(pending_events_);
  }
  if (events_ != nullptr) {
    for (const auto& e : events) events_->Record(e.owner, e.type, e.reason, e.message);
  }
}

}  // namespace usp::op
