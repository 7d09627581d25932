#include "runtime/async/async_compute_sink.h"

#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "runtime/async/async_test_service.h"
#include "runtime/worker/worker_test_fakes.h"

namespace usp {
namespace {

using testing::Answer;
using testing::FakeClock;
using testing::FakeRecordSink;
using testing::MetricValue;
using testing::SleepMs;
using testing::TestService;

constexpr char kOut[] = "usp.session.s";
constexpr char kChangelog[] = "usp.changelog.s";

std::string Record(const std::string& user, int64_t start, int64_t version) {
  SessionRecord r;
  r.user_id = user;
  r.job = "s";
  r.window_start = start;
  r.window_end = start + 600000;
  r.aggregations_json = R"({"views":3})";
  r.version = version;
  return SerializeSessionRecord(r);
}

class AsyncComputeSinkTest : public ::testing::Test {
 protected:
  void Make(const std::string& url, AsyncComputeOptions o = {},
            AsyncComputeSinkOptions sink_options = {}) {
    o.job = "s";
    o.url = url;
    if (o.timeout_ms == 5000) o.timeout_ms = 2000;
    o.backoff_initial_ms = 10;
    o.backoff_max_ms = 20;
    sink_options.output_topic = kOut;
    inner_.partition_counts[kOut] = 8;
    sink_ = std::make_unique<AsyncComputeSink>(
        &inner_, std::make_unique<AsyncComputeClient>(o, &registry_), &clock_, sink_options);
    sink_->SetDeliveryCallback([this](const DeliveryReport& r) { owner_reports_.push_back(r.opaque); });
  }

  // Polls the sink until the inner sink holds `n` records (or 10 s passed).
  void PollUntil(size_t n) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (inner_.sent.size() < n && std::chrono::steady_clock::now() < deadline) {
      sink_->client().WaitForResults(20);
      sink_->Poll(0);
    }
    ASSERT_GE(inner_.sent.size(), n);
  }

  nlohmann::json Value(size_t i) { return nlohmann::json::parse(inner_.sent.at(i).value); }

