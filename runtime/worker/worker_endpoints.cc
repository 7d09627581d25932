#include "runtime/worker/worker_endpoints.h"

#include <algorithm>

#include "core/signal_record.h"

namespace usp {

WorkerEndpoints::WorkerEndpoints(const UserSignal& signal, MetricsRegistry* metrics, Clock* clock)
    : signal_(signal), metrics_(metrics), clock_(clock) {
  StartupHeartbeat();
}

void WorkerEndpoints::SetWorker(SignalWorker* worker) {
  worker_.store(worker);
  std::string json = PartitionsJson(worker);
  std::lock_guard<std::mutex> lock(mutex_);
  partitions_json_ = std::move(json);
}

HttpResponse WorkerEndpoints::Handle(const HttpRequest& request) {
  if (request.method != "GET" && request.method != "HEAD") {
    return JsonError(405, "method_not_allowed", "only GET is supported");
  }
  SignalWorker* worker = worker_.load();
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
  if (request.path == "/status") {
    std::string body = R"({"kind":"UserSignal","job":)";
    AppendJsonString(signal_.metadata.name, &body);
    bool ready = worker != nullptr && worker->ready();
    body += ready ? R"(,"ready":true,"warm":true)" : R"(,"ready":false,"warm":false)";
    body += R"(,"partitions":)";
    {
      std::lock_guard<std::mutex> lock(mutex_);
      body += partitions_json_;
    }
    body += "}";
    return HttpResponse{200, "application/json", std::move(body)};
  }
  if (request.path == "/metrics") {
    return HttpResponse{200, "text/plain; version=0.0.4", metrics_->Serialize()};
  }
  return JsonError(404, "not_found", "no route " + request.path);
}

std::string WorkerEndpoints::PartitionsJson(const SignalWorker* worker) {
  std::string out = "[";
  if (worker != nullptr) {
    bool first = true;
    for (const auto& tp : worker->assignment()) {
      if (!first) out += ",";
      first = false;
      out += R"({"topic":)";
      AppendJsonString(tp.topic, &out);
      out += R"(,"partition":)" + std::to_string(tp.partition) + "}";
    }
  }
  out += "]";
  return out;
}

}  // namespace usp
