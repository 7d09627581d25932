#include "operator/failover/pod_tracker.h"

#include <algorithm>
#include <chrono>

#include "operator/controller/clock.h"
#include "operator/kube/object.h"

namespace usp::op {

using nlohmann::json;

namespace {

constexpr const char* kWorkerContainer = "worker";  // reconcile/workload.cc names it so

const json& Field(const json& obj, const char* key) {
  static const json kNull;
  if (!obj.is_object()) return kNull;
  auto it = obj.find(key);
  return it == obj.end() ? kNull : *it;
}

std::string Str(const json& obj, const char* key) {
  const json& v = Field(obj, key);
  return v.is_string() ? v.get<std::string>() : "";
}

int64_t Int(const json& obj, const char* key) {
  const json& v = Field(obj, key);
  return v.is_number_integer() ? v.get<int64_t>() : 0;
}

// The worker container's status: the one named "worker", else the first.
const json& WorkerContainerStatus(const json& pod) {
  const json& statuses = Field(Field(pod, "status"), "containerStatuses");
  static const json kNull;
  if (!statuses.is_array() || statuses.empty()) return kNull;
  for (const auto& cs : statuses) {
    if (Str(cs, "name") == kWorkerContainer) return cs;
  }
  return statuses.front();
}

int WorkerPort(const json& pod, int fallback) {
  const json& containers = Field(Field(pod, "spec"), "containers");
  if (!containers.is_array()) return fallback;
  const json* chosen = nullptr;
  for (const auto& c : containers) {
    if (Str(c, "name") == kWorkerContainer) chosen = &c;
  }
  if (chosen == nullptr && !containers.empty()) chosen = &containers.front();
  if (chosen == nullptr) return fallback;
  const json& ports = Field(*chosen, "ports");
  if (!ports.is_array()) return fallback;
  for (const auto& p : ports) {
    if (Str(p, "name") == "http" && Int(p, "containerPort") > 0)
      return static_cast<int>(Int(p, "containerPort"));
  }
  return fallback;
}

std::string TerminationCause(const json& terminated) {
  std::string detail = Str(terminated, "reason");
  if (Int(terminated, "signal") > 0) {
    detail += (detail.empty() ? "" : ", ") + std::string("signal ") +
              std::to_string(Int(terminated, "signal"));
  }
  std::string cause =
      "container terminated: exit code " + std::to_string(Int(terminated, "exitCode"));
  if (!detail.empty()) cause += " (" + detail + ")";
  return cause;
}

// Tells two terminations of the same pod apart.
std::string TerminationId(const json& terminated) {
  return Str(terminated, "containerID") + "|" + Str(terminated, "startedAt") + "|" +
         Str(terminated, "finishedAt") + "|" + std::to_string(Int(terminated, "exitCode"));
}

WorkerAction Failure(const std::string& pod, std::string cause, int64_t at_ms,
                     bool revoke = false) {
  WorkerAction a;
  a.type = WorkerAction::Type::kFailure;
  a.worker = pod;
  a.cause = std::move(cause);
  a.failed_at_ms = at_ms;
  a.revoke = revoke;
  return a;
}

WorkerAction Upsert(const std::string& pod, const std::string& url) {
  WorkerAction a;
  a.type = WorkerAction::Type::kUpsert;
  a.worker = pod;
  a.url = url;
  return a;
}

}  // namespace

std::string WorkerAction::ToString() const {
  switch (type) {
    case Type::kUpsert:
      return "upsert " + worker + " " + url;
    case Type::kFailure:
      return "failure " + worker + " @" + std::to_string(failed_at_ms) +
             (revoke ? " revoke " : " ") + cause;
    case Type::kRemove:
      return "remove " + worker;
  }
  return "?";
}

int64_t FailureTimeMs(const std::string& rfc3339, int64_t now_ms) {
  auto t = ParseTime(rfc3339);
  if (!t) return now_ms;
  int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(t->time_since_epoch()).count();
  const auto t_pos = rfc3339.find('T');
  const bool fraction = t_pos != std::string::npos && rfc3339.find('.', t_pos) != std::string::npos;
  if (!fraction) ms += 999;  // the latest moment a truncated timestamp allows
  return std::min(ms, now_ms);
}

std::vector<WorkerAction> PodTracker::Observe(const std::string& type, const json& pod,
                                              int64_t now_ms) {
  std::vector<WorkerAction> actions;
  const std::string name = kube::Name(pod);
  if (name.empty()) return actions;

  if (type == "DELETED") {
    auto it = pods_.find(name);
    if (it == pods_.end()) return actions;
    if (it->second.running) actions.push_back(Failure(name, "pod deleted", now_ms));
    WorkerAction remove;
    remove.type = WorkerAction::Type::kRemove;
    remove.worker = name;
    actions.push_back(std::move(remove));
    pods_.erase(it);
    return actions;
  }

  PodState& s = pods_[name];
  if (s.uid != kube::Uid(pod)) {  // a new pod reusing the name
    s = PodState{};
    s.uid = kube::Uid(pod);
  }

  const json& cs = WorkerContainerStatus(pod);
  const json& status = Field(pod, "status");

  // A restart in place (a real kubelet): the previous container's end is in lastState.
  const int64_t restarts = Int(cs, "restartCount");
  if (restarts > s.restart_count) {
    const json& last = Field(Field(cs, "lastState"), "terminated");
    if (s.running) {
      actions.push_back(Failure(
          name,
          last.is_object() ? TerminationCause(last)
                           : "container restarted (restart count " + std::to_string(restarts) + ")",
          FailureTimeMs(Str(last, "finishedAt"), now_ms)));
      s.running = false;
    }
    s.restart_count = restarts;
    if (last.is_object()) s.reported_termination = TerminationId(last);
  }

  // The container (or the pod) has ended.
  const json& terminated = Field(Field(cs, "state"), "terminated");
  if (terminated.is_object()) {
    const std::string id = TerminationId(terminated);
    if (id != s.reported_termination) {
      if (s.running) {
        actions.push_back(Failure(name, TerminationCause(terminated),
                                  FailureTimeMs(Str(terminated, "finishedAt"), now_ms)));
        s.running = false;
      }
      s.reported_termination = id;
    }
  } else if (const std::string phase = Str(status, "phase");
             (phase == "Failed" || phase == "Succeeded") && s.running) {
    std::string reason = Str(status, "reason");
    actions.push_back(
        Failure(name, "pod " + phase + (reason.empty() ? "" : " (" + reason + ")"), now_ms));
    s.running = false;
  }

  if (kube::IsBeingDeleted(pod)) {
    if (!s.terminating) {
      s.terminating = true;
      if (s.running) actions.push_back(Failure(name, "pod terminating", now_ms, /*revoke=*/true));
      s.running = false;
    }
    return actions;  // a terminating pod never takes partitions again
  }

  const json& running = Field(Field(cs, "state"), "running");
  const std::string ip = Str(status, "podIP");
  if (running.is_object() && !ip.empty() && Str(status, "phase") == "Running") {
    std::string incarnation = Str(cs, "containerID");
    if (incarnation.empty())
      incarnation = Str(running, "startedAt") + "#" + std::to_string(restarts);
    const std::string url = "http://" + ip + ":" + std::to_string(WorkerPort(pod, default_port_));
    if (!s.running || s.incarnation != incarnation || s.url != url) {
      if (s.running) {
        // A new container we saw no end of (events coalesced): the old one is gone.
        actions.push_back(Failure(name, "container replaced", now_ms));
      }
      actions.push_back(Upsert(name, url));
      s.running = true;
      s.incarnation = incarnation;
      s.url = url;
    }
  }
  return actions;
}

std::vector<WorkerAction> PodTracker::Running() const {
  std::vector<WorkerAction> actions;
  for (const auto& [name, s] : pods_) {
    if (s.running) actions.push_back(Upsert(name, s.url));
  }
  return actions;
}

}  // namespace usp::op
