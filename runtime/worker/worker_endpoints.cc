#include "runtime/worker/worker_endpoints.h"

#include <algorithm>
#include <chrono>
#include <climits>
#include <nlohmann/json.hpp>

#include "core/signal_record.h"

namespace usp {

WorkerEndpoints::WorkerEndpoints(std::string kind, std::string job, MetricsRegistry* metrics,
                                 Clock* clock,
                                 int assignment_timeout_ms)
    : kind_(std::move(kind)),
      job_(std::move(job)),
      metrics_(metrics),
      clock_(clock),
      assignment_timeout_ms_(assignment_timeout_ms) {
  StartupHeartbeat();
}

void WorkerEndpoints::SetWorker(AssignableWorker* worker) { worker_.store(worker); }

HttpResponse WorkerEndpoints::Handle(const HttpRequest& request) {
  AssignableWorker* worker = worker_.load();
  if (request.path == "/assignment") {
    if (request.method != "PUT") {
      return JsonError(405, "method_not_allowed", "only PUT is supported on /assignment");
    }
    return PutAssignment(worker, request.body);
  }
  if (request.method != "GET" && request.method != "HEAD") {
    return JsonError(405, "method_not_allowed", "only GET is supported");
  }
  if (request.path == "/healthz") {
    int64_t beat = startup_heartbeat_ms_.load();
    if (worker != nullptr) beat = std::max(beat, worker->last_heartbeat_ms());
    int64_t age = clock_->NowMs() - beat;
    if (age > kHeartbeatTimeoutMs) {
      return JsonError(503, "stalled", "worker loop silent for " + std::to_string(age) + " ms");
    }
    return HttpResponse{200, "application/json", R"({"status":"ok"})"};
  }
  if (request.path == "/readyz") {
    if (worker == nullptr || !worker->ready()) {
      return JsonError(503, "not_ready", "kafka metadata or partition assignment pending");
    }
    return HttpResponse{200, "application/json", R"({"status":"ready"})"};
  }
  if (request.path == "/status") return StatusResponse(worker);
  if (request.path == "/metrics") {
    return HttpResponse{200, "text/plain; version=0.0.4", metrics_->Serialize()};
  }
  return JsonError(404, "not_found", "no route " + request.path);
}

HttpResponse WorkerEndpoints::StatusResponse(AssignableWorker* worker) const {
  WorkerSnapshot snap;
  if (worker != nullptr) snap = worker->Snapshot();
  bool ready = worker != nullptr && worker->ready();
  nlohmann::json body = {{"kind", kind_},
                         {"job", job_},
                         {"role", snap.partitions.empty() ? "standby" : "active"},
                         {"epoch", snap.epoch},
                         {"ready", ready},
                         // Started = config loaded, transform built, consumer and
                         // producer created, metadata fetched: it can take over at once.
                         {"warm", ready && snap.started},
                         {"partitions", snap.partitions},
                         {"lag", snap.lag},
                         {"assigned_at_ms", snap.assigned_at_ms},
                         {"first_output_ms", snap.first_output_ms}};
  if (snap.replica_lag >= 0) body["replica_lag"] = snap.replica_lag;
  nlohmann::json assignment = nlohmann::json::array();
  for (const auto& tp : snap.assignment) {
    assignment.push_back({{"topic", tp.topic}, {"partition", tp.partition}});
  }
  body["assignment"] = std::move(assignment);
  nlohmann::json committed = nlohmann::json::object();
  for (const auto& o : snap.committed) {
    committed[o.topic][std::to_string(o.partition)] = o.offset;
  }
  body["committed"] = std::move(committed);
  return HttpResponse{200, "application/json", body.dump()};
}

HttpResponse WorkerEndpoints::PutAssignment(AssignableWorker* worker, const std::string& text) {
  nlohmann::json body = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded() || !body.is_object()) {
    return JsonError(400, "invalid_argument", "body: must be a JSON object");
  }
  auto epoch = body.find("epoch");
  if (epoch == body.end() || !epoch->is_number_integer() || epoch->get<int64_t>() < 0) {
    return JsonError(400, "invalid_argument", "epoch: must be a non-negative integer");
  }
  auto parts = body.find("partitions");
  if (parts == body.end() || !parts->is_array()) {
    return JsonError(400, "invalid_argument", "partitions: must be an array of partition numbers");
  }
  std::vector<int32_t> partitions;
  for (size_t i = 0; i < parts->size(); ++i) {
    const nlohmann::json& p = (*parts)[i];
    if (!p.is_number_integer() || p.get<int64_t>() < 0 || p.get<int64_t>() > INT32_MAX) {
      return JsonError(400, "invalid_argument",
                       "partitions[" + std::to_string(i) + "]: must be a non-negative integer");
    }
    partitions.push_back(p.get<int32_t>());
  }
  if (worker == nullptr) return JsonError(503, "unavailable", "worker not running");

  std::future<AssignmentOutcome> done =
      worker->SubmitAssignment(epoch->get<int64_t>(), std::move(partitions));
  if (done.wait_for(std::chrono::milliseconds(assignment_timeout_ms_)) !=
      std::future_status::ready) {
    return JsonError(503, "timeout",
                     "the worker loop did not take the assignment within " +
                         std::to_string(assignment_timeout_ms_) + " ms");
  }
  AssignmentOutcome outcome;
  try {
    outcome = done.get();
  } catch (const std::future_error&) {
    return JsonError(503, "unavailable", "worker stopped");
  }
  switch (outcome.result) {
    case AssignmentResult::kApplied:
    case AssignmentResult::kUnchanged:
      return StatusResponse(worker);
    case AssignmentResult::kStale:
      return JsonError(409, "stale_epoch", outcome.message);
    case AssignmentResult::kConflicting:
      return JsonError(409, "conflicting_assignment", outcome.message);
    case AssignmentResult::kInvalid:
      return JsonError(400, "invalid_argument", outcome.message);
    case AssignmentResult::kUnavailable:
      break;
  }
  return JsonError(503, "unavailable", outcome.message);
}

}  // namespace usp
