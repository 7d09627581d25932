#include "runtime/query/query_service.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <tuple>

namespace usp {
namespace {

using nlohmann::json;

// An in-memory SignalStore returning what it was given, for handler tests.
class FakeSignalStore : public SignalStore {
 public:
  int32_t partitions() const override { return 8; }
  Status Apply(const StoreBatch& batch) override {
    for (const auto& r : batch.signals) {
      records_.push_back(r);
      freshness_[r.signal] = std::max(freshness_[r.signal], r.event_time);
    }
    for (const auto& r : batch.segments) segments_.push_back(r);
    for (const auto& r : batch.sessions) sessions_.push_back(r);
    return Status::Ok();
  }
  // The contract of SignalStore::QuerySegments, naively.
  Result<std::vector<SegmentRecord>> QuerySegments(const SegmentQuery& q) const override {
    last_segment_query_ = q;
    if (fail_) return Status::IoError("disk on fire");
    std::map<std::string, SegmentRecord> best;
    for (const auto& r : segments_) {
      if (r.user_id != q.user_id || r.start > q.at) continue;
      if (!q.segments.empty() && !q.segments.contains(r.segment)) continue;
      auto it = best.find(r.segment);
      if (it == best.end() || r.start > it->second.start ||
          (r.start == it->second.start && r.version > it->second.version)) {
        best[r.segment] = r;
      }
    }
    std::vector<SegmentRecord> out;
    for (auto& [segment, r] : best) out.push_back(r);
    return out;
  }
  Result<std::vector<SessionRecord>> QuerySessions(const SessionQuery& q) const override {
    last_session_query_ = q;
    if (fail_) return Status::IoError("disk on fire");
    std::map<std::tuple<int64_t, std::string, int64_t>, SessionRecord> newest;
    for (const auto& r : sessions_) {
      if (r.user_id != q.user_id || (!q.jobs.empty() && !q.jobs.contains(r.job))) continue;
      auto key = std::make_tuple(-r.window_end, r.job, -r.window_start);
      auto it = newest.find(key);
      if (it == newest.end() || r.version > it->second.version) newest[key] = r;
    }
    std::vector<SessionRecord> out;
    for (auto& [key, r] : newest) {
      if (out.size() >= static_cast<size_t>(std::max(q.limit, 0))) break;
      out.push_back(r);
    }
    return out;
  }
  // Full scans are not used by the query handlers.
  Status ScanSignals(const StoreScan&,
                     const std::function<bool(const SignalRecord&)>&) const override {
    return Status::Unavailable("FakeSignalStore does not scan");
  }
  Status ScanSegments(const StoreScan&,
                      const std::function<bool(const SegmentRecord&)>&) const override {
    return Status::Unavailable("FakeSignalStore does not scan");
  }
  Status ScanSessions(const StoreScan&,
                      const std::function<bool(const SessionRecord&)>&) const override {
    return Status::Unavailable("FakeSignalStore does not scan");
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
  mutable SegmentQuery last_segment_query_;
  mutable SessionQuery last_session_query_;

 private:
  std::vector<SignalRecord> records_;
  std::vector<SegmentRecord> segments_;
  std::vector<SessionRecord> sessions_;
  std::map<std::string, int64_t> freshness_;
};

class QueryServiceTest : public ::testing::Test {
 protected:
  QueryServiceTest() {
    catalog_.topic_by_signal = {{"search", "usp.signal.search"},
                                {"view", "usp.signal.view"},
                                {"booking", "usp.signal.booking"}};
    catalog_.topic_by_segment = {{"planner", "usp.segment.planner"}, {"vip", "usp.segment.vip"}};
    catalog_.topic_by_job = {{"engagement", "usp.session.engagement"},
                             {"clicks", "usp.session.clicks"}};
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
  int64_t now_ = 4000;
  QueryService service_{&catalog_, &store_, [this] { return ready_; }, &metrics_,
                        QueryServiceOptions{.now_ms = [this] { return now_; }}};

  void AddSegments(std::vector<SegmentRecord> records) {
    StoreBatch batch;
    batch.segments = std::move(records);
    ASSERT_TRUE(store_.Apply(batch).ok());
  }
  void AddSessions(std::vector<SessionRecord> records) {
    StoreBatch batch;
    batch.sessions = std::move(records);
    ASSERT_TRUE(store_.Apply(batch).ok());
  }
  json SegmentsOf(const std::string& user, std::map<std::string, std::string> query = {}) {
    HttpResponse r = Get("/v1/users/" + user + "/segments", std::move(query));
    EXPECT_EQ(r.status, 200) << r.body;
    return json::parse(r.body);
  }
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

TEST_F(QueryServiceTest, ReturnsEmptySegmentsAndSessionsForAUserWithNoData) {
  HttpResponse segments = Get("/v1/users/u1/segments", {{"at", "5"}});
  ASSERT_EQ(segments.status, 200);
  EXPECT_EQ(json::parse(segments.body), json::parse(R"({"user_id":"u1","segments":[]})"));
  HttpResponse sessions = Get("/v1/users/u1/sessions");
  ASSERT_EQ(sessions.status, 200);
  EXPECT_EQ(json::parse(sessions.body), json::parse(R"({"user_id":"u1","sessions":[]})"));
  HttpResponse profile = Get("/v1/users/nobody/profile");
  ASSERT_EQ(profile.status, 200);
  json body = json::parse(profile.body);
  EXPECT_TRUE(body["signals"].empty());
  EXPECT_EQ(body["segments"], json::array());
  EXPECT_EQ(body["sessions"], json::array());
}

TEST_F(QueryServiceTest, RejectsBadSegmentAndSessionParametersNamingThem) {
  for (auto [path, name] :
       std::vector<std::pair<std::string, std::string>>{{"segments", "at"},
                                                        {"sessions", "limit"},
                                                        {"profile", "at"},
                                                        {"profile", "session_limit"},
                                                        {"profile", "limit"}}) {
    HttpResponse r = Get("/v1/users/u1/" + path, {{name, "x"}});
    EXPECT_EQ(r.status, 400) << path << " " << name;
    EXPECT_EQ(ErrorCode(r), "bad_parameter");
    EXPECT_NE(ErrorMessage(r).find("'" + name + "'"), std::string::npos) << ErrorMessage(r);
  }
  EXPECT_EQ(Get("/v1/users/u1/sessions", {{"limit", "10001"}}).status, 400);
  EXPECT_EQ(Get("/v1/users/u1/profile", {{"session_limit", "-1"}}).status, 400);
}

TEST_F(QueryServiceTest, AnswersAnUnknownSegmentOrJobWith404) {
  HttpResponse job = Get("/v1/users/u1/sessions", {{"job", "trips"}});
  EXPECT_EQ(job.status, 404);
  EXPECT_EQ(ErrorCode(job), "unknown_job");
  EXPECT_NE(ErrorMessage(job).find("trips"), std::string::npos);
  HttpResponse segment = Get("/v1/users/u1/segments", {{"segments", "planner,gold"}});
  EXPECT_EQ(segment.status, 404);
  EXPECT_EQ(ErrorCode(segment), "unknown_segment");
  EXPECT_NE(ErrorMessage(segment).find("gold"), std::string::npos);
  EXPECT_EQ(ErrorCode(Get("/v1/users/u1/profile", {{"job", "trips"}})), "unknown_job");
}

// One membership [1000, 5000): entered at 1000, extended at 2000.
class SegmentRoutesTest : public QueryServiceTest {
 protected:
  SegmentRoutesTest() {
    AddSegments({{"u1", "planner", true, 1000, 3000, 1000, SegmentReason::kEnter},
                 {"u1", "planner", true, 1000, 5000, 2000, SegmentReason::kEnter},
                 {"u1", "vip", true, 200, std::nullopt, 200, SegmentReason::kEnter},
                 {"u1", "removed", true, 200, std::nullopt, 200, SegmentReason::kEnter},
                 {"u2", "planner", true, 1, 2, 1, SegmentReason::kEnter}});
  }
};

TEST_F(SegmentRoutesTest, NowIsInUntilTheWallClockPassesTheExpirationEvenWithoutAnExpiredRecord) {
  now_ = 4000;
  EXPECT_EQ(SegmentsOf("u1"), json::parse(R"({"user_id":"u1","segments":[
      {"segment":"planner","in_segment":true,"start":1000,"expiration":5000},
      {"segment":"vip","in_segment":true,"start":200,"expiration":null}]})"));
  EXPECT_EQ(store_.last_segment_query_.at, 4000);
  now_ = 5000;  // expiration is exclusive; no `expired` record was written
  json body = SegmentsOf("u1");
  EXPECT_EQ(
      body["segments"][0],
      json::parse(R"({"segment":"planner","in_segment":false,"start":1000,"expiration":5000})"));
  EXPECT_EQ(body["segments"][1]["in_segment"], true);
}

TEST_F(SegmentRoutesTest, AtAnswersBeforeTheStartBetweenAndAfterTheExpiry) {
  EXPECT_EQ(SegmentsOf("u1", {{"at", "100"}})["segments"], json::array());  // before any start
  json before = SegmentsOf("u1", {{"at", "500"}})["segments"];  // before planner's start
  ASSERT_EQ(before.size(), 1u);
  EXPECT_EQ(before[0]["segment"], "vip");
  json between = SegmentsOf("u1", {{"at", "3500"}})["segments"];
  ASSERT_EQ(between.size(), 2u);
  // The extension (newer version) superseded the first expiration (3000).
  EXPECT_EQ(
      between[0],
      json::parse(R"({"segment":"planner","in_segment":true,"start":1000,"expiration":5000})"));
  json after = SegmentsOf("u1", {{"at", "7000"}})["segments"];
  EXPECT_EQ(after[0]["in_segment"], false);
  EXPECT_EQ(after[0]["expiration"], 5000);
}

TEST_F(SegmentRoutesTest, AnExitAndAReEntryAreNewerMemberships) {
  AddSegments({{"u1", "planner", false, 1000, 2500, 2500, SegmentReason::kExit},
               {"u1", "planner", true, 6000, 9000, 6000, SegmentReason::kEnter}});
  EXPECT_EQ(SegmentsOf("u1", {{"at", "2400"}})["segments"][0]["in_segment"], true);
  json exited = SegmentsOf("u1", {{"at", "3000"}})["segments"][0];
  EXPECT_EQ(exited["in_segment"], false);
  EXPECT_EQ(exited["expiration"], 2500);
  json again = SegmentsOf("u1", {{"at", "6500"}})["segments"][0];
  EXPECT_EQ(
      again,
      json::parse(R"({"segment":"planner","in_segment":true,"start":6000,"expiration":9000})"));
}

TEST_F(SegmentRoutesTest, FiltersByNameAndLeavesOutSegmentsNoLongerInTheCatalog) {
  json body = SegmentsOf("u1", {{"segments", "vip"}});
  ASSERT_EQ(body["segments"].size(), 1u);
  EXPECT_EQ(body["segments"][0]["segment"], "vip");
  json all = SegmentsOf("u1");  // range-for over a temporary's member would dangle
  for (const auto& m : all["segments"]) EXPECT_NE(m["segment"], "removed");
}

class SessionRoutesTest : public QueryServiceTest {
 protected:
  SessionRoutesTest() {
    AddSessions({{"u1", "engagement", 0, 1000, R"({"n":1})", std::nullopt, 1100},
                 {"u1", "engagement", 1000, 2000, R"({"n":2})", std::nullopt, 2100},
                 {"u1", "engagement", 1000, 2000, R"({"n":2})", R"({"score":0.7})", 2600},
                 {"u1", "clicks", 500, 1500, R"({"c":3})", std::nullopt, 1600},
                 {"u1", "gone", 500, 3000, R"({})", std::nullopt, 3100},
                 {"u2", "engagement", 0, 1000, R"({"n":9})", std::nullopt, 1100}});
  }
};

TEST_F(SessionRoutesTest, ReturnsEveryJobNewestWindowEndFirstWithTheNewestVersion) {
  HttpResponse r = Get("/v1/users/u1/sessions");
  ASSERT_EQ(r.status, 200) << r.body;
  json sessions = json::parse(r.body)["sessions"];
  ASSERT_EQ(sessions.size(), 3u);  // "gone" is not in the catalog
  EXPECT_EQ(sessions[0],
            json::parse(SerializeSessionRecord(
                {"u1", "engagement", 1000, 2000, R"({"n":2})", R"({"score":0.7})", 2600})));
  EXPECT_EQ(sessions[1]["job"], "clicks");
  EXPECT_EQ(sessions[2]["window_end"], 1000);
  EXPECT_FALSE(sessions[2].contains("async_result"));
  EXPECT_EQ(store_.last_session_query_.limit, 100);
}

TEST_F(SessionRoutesTest, FiltersByJobAndLimits) {
  HttpResponse r = Get("/v1/users/u1/sessions", {{"job", "engagement"}, {"limit", "1"}});
  ASSERT_EQ(r.status, 200) << r.body;
  json sessions = json::parse(r.body)["sessions"];
  ASSERT_EQ(sessions.size(), 1u);
  EXPECT_EQ(sessions[0]["window_end"], 2000);
  EXPECT_EQ(sessions[0]["async_result"], json::parse(R"({"score":0.7})"));
  json clicks = json::parse(Get("/v1/users/u1/sessions", {{"job", "clicks"}}).body)["sessions"];
  ASSERT_EQ(clicks.size(), 1u);
  EXPECT_EQ(clicks[0]["aggregations"], json::parse(R"({"c":3})"));
}

TEST_F(SessionRoutesTest, ProfileReturnsSignalsSegmentsAndSessionsWithDefaultLimits) {
  AddSegments({{"u1", "planner", true, 1000, 5000, 1000, SegmentReason::kEnter}});
  std::vector<SessionRecord> many;
  for (int i = 0; i < 15; ++i) {
    many.push_back({"u1", "clicks", 10000 + i * 100, 10100 + i * 100, "{}", std::nullopt, 1});
  }
  AddSessions(many);
  HttpResponse r = Get("/v1/users/u1/profile");
  ASSERT_EQ(r.status, 200) << r.body;
  json body = json::parse(r.body);
  EXPECT_EQ(body["user_id"], "u1");
  EXPECT_EQ(body["signals"].size(), 3u);
  EXPECT_EQ(store_.last_query_.limit, 100);
  EXPECT_EQ(
      body["segments"],
      json::parse(R"([{"segment":"planner","in_segment":true,"start":1000,"expiration":5000}])"));
  EXPECT_EQ(body["sessions"].size(), 10u);  // session_limit defaults to 10
  EXPECT_EQ(body["sessions"][0]["window_end"], 11500);
  json more = json::parse(
      Get("/v1/users/u1/profile", {{"session_limit", "100"}, {"job", "engagement"}, {"at", "6000"}})
          .body);
  EXPECT_EQ(more["sessions"].size(), 2u);
  EXPECT_EQ(more["segments"][0]["in_segment"], false);
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

TEST_F(QueryServiceTest, CountsSegmentSessionAndProfileRequests) {
  Get("/v1/users/u1/segments");
  Get("/v1/users/u1/sessions", {{"job", "nope"}});
  Get("/v1/users/u1/profile");
  store_.fail_ = true;
  EXPECT_EQ(Get("/v1/users/u1/sessions").status, 500);
  EXPECT_EQ(Get("/v1/users/u1/segments").status, 500);
  std::string text = Get("/metrics").body;
  for (const char* series :
       {R"(usp_query_requests_total{job="serve",kind="query",code="200",route="segments"} 1)",
        R"(usp_query_requests_total{job="serve",kind="query",code="404",route="sessions"} 1)",
        R"(usp_query_requests_total{job="serve",kind="query",code="500",route="sessions"} 1)",
        R"(usp_query_requests_total{job="serve",kind="query",code="200",route="profile"} 1)",
        R"(usp_query_latency_seconds_count{job="serve",kind="query",route="segments"} 2)"}) {
    EXPECT_NE(text.find(series), std::string::npos) << series << "\n" << text;
  }
}

TEST_F(QueryServiceTest, AsksAuthorizeFirstAndCountsItsAnswerUnderTheRoute) {
  QueryServiceOptions options;
  options.authorize = [](const HttpRequest& request) -> std::optional<HttpResponse> {
    if (request.path == "/healthz" || request.headers.count("authorization") > 0) {
      return std::nullopt;
    }
    return JsonError(401, "unauthorized", "no token");
  };
  MetricsRegistry metrics;
  QueryService service(
      &catalog_, &store_, [] { return true; }, &metrics, options);
  HttpRequest request;
  request.method = "GET";
  request.path = "/v1/users/u1/signals";
  EXPECT_EQ(service.Handle(request).status, 401);
  request.path = "/healthz";
  EXPECT_EQ(service.Handle(request).status, 200);
  request.path = "/v1/users/u1/signals";
  request.headers["authorization"] = "Bearer t";
  EXPECT_EQ(service.Handle(request).status, 200);
  EXPECT_NE(
      metrics.Serialize().find(
          R"(usp_query_requests_total{job="serve",kind="query",code="401",route="signals"} 1)"),
      std::string::npos)
      << metrics.Serialize();
}

TEST_F(QueryServiceTest, RefusesAResponseOverTheSizeLimitSayingHowToNarrowIt) {
  QueryServiceOptions options;
  options.max_response_bytes = 200;
  MetricsRegistry metrics;
  QueryService service(
      &catalog_, &store_, [] { return true; }, &metrics, options);
  HttpRequest request;
  request.method = "GET";
  request.path = "/v1/users/u1/signals";
  HttpResponse full = service.Handle(request);
  EXPECT_EQ(full.status, 400);
  EXPECT_EQ(ErrorCode(full), "response_too_large");
  EXPECT_NE(ErrorMessage(full).find("lower 'limit'"), std::string::npos) << full.body;
  request.query["limit"] = "1";
  EXPECT_EQ(service.Handle(request).status, 200);
  request.path = "/metrics";  // only /v1/users responses are limited
  request.query.clear();
  EXPECT_EQ(service.Handle(request).status, 200);
}

TEST(SignalCatalog, LoadsEveryKindAndSkipsAResourceOnAnotherKindsTopic) {
  namespace fs = std::filesystem;
  std::string tmpl = (fs::temp_directory_path() / "usp-catalog-XXXXXX").string();
  fs::path dir = mkdtemp(tmpl.data());
  {
    std::ofstream yaml(dir / "all.yaml");
    yaml << "apiVersion: usp.dev/v1alpha1\n"
            "kind: UserSignal\n"
            "metadata: {name: search}\n"
            "spec: {eventSources: [{kafkaTopic: searches}]}\n"
            "---\n"
            "apiVersion: usp.dev/v1alpha1\n"
            "kind: UserSegment\n"
            "metadata: {name: planner}\n"
            "spec: {enter: {signals: [search]}, expireAfter: 14d}\n"
            "---\n"
            "apiVersion: usp.dev/v1alpha1\n"
            "kind: UserSegment\n"
            "metadata: {name: clash}\n"
            "spec: {enter: {signals: [search]}, outputTopic: usp.signal.search}\n"
            "---\n"
            "apiVersion: usp.dev/v1alpha1\n"
            "kind: SessionJob\n"
            "metadata: {name: engagement}\n"
            "spec:\n"
            "  signals: [search]\n"
            "  window: {type: session, gap: 30m}\n"
            "  aggregations: [{name: events, fn: count}]\n"
            "---\n"
            "apiVersion: usp.dev/v1alpha1\n"
            "kind: SessionJob\n"
            "metadata: {name: broken}\n"
            "spec: {signals: []}\n";
  }
  std::vector<std::string> warnings;
  auto catalog = LoadSignalCatalog(dir, &warnings);
  ASSERT_TRUE(catalog.ok()) << catalog.status().ToString();
  EXPECT_EQ(catalog->topic_by_signal.at("search"), "usp.signal.search");
  EXPECT_EQ(catalog->topic_by_segment.size(), 1u);
  EXPECT_EQ(catalog->topic_by_segment.at("planner"), "usp.segment.planner");
  EXPECT_EQ(catalog->topic_by_job.size(), 1u);
  EXPECT_EQ(catalog->JobsByTopic().at("usp.session.engagement"),
            (std::set<std::string>{"engagement"}));
  ASSERT_EQ(warnings.size(), 2u);
  EXPECT_NE(warnings[0].find("clash"), std::string::npos) << warnings[0];
  EXPECT_NE(warnings[1].find("broken"), std::string::npos) << warnings[1];
  std::error_code ec;
  fs::remove_all(dir, ec);
}

}  // namespace
}  // namespace usp
