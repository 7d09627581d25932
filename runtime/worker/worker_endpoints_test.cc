#include "runtime/worker/worker_endpoints.h"
#include "runtime/worker/signal_worker.h"

#include <gtest/gtest.h>

#include <memory>
#include <nlohmann/json.hpp>

#include "runtime/worker/worker_test_fakes.h"

namespace usp {
namespace {

class WorkerEndpointsTest : public ::testing::Test {
 protected:
  WorkerEndpointsTest() : signal_(testing::MakeSignal("clicks", "clicks")) {
    source_.partition_counts["clicks"] = 2;
    sink_.partition_counts["usp.signal.clicks"] = 4;
    sink_.partition_counts["usp.dlq.clicks"] = 1;
    worker_ =
        std::make_unique<SignalWorker>(signal_, std::move(SignalTransform::Create(signal_)).value(),
                                       &source_, &sink_, &metrics_, &clock_, SignalWorkerOptions{});
  }

  HttpResponse Get(const std::string& path) {
    HttpRequest request;
    request.method = "GET";
    request.path = path;
    return endpoints_.Handle(request);
  }

  UserSignal signal_;
  testing::FakeSourceReader source_;
  testing::FakeRecordSink sink_;
  testing::FakeClock clock_;
  MetricsRegistry registry_;
  WorkerMetrics metrics_{&registry_, "UserSignal", "clicks"};
  WorkerEndpoints endpoints_{"UserSignal", "clicks", &registry_, &clock_};
  std::unique_ptr<SignalWorker> worker_;
};

TEST_F(WorkerEndpointsTest, ReadyzFailsUntilPartitionsAreAssigned) {
  EXPECT_EQ(Get("/readyz").status, 503);
  endpoints_.SetWorker(worker_.get());
  EXPECT_EQ(Get("/readyz").status, 503);
  ASSERT_TRUE(worker_->Start().ok());
  EXPECT_EQ(Get("/readyz").status, 200);
}

TEST_F(WorkerEndpointsTest, HealthzFailsWhenTheLoopIsSilentTooLong) {
  EXPECT_EQ(Get("/healthz").status, 200);  // starting up
  endpoints_.SetWorker(worker_.get());
  ASSERT_TRUE(worker_->Start().ok());
  clock_.now_ms += kHeartbeatTimeoutMs + 1;
  EXPECT_EQ(Get("/healthz").status, 503);
  ASSERT_TRUE(worker_->RunOnce().ok());
  EXPECT_EQ(Get("/healthz").status, 200);
  clock_.now_ms += kHeartbeatTimeoutMs - 1;
  EXPECT_EQ(Get("/healthz").status, 200);
}

TEST_F(WorkerEndpointsTest, StatusListsTheAssignmentAndWarmth) {
  auto before = nlohmann::json::parse(Get("/status").body);
  EXPECT_EQ(before["warm"], false);
  EXPECT_TRUE(before["partitions"].empty());
  ASSERT_TRUE(worker_->Start().ok());
  endpoints_.SetWorker(worker_.get());
  auto after = nlohmann::json::parse(Get("/status").body);
  EXPECT_EQ(after["kind"], "UserSignal");
  EXPECT_EQ(after["job"], "clicks");
  EXPECT_EQ(after["ready"], true);
  EXPECT_EQ(after["warm"], true);
  EXPECT_EQ(after["role"], "active");
  EXPECT_EQ(after["epoch"], 0);
  EXPECT_EQ(after["partitions"], nlohmann::json::parse("[0,1]"));
  ASSERT_EQ(after["assignment"].size(), 2u);
  EXPECT_EQ(after["assignment"][1]["partition"], 1);
  EXPECT_EQ(after["assignment"][1]["topic"], "clicks");
}

TEST_F(WorkerEndpointsTest, MetricsAreServedAsPrometheusText) {
  HttpResponse r = Get("/metrics");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/plain; version=0.0.4");
  EXPECT_NE(r.body.find("usp_events_consumed_total"), std::string::npos);
}

TEST_F(WorkerEndpointsTest, UnknownPathsAreNotFound) {
  EXPECT_EQ(Get("/nope").status, 404);
  HttpRequest post;
  post.method = "POST";
  post.path = "/healthz";
  EXPECT_EQ(endpoints_.Handle(post).status, 405);
  post.path = "/assignment";
  EXPECT_EQ(endpoints_.Handle(post).status, 405);
}

}  // namespace
}  // namespace usp
