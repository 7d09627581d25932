#pragma once
// FakeWorkers: worker pods as the control protocol sees them (the real epoch
// rule, no I/O), for the operator's failover tests. Keyed by base URL.

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "runtime/control/worker_client.h"

namespace usp::op {

class FakeWorkers : public WorkerClient {
 public:
  struct Worker {
    bool alive = true;
    bool warm = true;
    int64_t epoch = 0;
    std::vector<int32_t> partitions;
    int64_t lag = 0;
  };

  void Add(const std::string& url, bool warm = true) {
    std::lock_guard<std::mutex> lock(mu_);
    workers_[url] = Worker{};
    workers_[url].warm = warm;
  }
  void Kill(const std::string& url) {
    std::lock_guard<std::mutex> lock(mu_);
    workers_[url].alive = false;
  }
  void SetWarm(const std::string& url, bool warm) {
    std::lock_guard<std::mutex> lock(mu_);
    workers_[url].warm = warm;
  }
  void SetLag(const std::string& url, int64_t lag) {
    std::lock_guard<std::mutex> lock(mu_);
    workers_[url].lag = lag;
  }
  Worker Get(const std::string& url) {
    std::lock_guard<std::mutex> lock(mu_);
    return workers_[url];
  }
  // "URL@EPOCH[p,...]" for every PUT, in order.
  std::vector<std::string> Puts() {
    std::lock_guard<std::mutex> lock(mu_);
    return puts_;
  }

  Result<WorkerStatus> GetStatus(const std::string& url, int) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = workers_.find(url);
    if (it == workers_.end() || !it->second.alive)
      return Status::Unavailable("connect " + url + ": refused");
    return StatusOf(it->second);
  }

  Result<WorkerStatus> PutAssignment(const std::string& url, int64_t epoch,
                                     const std::vector<int32_t>& partitions, int) override {
    std::lock_guard<std::mutex> lock(mu_);
    std::string parts;
    for (int32_t p : partitions) parts += (parts.empty() ? "" : ",") + std::to_string(p);
    puts_.push_back(url + "@" + std::to_string(epoch) + "[" + parts + "]");
    auto it = workers_.find(url);
    if (it == workers_.end() || !it->second.alive)
      return Status::Unavailable("connect " + url + ": refused");
    Worker& w = it->second;
    if (epoch < w.epoch) return Status::InvalidArgument("409 stale_epoch");
    if (epoch == w.epoch && partitions != w.partitions)
      return Status::InvalidArgument("409 conflicting_assignment");
    w.epoch = epoch;
    w.partitions = partitions;
    return StatusOf(w);
  }

 private:
  static WorkerStatus StatusOf(const Worker& w) {
    WorkerStatus s;
    s.role = w.partitions.empty() ? "standby" : "active";
    s.epoch = w.epoch;
    s.ready = true;
    s.warm = w.warm;
    s.partitions = w.partitions;
    s.lag = w.lag;
    return s;
  }

  std::mutex mu_;
  std::map<std::string, Worker> workers_;
  std::vector<std::string> puts_;
};

}  // namespace usp::op
