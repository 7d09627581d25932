#include "operator/manager.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <utility>

#include "operator/reconcile/job_kind.h"
#include "operator/reconcile/workload.h"

namespace usp::op {

using nlohmann::json;

OperatorManager::OperatorManager(kube::KubeClient* client, const Clock* clock, EventRecorder* events,
                                 ControllerMetrics* metrics, ManagerOptions options, WorkerClient* worker_client,
                                 MetricsRegistry* registry)
    : client_(client),
      clock_(clock),
      events_(events),
      metrics_(metrics),
      options_(std::move(options)),
      worker_client_(worker_client),
      registry_(registry) {}

OperatorManager::~OperatorManager() { Stop(); }

void OperatorManager::AddKind(std::unique_ptr<Reconciler> reconciler, const kube::ResourceDescriptor& resource) {
  Kind kind;
  kind.controller = std::make_unique<Controller>(reconciler.get(), metrics_, options_.workers, options_.queue);
  kind.reconciler = std::move(reconciler);
  std::vector<std::string> namespaces = options_.user_signal.namespaces;
  if (namespaces.empty()) namespaces.push_back("");
  for (const auto& ns : namespaces) {
    InformerOptions io = options_.informer;
    io.ns = ns;
    auto informer = std::make_unique<Informer>(client_, resource, io);
    WorkQueue* queue = &kind.controller->queue();
    informer->AddHandler([queue](const std::string&, const json& obj) { queue->Add(kube::KeyOf(obj).ToString()); });
    kind.primary.push_back(std::move(informer));
  }
  kinds_.push_back(std::move(kind));
}

void OperatorManager::Start() {
  if (started_) return;
  started_ = true;
  if (worker_client_ != nullptr) {
    FailoverManagerOptions fo = options_.failover;
    fo.worker_http_port = options_.user_signal.worker.http_port;
    failover_ = std::make_unique<FailoverManager>(worker_client_, registry_, events_, fo);
  }
  AddKind(std::make_unique<UserSignalReconciler>(client_, clock_, events_, options_.user_signal, failover_.get()),
          kube::UserSignals());
  if (options_.report_unsupported_kinds) {
    // Segments and session jobs run like UserSignals (stateful workers).
    for (const JobKind* k : {&UserSegmentKind(), &SessionJobKind()}) {
      AddKind(std::make_unique<JobReconciler>(client_, clock_, events_, *k, options_.user_signal, failover_.get()),
              k->resource);
    }
  }
  // Each kind's queue; objects without a kind label are UserSignals'.
  std::map<std::string, WorkQueue*> queues;
  for (auto& kind : kinds_) queues[kind.controller->kind()] = &kind.controller->queue();
  auto queue_of = [queues](const json& obj) -> WorkQueue* {
    std::string kind = kube::Label(obj, kKindLabel);
    auto it = queues.find(kind.empty() ? "UserSignal" : kind);
    return it == queues.end() ? nullptr : it->second;
  };
  if (failover_) {
    // Assignment changes and failovers bring the job back for its status.
    failover_->SetNotify([queues](const std::string& kind, const kube::ObjectKey& key) {
      auto it = queues.find(kind);
      if (it != queues.end()) it->second->Add(key.ToString());
    });
  }
  // A UserSignal created, changed or deleted brings back the segments and
  // session jobs of its namespace that read it (a missing signal, its
  // outputTopic).
  std::vector<std::pair<Informer*, WorkQueue*>> dependents;
  for (auto& kind : kinds_) {
    if (kind.controller->kind() == "UserSignal") continue;
    for (auto& informer : kind.primary) dependents.emplace_back(informer.get(), &kind.controller->queue());
  }
  if (!dependents.empty()) {
    for (auto& informer : kinds_.front().primary) {
      informer->AddHandler([dependents](const std::string&, const json& signal) {
        const std::string ns = kube::Namespace(signal);
        const std::string name = kube::Name(signal);
        for (const auto& [dependent, queue] : dependents) {
          for (const auto& obj : dependent->List()) {
            if (kube::Namespace(obj) != ns) continue;
            const auto refs = ReferencedSignals(obj);
            if (std::find(refs.begin(), refs.end(), name) != refs.end()) queue->Add(kube::KeyOf(obj).ToString());
          }
        }
      });
    }
  }
  // Changes to a job's workloads (a Deployment's status, a ConfigMap edited
  // or deleted by hand) bring the job back to its kind's queue.
  std::vector<std::string> namespaces = options_.user_signal.namespaces;
  if (namespaces.empty()) namespaces.push_back("");
  for (const auto& ns : namespaces) {
    for (const auto* r : {&kube::Deployments(), &kube::ConfigMaps()}) {
      InformerOptions io = options_.informer;
      io.ns = ns;
      io.label_selector = kJobLabel;
      auto informer = std::make_unique<Informer>(client_, *r, io);
      informer->AddHandler([queue_of](const std::string&, const json& obj) {
        std::string job = kube::Label(obj, kJobLabel);
        WorkQueue* queue = queue_of(obj);
        if (!job.empty() && queue != nullptr) queue->Add(kube::ObjectKey{kube::Namespace(obj), job}.ToString());
      });
      owned_.push_back(std::move(informer));
    }
  }
  if (failover_) {
    // Worker pods: their lifecycle drives failure detection (with the
    // controllers' own probes).
    for (const auto& ns : namespaces) {
      InformerOptions io = options_.informer;
      io.ns = ns;
      io.label_selector = std::string(kNameLabel) + "=" + kWorkerName + "," + kJobLabel;
      auto informer = std::make_unique<Informer>(client_, kube::Pods(), io);
      FailoverManager* failover = failover_.get();
      informer->AddHandler([failover](const std::string& type, const json& pod) { failover->OnPodEvent(type, pod); });
      pods_.push_back(std::move(informer));
    }
  }
  for (auto& kind : kinds_) {
    kind.controller->Start();
    for (auto& informer : kind.primary) informer->Start();
  }
  for (auto& informer : owned_) informer->Start();
  for (auto& informer : pods_) informer->Start();
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = false;
  }
  resync_ = std::thread([this] { ResyncLoop(); });
  spdlog::info("controllers started ({} kinds)", kinds_.size());
}