  MetricsRegistry registry_;
  FakeRecordSink inner_;
  FakeClock clock_;  // 1'700'000'000'000
  std::vector<uint64_t> owner_reports_;
  std::unique_ptr<AsyncComputeSink> sink_;
};

TEST_F(AsyncComputeSinkTest, PassesRecordsThroughAndSendsTheEnrichedVersion) {
  TestService service([](const HttpRequest&, int) { return Answer(200, R"({"churn": 0.25})"); });
  Make(service.url);
  const std::string original = Record("u1", 0, clock_.now_ms - 5000);
  ASSERT_TRUE(sink_->Send(kChangelog, 3, "state/u1", "blob", 11, 7).ok());
  ASSERT_TRUE(sink_->Send(kOut, 5, "u1", original, 12, 7).ok());
  // Passed through unchanged and at once, before any answer.
  ASSERT_EQ(inner_.sent.size(), 2u);
  EXPECT_EQ(inner_.sent[0].topic, kChangelog);
  EXPECT_EQ(inner_.sent[0].value, "blob");
  EXPECT_EQ(inner_.sent[1].topic, kOut);
  EXPECT_EQ(inner_.sent[1].partition, 5);
  EXPECT_EQ(inner_.sent[1].key, "u1");
  EXPECT_EQ(inner_.sent[1].value, original);
  EXPECT_EQ(inner_.sent[1].timestamp_ms, 12);
  EXPECT_EQ(inner_.sent[1].opaque, 7u);

  PollUntil(3);
  const auto& enriched = inner_.sent[2];
  EXPECT_EQ(enriched.topic, kOut);
  EXPECT_EQ(enriched.partition, 5);
  EXPECT_EQ(enriched.key, "u1");
  EXPECT_NE(enriched.opaque & kAsyncComputeOpaqueBit, 0u);
  auto got = ParseSessionRecord(enriched.value);
  ASSERT_TRUE(got.ok());
  auto want = ParseSessionRecord(original).value();
  EXPECT_EQ(got->version, clock_.now_ms);  // now > original version
  want.version = got->version;
  want.async_result_json = R"({"churn":0.25})";
  EXPECT_EQ(*got, want);
  // The service got the original record.
  EXPECT_EQ(service.bodies(), std::vector<std::string>{"POST /score " + original});

  // The owner saw the reports of its own two records only.
  sink_->Poll(0);
  EXPECT_EQ(owner_reports_, (std::vector<uint64_t>{7, 7}));
  EXPECT_EQ(sink_->stats().delivered, 1);
  EXPECT_EQ(sink_->stats().enriched, 1);
  EXPECT_EQ(MetricValue(registry_, "usp_async_compute_requests_total", {{"result", "ok"}}), 1);
}

TEST_F(AsyncComputeSinkTest, EnrichedVersionIsNewerThanAFutureOriginal) {
  TestService service([](const HttpRequest&, int) { return Answer(200, "1"); });
  Make(service.url);
  ASSERT_TRUE(sink_->Send(kOut, 0, "u1", Record("u1", 0, clock_.now_ms + 100), 0, 1).ok());
  PollUntil(2);
  EXPECT_EQ(Value(1)["version"], clock_.now_ms + 101);
  EXPECT_EQ(Value(1)["async_result"], 1);
}

TEST_F(AsyncComputeSinkTest, OnlySessionRecordsOnTheOutputTopicAreSubmitted) {
  TestService service([](const HttpRequest&, int) { return Answer(200, "{}"); });
  Make(service.url);
  ASSERT_TRUE(sink_->Send(kChangelog, 0, "u1", Record("u1", 0, 1), 0, 1).ok());  // other topic
  ASSERT_TRUE(sink_->Send(kOut, 0, "u1", "", 0, 2).ok());                          // tombstone
  ASSERT_TRUE(sink_->Send(kOut, 0, "u1", "not json", 0, 3).ok());
  auto enriched = ParseSessionRecord(Record("u1", 0, 1)).value();
  enriched.async_result_json = "{}";
  ASSERT_TRUE(sink_->Send(kOut, 0, "u1", SerializeSessionRecord(enriched), 0, 4).ok());
  sink_->Poll(0);
  SleepMs(100);
  sink_->Poll(0);
  EXPECT_EQ(inner_.sent.size(), 4u);
  EXPECT_EQ(service.requests.load(), 0);
  EXPECT_EQ(sink_->stats().skipped, 3);
  EXPECT_EQ(sink_->stats().submitted, 0);
}

TEST_F(AsyncComputeSinkTest, FailingServiceWritesAnErrorVersion) {
  TestService service([](const HttpRequest&, int) { return Answer(500, "down"); });
  AsyncComputeOptions o;
  o.retries = 1;
  Make(service.url, o);
  ASSERT_TRUE(sink_->Send(kOut, 2, "u1", Record("u1", 0, 1), 0, 1).ok());
  PollUntil(2);
  EXPECT_EQ(service.requests.load(), 2);
  auto v = Value(1);
  EXPECT_EQ(v["async_result"], (nlohmann::json{{"error", "HTTP 500: down"}, {"reason", "error"}}));
  EXPECT_EQ(v["aggregations"], (nlohmann::json{{"views", 3}}));
  EXPECT_EQ(sink_->stats().failures_written, 1);
  EXPECT_EQ(MetricValue(registry_, "usp_async_compute_requests_total", {{"result", "error"}}), 1);
}

TEST_F(AsyncComputeSinkTest, SlowServiceWritesATimeoutVersion) {
  TestService service([](const HttpRequest&, int) {
    SleepMs(500);
    return Answer(200, "{}");
  });
  AsyncComputeOptions o;
  o.timeout_ms = 80;
  o.retries = 1;
  Make(service.url, o);
  ASSERT_TRUE(sink_->Send(kOut, 2, "u1", Record("u1", 0, 1), 0, 1).ok());
  PollUntil(2);
  EXPECT_EQ(service.requests.load(), 2);
  EXPECT_EQ(Value(1)["async_result"]["reason"], "timeout");
  EXPECT_EQ(MetricValue(registry_, "usp_async_compute_requests_total", {{"result", "timeout"}}), 1);
}

TEST_F(AsyncComputeSinkTest, WithoutWriteFailuresTheRowStaysAsItWas) {
  TestService service([](const HttpRequest&, int) { return Answer(400, "no"); });
  AsyncComputeSinkOptions so;
  so.write_failures = false;
  Make(service.url, {}, so);
  ASSERT_TRUE(sink_->Send(kOut, 2, "u1", Record("u1", 0, 1), 0, 1).ok());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (sink_->pending() > 0 && std::chrono::steady_clock::now() < deadline) {
    sink_->client().WaitForResults(20);
    sink_->Poll(0);
  }
  EXPECT_EQ(sink_->pending(), 0u);
  EXPECT_EQ(inner_.sent.size(), 1u);
  EXPECT_EQ(service.requests.load(), 1);  // 4xx: not retried
  EXPECT_EQ(MetricValue(registry_, "usp_async_compute_requests_total", {{"result", "error"}}), 1);
}

TEST_F(AsyncComputeSinkTest, OverflowNeverBlocksAndWritesOverflowVersions) {
  TestService service([](const HttpRequest&, int) {
    SleepMs(300);
    return Answer(200, R"({"a":1})");
  });
  AsyncComputeOptions o;
  o.max_in_flight = 1;
  o.queue_capacity = 1;
  Make(service.url, o);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(sink_->Send(kOut, 0, "u" + std::to_string(i), Record("u" + std::to_string(i), 0, 1),
                            0, static_cast<uint64_t>(i + 1))
                    .ok());
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(100));
  EXPECT_EQ(sink_->stats().submitted, 2);
  EXPECT_EQ(sink_->stats().overflowed, 8);
  EXPECT_EQ(MetricValue(registry_, "usp_async_compute_requests_total", {{"result", "overflow"}}), 8);
  sink_->Poll(0);  // the overflow versions go out at once
  ASSERT_EQ(inner_.sent.size(), 18u);
  for (size_t i = 10; i < 18; ++i) EXPECT_EQ(Value(i)["async_result"]["reason"], "overflow");
  PollUntil(20);
  EXPECT_EQ(Value(18)["async_result"], (nlohmann::json{{"a", 1}}));
  EXPECT_EQ(Value(19)["async_result"], (nlohmann::json{{"a", 1}}));
}

