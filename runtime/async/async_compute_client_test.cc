#include "runtime/async/async_compute_client.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "runtime/async/async_test_service.h"

namespace usp {
namespace {

using testing::Answer;
using testing::MetricValue;
using testing::SleepMs;
using testing::TestService;

AsyncComputeOptions Options(const std::string& url) {
  AsyncComputeOptions o;
  o.job = "j";
  o.url = url;
  o.timeout_ms = 2000;
  o.max_in_flight = 4;
  o.retries = 2;
  o.backoff_initial_ms = 10;
  o.backoff_max_ms = 40;
  return o;
}

// Polls until `n` results arrived (or 10 s passed).
std::vector<AsyncComputeResult> WaitFor(AsyncComputeClient& client, size_t n) {
  std::vector<AsyncComputeResult> out;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (out.size() < n && std::chrono::steady_clock::now() < deadline) {
    client.WaitForResults(50);
    client.Poll(&out);
  }
  return out;
}

double Requests(MetricsRegistry& registry, const char* result) {
  return MetricValue(registry, "usp_async_compute_requests_total",
                     {{"kind", "SessionJob"}, {"job", "j"}, {"result", result}});
}

TEST(AsyncComputeClientTest, FastServiceAnswerIsPolled) {
  TestService service([](const HttpRequest&, int) { return Answer(200, R"({ "score" : 0.5 })"); });
  MetricsRegistry registry;
  AsyncComputeClient client(Options(service.url), &registry);
  auto id = client.Submit(R"({"user_id":"u1"})");
  ASSERT_TRUE(id.has_value());
  auto results = WaitFor(client, 1);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].id, *id);
  EXPECT_EQ(results[0].outcome, AsyncOutcome::kOk);
  EXPECT_EQ(results[0].answer, R"({"score":0.5})");  // compact
  EXPECT_EQ(results[0].http_status, 200);
  EXPECT_EQ(results[0].attempts, 1);
  EXPECT_EQ(service.bodies(), std::vector<std::string>{R"(POST /score {"user_id":"u1"})"});
  EXPECT_EQ(Requests(registry, "ok"), 1);
  EXPECT_EQ(Requests(registry, "error"), 0);
  EXPECT_EQ(MetricValue(registry, "usp_async_compute_latency_seconds", {{"job", "j"}}), 1);
  EXPECT_EQ(client.outstanding(), 0u);
}

TEST(AsyncComputeClientTest, SlowServiceIsRetriedThenCountedAsTimeout) {
  TestService service([](const HttpRequest&, int) {
    SleepMs(600);
    return Answer(200, "{}");
  });
  MetricsRegistry registry;
  AsyncComputeOptions o = Options(service.url);
  o.timeout_ms = 100;
  o.retries = 2;
  AsyncComputeClient client(o, &registry);
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(client.Submit("{}").has_value());
  auto results = WaitFor(client, 1);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].outcome, AsyncOutcome::kTimeout);
  EXPECT_EQ(results[0].attempts, 3);
  EXPECT_NE(results[0].error.find("no answer within 100 ms"), std::string::npos) << results[0].error;
  // Three attempts of ~100 ms plus backoffs, not three times the service's 600 ms.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(1500));
  EXPECT_EQ(service.requests.load(), 3);
  EXPECT_EQ(Requests(registry, "timeout"), 1);
  EXPECT_EQ(Requests(registry, "ok"), 0);
  EXPECT_EQ(MetricValue(registry, "usp_async_compute_retries_total", {{"job", "j"}}), 2);
}

TEST(AsyncComputeClientTest, ServerErrorIsRetriedThenCountedAsError) {
  TestService service([](const HttpRequest&, int) { return Answer(500, "boom"); });
  MetricsRegistry registry;
  AsyncComputeClient client(Options(service.url), &registry);
  ASSERT_TRUE(client.Submit("{}").has_value());
  auto results = WaitFor(client, 1);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].outcome, AsyncOutcome::kError);
  EXPECT_EQ(results[0].http_status, 500);
  EXPECT_EQ(results[0].attempts, 3);
  EXPECT_EQ(results[0].error, "HTTP 500: boom");
  EXPECT_EQ(service.requests.load(), 3);
  EXPECT_EQ(Requests(registry, "error"), 1);
}

TEST(AsyncComputeClientTest, ServiceThatRecoversSucceedsOnRetry) {
  TestService service([](const HttpRequest&, int n) {
    return n == 1 ? Answer(503, "busy") : Answer(200, R"({"ok":true})");
  });
  MetricsRegistry registry;
  AsyncComputeClient client(Options(service.url), &registry);
  ASSERT_TRUE(client.Submit("{}").has_value());
  auto results = WaitFor(client, 1);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].outcome, AsyncOutcome::kOk);
  EXPECT_EQ(results[0].attempts, 2);
  EXPECT_EQ(Requests(registry, "ok"), 1);
  EXPECT_EQ(Requests(registry, "error"), 0);
}

