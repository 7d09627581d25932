#include "runtime/control/worker_client.h"

#include <nlohmann/json.hpp>

#include "runtime/http/http_client.h"

namespace usp {

Result<WorkerStatus> ParseWorkerStatus(const std::string& body) {
  nlohmann::json doc = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("epoch")) {
    return Status::InvalidArgument("not a worker status document: " + body.substr(0, 200));
  }
  WorkerStatus s;
  try {
    s.role = doc.value("role", "");
    s.epoch = doc.value("epoch", int64_t{0});
    s.ready = doc.value("ready", false);
    s.warm = doc.value("warm", false);
    s.lag = doc.value("lag", int64_t{0});
    s.replica_lag = doc.value("replica_lag", int64_t{-1});
    s.assigned_at_ms = doc.value("assigned_at_ms", int64_t{0});
    s.first_output_ms = doc.value("first_output_ms", int64_t{0});
    if (doc.contains("partitions")) s.partitions = doc.at("partitions").get<std::vector<int32_t>>();
  } catch (const nlohmann::json::exception& e) {
    return Status::InvalidArgument(std::string("worker status: ") + e.what());
  }
  return s;
}

namespace {

std::string ErrorText(const HttpClientResponse& r) {
  nlohmann::json doc = nlohmann::json::parse(r.body, nullptr, false);
  if (doc.is_object() && doc.contains("error") && doc["error"].is_object()) {
    return std::to_string(r.status) + " " + doc["error"].value("code", "") + ": " +
           doc["error"].value("message", "");
  }
  return "HTTP " + std::to_string(r.status) + ": " + r.body.substr(0, 200);
}

class HttpWorkerClient : public WorkerClient {
 public:
  Result<WorkerStatus> GetStatus(const std::string& base_url, int timeout_ms) override {
    auto r = HttpGet(base_url + "/status", timeout_ms);
    if (!r.ok()) return Status::Unavailable(r.status().message());
    if (r->status != 200) return Status::Unavailable(ErrorText(*r));
    return ParseWorkerStatus(r->body);
  }

  Result<WorkerStatus> PutAssignment(const std::string& base_url, int64_t epoch,
                                     const std::vector<int32_t>& partitions,
                                     int timeout_ms) override {
    nlohmann::json body = {{"epoch", epoch}, {"partitions", partitions}};
    auto r = HttpCall("PUT", base_url + "/assignment", body.dump(), timeout_ms);
    if (!r.ok()) return Status::Unavailable(r.status().message());
    if (r->status == 409 || r->status == 400) return Status::InvalidArgument(ErrorText(*r));
    if (r->status != 200) return Status::Unavailable(ErrorText(*r));
    return ParseWorkerStatus(r->body);
  }
};

}  // namespace

std::unique_ptr<WorkerClient> NewHttpWorkerClient() { return std::make_unique<HttpWorkerClient>(); }

}  // namespace usp
