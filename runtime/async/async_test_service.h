#pragma once
// Test helpers for usp_async_test: a real HTTP service (HttpServer on port 0)
// with scripted behaviour that counts requests and their concurrency, and
// metric readers.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "runtime/common/metrics.h"
#include "runtime/http/http_server.h"

namespace usp::testing {

class TestService {
 public:
  // `behaviour(request, n)`: n = 1 for the first request.
  using Behaviour = std::function<HttpResponse(const HttpRequest&, int)>;

  explicit TestService(Behaviour behaviour, int threads = 16) : behaviour_(std::move(behaviour)) {
    auto server = HttpServer::Start("127.0.0.1", 0, threads,
                                    [this](const HttpRequest& req) { return Handle(req); });
    EXPECT_TRUE(server.ok()) << server.status().message();
    server_ = std::move(server).value();
    url = "http://127.0.0.1:" + std::to_string(server_->port()) + "/score";
  }
  ~TestService() { server_->Stop(); }

  std::string url;
  std::atomic<int> requests{0};
  std::atomic<int> max_concurrent{0};

  std::vector<std::string> bodies() {
    std::lock_guard<std::mutex> lock(mutex_);
    return bodies_;
  }

 private:
  HttpResponse Handle(const HttpRequest& req) {
    const int n = ++requests;
    const int c = ++concurrent_;
    int seen = max_concurrent.load();
    while (c > seen && !max_concurrent.compare_exchange_weak(seen, c)) {
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      bodies_.push_back(req.method + " " + req.path + " " + req.body);
    }
    HttpResponse r = behaviour_(req, n);
    --concurrent_;
    return r;
  }

  Behaviour behaviour_;
  std::atomic<int> concurrent_{0};
  std::mutex mutex_;
  std::vector<std::string> bodies_;
  std::unique_ptr<HttpServer> server_;
};

inline HttpResponse Answer(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

inline void SleepMs(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

// A free loopback port with nothing listening (bound once, then closed).
inline uint16_t ClosedPort() {
  auto server = HttpServer::Start("127.0.0.1", 0, 1, [](const HttpRequest&) { return HttpResponse{}; });
  EXPECT_TRUE(server.ok());
  uint16_t port = (*server)->port();
  (*server)->Stop();
  return port;
}

// The value of a counter or a histogram's sample count with these labels
// (all must match); -1 when absent.
inline double MetricValue(MetricsRegistry& registry, const std::string& name,
                          const std::map<std::string, std::string>& labels) {
  for (const auto& family : registry.registry().Collect()) {
    if (family.name != name) continue;
    for (const auto& metric : family.metric) {
      bool match = true;
      for (const auto& label : labels) {
        bool found = std::any_of(metric.label.begin(), metric.label.end(), [&](const auto& l) {
          return l.name == label.first && l.value == label.second;
        });
        match = match && found;
      }
      if (!match) continue;
      if (family.type == prometheus::MetricType::Histogram) {
        return static_cast<double>(metric.histogram.sample_count);
      }
      return metric.counter.value;
    }
  }
  return -1;
}

}  // namespace usp::testing
