#include "runtime/query/query_service.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>

namespace usp {
namespace {

using nlohmann::json;

// An in-memory SignalStore returning what it was given, for handler tests.
class FakeSignalStore : public SignalStore {
 public:
  int32_t partitions() const override { return 8; }
  Status Write(const std::vector<SignalRecord>& records,
               const std::vector<PartitionOffset>&) override {
    for (const auto& r : records) {
      records_.push_back(r);
      freshness_[r.signal] = std::max(freshness_[r.signal], r.event_time);
    }
    return Status::Ok();
  }
  Result<std::vector<SignalRecord>> Query(const SignalQuery& q) const override {
    last_query_ = q;
    if (fail_) return Status::IoError("disk on fire");
    std::vector<SignalRecord> out;
    for (const auto& r : records_) {
      if (r.user_id == q.user_id && (q.types.empty() || q.types.contains(r.signal)) &&
          r.event_time >= q.start && r.event_time < q.end) {
        out.push_back(r);
      }
    }
    std::sort(out.begin(), out.end(),
              [](const auto& a, const auto& b) { return a.event_time > b.event_time; });
    if (out.size() > static_cast<size_t>(q.limit)) out.resize(q.limit);
    return out;
  }
  Result<std::vector<PartitionOffset>> ReadOffsets() const override {
    return std::vector<PartitionOffset>{};
  }
  std::map<std::string, int64_t> Freshness() const override { return freshness_; }
  Status Flush() override { return Status::Ok(); }
  Status Compact() override { return Status::Ok(); }
  Result<SignalStoreStats> Stats() const override { return SignalStoreStats{}; }

  bool fail_ = false;
  mutable SignalQuery last_query_;

 private:
  std::vector<SignalRecord> records_;
  std::map<std::string, int64_t> freshness_;
};

class QueryServiceTest : public ::testing::Test {
 protected:
  QueryServiceTest() {
    catalog_.topic_by_signal = {{"search", "usp.signal.search"},
                                {"view", "usp.signal.view"},
                                {"booking", "usp.signal.booking"}};
    Status s = store_.Write({{"u1", "search", 1000, "e1", 1100, R"({"q":"paris"})"},
                             {"u1", "view", 2000, "e2", 2100, R"({"listing":7})"},
                             {"u1", "search", 3000, "e3", 3100, R"({"q":"rome"})"},
                             {"u/2", "view", 500, "e4", 600, "{}"}},
                            {});
    EXPECT_TRUE(s.ok());
  }

  HttpResponse Get(const std::string& path, std::map<std::string, std::string> query = {}) {
    HttpRequest request;
    request.method = "GET";
    request.path = path;
    request.query = std::move(query);
    return service_.Handle(request);
  }

  static std::string ErrorCode(const HttpResponse& r) {
    return json::parse(r.body)["error"]["code"].get<std::string>();
  }
  static std::string ErrorMessage(const HttpResponse& r) {
    return json::parse(r.body)["error"]["message"].get<std::string>();
  }