TEST(AsyncComputeClientTest, BadRequestIsNotRetried) {
  TestService service([](const HttpRequest&, int) { return Answer(400, "bad input"); });
  MetricsRegistry registry;
  AsyncComputeClient client(Options(service.url), &registry);
  ASSERT_TRUE(client.Submit("{}").has_value());
  auto results = WaitFor(client, 1);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].outcome, AsyncOutcome::kError);
  EXPECT_EQ(results[0].http_status, 400);
  EXPECT_EQ(results[0].attempts, 1);
  SleepMs(100);  // no late retry either
  EXPECT_EQ(service.requests.load(), 1);
  EXPECT_EQ(Requests(registry, "error"), 1);
  EXPECT_EQ(MetricValue(registry, "usp_async_compute_retries_total", {{"job", "j"}}), 0);
}

TEST(AsyncComputeClientTest, NonJsonAnswerIsAnError) {
  TestService service([](const HttpRequest&, int) { return Answer(200, "not json"); });
  AsyncComputeClient client(Options(service.url), nullptr);
  ASSERT_TRUE(client.Submit("{}").has_value());
  auto results = WaitFor(client, 1);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].outcome, AsyncOutcome::kError);
  EXPECT_NE(results[0].error.find("not JSON"), std::string::npos);
  EXPECT_EQ(service.requests.load(), 1);
}

TEST(AsyncComputeClientTest, ConnectionRefusedIsRetriedThenError) {
  MetricsRegistry registry;
  AsyncComputeClient client(
      Options("http://127.0.0.1:" + std::to_string(testing::ClosedPort()) + "/x"), &registry);
  ASSERT_TRUE(client.Submit("{}").has_value());
  auto results = WaitFor(client, 1);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].outcome, AsyncOutcome::kError);
  EXPECT_EQ(results[0].attempts, 3);
  EXPECT_EQ(results[0].http_status, 0);
  EXPECT_EQ(Requests(registry, "error"), 1);
}

TEST(AsyncComputeClientTest, HttpsUrlIsAnErrorWithoutRetry) {
  AsyncComputeClient client(Options("https://127.0.0.1:1/x"), nullptr);
  ASSERT_TRUE(client.Submit("{}").has_value());
  auto results = WaitFor(client, 1);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].outcome, AsyncOutcome::kError);
  EXPECT_EQ(results[0].attempts, 1);
}

TEST(AsyncComputeClientTest, MaxInFlightIsRespected) {
  TestService service([](const HttpRequest&, int) {
    SleepMs(80);
    return Answer(200, "1");
  });
  AsyncComputeOptions o = Options(service.url);
  o.max_in_flight = 3;
  AsyncComputeClient client(o, nullptr);
  for (int i = 0; i < 12; ++i) ASSERT_TRUE(client.Submit("{}").has_value());
  SleepMs(40);
  EXPECT_LE(client.in_flight(), 3u);
  auto results = WaitFor(client, 12);
  ASSERT_EQ(results.size(), 12u);
  for (const auto& r : results) EXPECT_EQ(r.outcome, AsyncOutcome::kOk);
  EXPECT_EQ(service.requests.load(), 12);
  EXPECT_EQ(service.max_concurrent.load(), 3);  // the limit, and reached
}

TEST(AsyncComputeClientTest, OverflowIsCountedAndSubmitNeverBlocks) {
  TestService service([](const HttpRequest&, int) {
    SleepMs(300);
    return Answer(200, "{}");
  });
  MetricsRegistry registry;
  AsyncComputeOptions o = Options(service.url);
  o.max_in_flight = 1;
  o.queue_capacity = 2;
  AsyncComputeClient client(o, &registry);
  int accepted = 0;
  auto slowest = std::chrono::steady_clock::duration::zero();
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 50; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    if (client.Submit("{}").has_value()) ++accepted;
    slowest = std::max(slowest, std::chrono::steady_clock::now() - t0);
  }
  const auto total = std::chrono::steady_clock::now() - start;
  EXPECT_LT(total, std::chrono::milliseconds(100));  // the service takes 300 ms per request
  EXPECT_LT(slowest, std::chrono::milliseconds(50));
  EXPECT_EQ(accepted, 3);  // one in flight + two waiting
  EXPECT_EQ(Requests(registry, "overflow"), 47);
  auto results = WaitFor(client, 3);
  EXPECT_EQ(results.size(), 3u);
  EXPECT_EQ(Requests(registry, "ok"), 3);
  // Room again once polled.
  EXPECT_TRUE(client.Submit("{}").has_value());
}

TEST(AsyncComputeClientTest, StopInterruptsBackoffAndDropsWaiting) {
  TestService service([](const HttpRequest&, int) { return Answer(503, ""); });
  AsyncComputeOptions o = Options(service.url);
  o.max_in_flight = 1;
  o.retries = 100;
  o.backoff_initial_ms = 10000;
  o.backoff_max_ms = 10000;
  AsyncComputeClient client(o, nullptr);
  ASSERT_TRUE(client.Submit("{}").has_value());
  ASSERT_TRUE(client.Submit("{}").has_value());
  SleepMs(100);  // first attempt failed, now backing off
  const auto start = std::chrono::steady_clock::now();
  client.Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  std::vector<AsyncComputeResult> out;
  client.Poll(&out);
  ASSERT_EQ(out.size(), 1u);  // the running one ends as an error; the waiting one is dropped
  EXPECT_EQ(out[0].outcome, AsyncOutcome::kError);
  EXPECT_FALSE(client.Submit("{}").has_value());
}

}  // namespace
}  // namespace usp