TEST_F(AsyncComputeSinkTest, AnswerForASupersededVersionIsDropped) {
  TestService service([](const HttpRequest& req, int) {
    SleepMs(100);
    return Answer(200, std::to_string(nlohmann::json::parse(req.body)["version"].get<int64_t>()));
  });
  Make(service.url);
  ASSERT_TRUE(sink_->Send(kOut, 0, "u1", Record("u1", 0, 10), 0, 1).ok());
  ASSERT_TRUE(sink_->Send(kOut, 0, "u1", Record("u1", 0, 20), 0, 2).ok());  // late event: re-emitted
  ASSERT_TRUE(sink_->Send(kOut, 0, "u1", Record("u1", 600000, 15), 0, 3).ok());  // another window
  PollUntil(5);
  SleepMs(200);
  sink_->Poll(0);
  ASSERT_EQ(inner_.sent.size(), 5u);
  std::vector<int64_t> answers = {Value(3)["async_result"].get<int64_t>(),
                                  Value(4)["async_result"].get<int64_t>()};
  std::sort(answers.begin(), answers.end());
  EXPECT_EQ(answers, (std::vector<int64_t>{15, 20}));
  EXPECT_EQ(sink_->stats().superseded, 1);
}

TEST_F(AsyncComputeSinkTest, FullInnerQueueIsRetriedOnTheNextPoll) {
  TestService service([](const HttpRequest&, int) { return Answer(200, "{}"); });
  Make(service.url);
  ASSERT_TRUE(sink_->Send(kOut, 0, "u1", Record("u1", 0, 1), 0, 1).ok());
  ASSERT_TRUE(sink_->client().WaitForResults(5000));
  inner_.queue_full_times = 1;
  sink_->Poll(0);
  EXPECT_EQ(inner_.sent.size(), 1u);
  EXPECT_EQ(sink_->pending(), 1u);
  sink_->Poll(0);
  EXPECT_EQ(inner_.sent.size(), 2u);
  EXPECT_EQ(sink_->pending(), 0u);
}