  SignalCatalog catalog_;
  FakeSignalStore store_;
  bool ready_ = true;
  MetricsRegistry metrics_;
  QueryService service_{&catalog_, &store_, [this] { return ready_; }, &metrics_};
};

TEST_F(QueryServiceTest, ReturnsSignalsNewestFirstWithFreshness) {
  HttpResponse r = Get("/v1/users/u1/signals");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.content_type, "application/json");
  json body = json::parse(r.body);
  EXPECT_EQ(body["user_id"], "u1");
  ASSERT_EQ(body["signals"].size(), 3u);
  EXPECT_EQ(body["signals"][0]["event_id"], "e3");
  EXPECT_EQ(body["signals"][2]["event_id"], "e1");
  EXPECT_EQ(body["freshness"], json::parse(R"({"booking":null,"search":3000,"view":2000})"));
}

TEST_F(QueryServiceTest, EmitsRecordsAsCanonicalSignalRecordJson) {
  HttpResponse r = Get("/v1/users/u1/signals", {{"limit", "1"}});
  ASSERT_EQ(r.status, 200);
  std::string expected =
      R"({"user_id":"u1","signals":[)" +
      SerializeSignalRecord({"u1", "search", 3000, "e3", 3100, R"({"q":"rome"})"}) +
      R"(],"freshness":{"booking":null,"search":3000,"view":2000}})";
  EXPECT_EQ(r.body, expected);
}

TEST_F(QueryServiceTest, PassesTypesStartEndAndLimitToTheStore) {
  HttpResponse r =
      Get("/v1/users/u1/signals",
          {{"types", "search,booking"}, {"start", "1000"}, {"end", "3000"}, {"limit", "5"}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(store_.last_query_.types, (std::set<std::string, std::less<>>{"search", "booking"}));
  EXPECT_EQ(store_.last_query_.start, 1000);
  EXPECT_EQ(store_.last_query_.end, 3000);
  EXPECT_EQ(store_.last_query_.limit, 5);
  json body = json::parse(r.body);
  ASSERT_EQ(body["signals"].size(), 1u);
  EXPECT_EQ(body["signals"][0]["event_id"], "e1");
  EXPECT_EQ(body["freshness"], json::parse(R"({"booking":null,"search":3000})"));
}

TEST_F(QueryServiceTest, DefaultsTheLimitTo100) {
  ASSERT_EQ(Get("/v1/users/u1/signals").status, 200);
  EXPECT_EQ(store_.last_query_.limit, 100);
}

TEST_F(QueryServiceTest, AcceptsAUserIdContainingASlash) {
  HttpResponse r = Get("/v1/users/u/2/signals");
  ASSERT_EQ(r.status, 200);
  json body = json::parse(r.body);
  EXPECT_EQ(body["user_id"], "u/2");
  EXPECT_EQ(body["signals"].size(), 1u);
}

TEST_F(QueryServiceTest, AnswersAnUnknownUserWithAnEmptyList) {
  HttpResponse r = Get("/v1/users/nobody/signals");
  ASSERT_EQ(r.status, 200);
  EXPECT_TRUE(json::parse(r.body)["signals"].empty());
}

TEST_F(QueryServiceTest, RejectsNonNumericParametersNamingThem) {
  for (const char* name : {"start", "end", "limit"}) {
    for (const char* value : {"abc", "", "12x", "1.5", "99999999999999999999"}) {
      HttpResponse r = Get("/v1/users/u1/signals", {{name, value}});
      EXPECT_EQ(r.status, 400) << name << "=" << value;
      EXPECT_EQ(ErrorCode(r), "bad_parameter");
      EXPECT_NE(ErrorMessage(r).find(name), std::string::npos) << ErrorMessage(r);
    }
  }
}

TEST_F(QueryServiceTest, RejectsALimitOutOfRange) {
  EXPECT_EQ(Get("/v1/users/u1/signals", {{"limit", "10001"}}).status, 400);
  EXPECT_EQ(Get("/v1/users/u1/signals", {{"limit", "-1"}}).status, 400);
  EXPECT_EQ(Get("/v1/users/u1/signals", {{"limit", "10000"}}).status, 200);
  EXPECT_EQ(Get("/v1/users/u1/signals", {{"limit", "0"}}).status, 200);
}

TEST_F(QueryServiceTest, AnswersAnUnknownSignalWith404) {
  HttpResponse r = Get("/v1/users/u1/signals", {{"types", "search,nope"}});
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(ErrorCode(r), "unknown_signal");
  EXPECT_NE(ErrorMessage(r).find("nope"), std::string::npos);
}

TEST_F(QueryServiceTest, AnswersNotReadyWith503UntilCaughtUp) {
  ready_ = false;
  HttpResponse r = Get("/v1/users/u1/signals");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(ErrorCode(r), "not_ready");
  EXPECT_EQ(Get("/readyz").status, 503);
  EXPECT_EQ(Get("/healthz").status, 200);
  EXPECT_EQ(Get("/v1/users/u1/profile").status, 503);
  ready_ = true;
  EXPECT_EQ(Get("/readyz").status, 200);
  EXPECT_EQ(Get("/v1/users/u1/signals").status, 200);
}

TEST_F(QueryServiceTest, AnswersAStoreFailureWith500) {
  store_.fail_ = true;
  HttpResponse r = Get("/v1/users/u1/signals");
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(ErrorCode(r), "internal");
}

TEST_F(QueryServiceTest, AnswersUnknownRoutesWith404AndOtherMethodsWith405) {
  EXPECT_EQ(Get("/v1/users/u1/nothing").status, 404);
  EXPECT_EQ(Get("/v1/users//signals").status, 404);
  EXPECT_EQ(Get("/v1/users/signals").status, 404);
  EXPECT_EQ(ErrorCode(Get("/")), "not_found");
  HttpRequest post;
  post.method = "POST";
  post.path = "/v1/users/u1/signals";
  HttpResponse r = service_.Handle(post);
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(ErrorCode(r), "method_not_allowed");
}

TEST_F(QueryServiceTest, ReturnsEmptySegmentsAndSessions) {
  HttpResponse segments = Get("/v1/users/u1/segments", {{"at", "5"}});
  ASSERT_EQ(segments.status, 200);
  EXPECT_EQ(json::parse(segments.body), json::parse(R"({"user_id":"u1","segments":[]})"));
  HttpResponse sessions = Get("/v1/users/u1/sessions");
  ASSERT_EQ(sessions.status, 200);
  EXPECT_EQ(json::parse(sessions.body), json::parse(R"({"user_id":"u1","sessions":[]})"));
  EXPECT_EQ(Get("/v1/users/u1/segments", {{"at", "x"}}).status, 400);
  EXPECT_EQ(Get("/v1/users/u1/sessions", {{"limit", "x"}}).status, 400);
  HttpResponse job = Get("/v1/users/u1/sessions", {{"job", "trips"}});
  EXPECT_EQ(job.status, 404);
  EXPECT_EQ(ErrorCode(job), "unknown_job");
}

TEST_F(QueryServiceTest, ProfileCombinesSignalsSegmentsAndSessions) {
  HttpResponse r = Get("/v1/users/u1/profile", {{"types", "view"}});
  ASSERT_EQ(r.status, 200) << r.body;
  json body = json::parse(r.body);
  EXPECT_EQ(body["user_id"], "u1");
  EXPECT_EQ(body["signals"].size(), 1u);
  EXPECT_EQ(body["freshness"], json::parse(R"({"view":2000})"));
  EXPECT_TRUE(body["segments"].is_array());
  EXPECT_TRUE(body["sessions"].is_array());
}

TEST_F(QueryServiceTest, CountsRequestsByRouteAndCode) {
  Get("/v1/users/u1/signals");
  Get("/v1/users/u1/signals", {{"limit", "x"}});
  Get("/nowhere");
  HttpResponse r = Get("/metrics");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/plain; version=0.0.4");
  EXPECT_NE(
      r.body.find(
          R"(usp_query_requests_total{job="serve",kind="query",code="200",route="signals"} 1)"),
      std::string::npos)
      << r.body;
  EXPECT_NE(
      r.body.find(
          R"(usp_query_requests_total{job="serve",kind="query",code="400",route="signals"} 1)"),
      std::string::npos);
  EXPECT_NE(r.body.find(
                R"(usp_query_requests_total{job="serve",kind="query",code="404",route="other"} 1)"),
            std::string::npos);
  EXPECT_NE(
      r.body.find(R"(usp_query_latency_seconds_count{job="serve",kind="query",route="signals"} 2)"),
      std::string::npos);
}

}  // namespace
}  // namespace usp