void OperatorManager::ResyncLoop() {
  auto next_resync = std::chrono::steady_clock::now() + options_.resync_period;
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, std::chrono::seconds(1), [this] { return stopping_; });
    if (stopping_) break;
    const bool resync = std::chrono::steady_clock::now() >= next_resync;
    if (resync) next_resync = std::chrono::steady_clock::now() + options_.resync_period;
    for (auto& kind : kinds_) {
      if (resync) {
        for (auto& informer : kind.primary) {
          for (const auto& obj : informer->List()) kind.controller->queue().Add(kube::KeyOf(obj).ToString());
        }
      }
      if (metrics_ != nullptr) {
        metrics_->SetQueueDepth(kind.controller->kind(), static_cast<double>(kind.controller->queue().Len()));
      }
    }
  }
}

void OperatorManager::Stop() {
  if (!started_) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (resync_.joinable()) resync_.join();
  for (auto& informer : pods_) informer->Stop();
  // Controllers stop before the reconcilers that reference the manager; the
  // workers keep their assignments until the next leader adopts them.
  if (failover_) failover_->Stop();
  for (auto& informer : owned_) informer->Stop();
  for (auto& kind : kinds_) {
    for (auto& informer : kind.primary) informer->Stop();
    kind.controller->Stop();
  }
  owned_.clear();
  pods_.clear();
  kinds_.clear();
  failover_.reset();
  started_ = false;
  spdlog::info("controllers stopped");
}

bool OperatorManager::Synced() const {
  for (const auto& kind : kinds_) {
    // UserSegment/SessionJob CRDs may not be installed; they do not gate readiness.
    if (kind.controller->kind() != "UserSignal") continue;
    for (const auto& informer : kind.primary) {
      if (!informer->HasSynced()) return false;
    }
  }
  for (const auto& informer : owned_) {
    if (!informer->HasSynced()) return false;
  }
  for (const auto& informer : pods_) {
    if (!informer->HasSynced()) return false;
  }
  return true;
}

}  // namespace usp::op