TEST_F(AsyncComputeSinkTest, OwnDeliveryFailureIsNotReportedToTheOwner) {
  TestService service([](const HttpRequest&, int) { return Answer(200, "{}"); });
  Make(service.url);
  inner_.auto_ack = false;
  ASSERT_TRUE(sink_->Send(kOut, 0, "u1", Record("u1", 0, 1), 0, 42).ok());
  PollUntil(2);
  inner_.Report(1, Status::Unavailable("broker down"));
  inner_.Report(0, Status::Ok());
  EXPECT_EQ(owner_reports_, std::vector<uint64_t>{42});
  EXPECT_EQ(sink_->stats().delivery_failed, 1);
}

TEST_F(AsyncComputeSinkTest, FlushWaitsForOutstandingAnswers) {
  TestService service([](const HttpRequest&, int) {
    SleepMs(150);
    return Answer(200, R"("done")");
  });
  Make(service.url);
  ASSERT_TRUE(sink_->Send(kOut, 0, "u1", Record("u1", 0, 1), 0, 1).ok());
  ASSERT_TRUE(sink_->Flush(5000).ok());
  ASSERT_EQ(inner_.sent.size(), 2u);
  EXPECT_EQ(Value(1)["async_result"], "done");
  EXPECT_EQ(owner_reports_, std::vector<uint64_t>{1});
}

TEST_F(AsyncComputeSinkTest, FlushWaitIsBounded) {
  TestService service([](const HttpRequest&, int) {
    SleepMs(1000);
    return Answer(200, "{}");
  });
  AsyncComputeSinkOptions so;
  so.max_flush_wait_ms = 100;
  Make(service.url, {}, so);
  ASSERT_TRUE(sink_->Send(kOut, 0, "u1", Record("u1", 0, 1), 0, 1).ok());
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(sink_->Flush(30000).ok());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(600));
  EXPECT_EQ(inner_.sent.size(), 1u);
}

TEST_F(AsyncComputeSinkTest, MakeAsyncComputeSinkUsesTheSpec) {
  TestService service([](const HttpRequest&, int) { return Answer(200, "[1,2]"); });
  AsyncComputeSpec spec;
  spec.url = service.url;
  spec.timeout_ms = 1000;
  spec.max_in_flight = 2;
  spec.retries = 0;
  inner_.partition_counts[kOut] = 8;
  auto sink = MakeAsyncComputeSink(&inner_, "SessionJob", "s", kOut, spec, &registry_, &clock_);
  EXPECT_EQ(sink->client().options().max_in_flight, 2);
  EXPECT_EQ(*sink->PartitionCount(kOut), 8);
  ASSERT_TRUE(sink->Send(kOut, 0, "u1", Record("u1", 0, 1), 0, 1).ok());
  ASSERT_TRUE(sink->Flush(5000).ok());
  ASSERT_EQ(inner_.sent.size(), 2u);
  EXPECT_EQ(Value(1)["async_result"], (nlohmann::json{1, 2}));
  EXPECT_EQ(MetricValue(registry_, "usp_async_compute_requests_total",
                        {{"kind", "SessionJob"}, {"job", "s"}, {"result", "ok"}}),
            1);
}

}  // namespace
}  // namespace usp
