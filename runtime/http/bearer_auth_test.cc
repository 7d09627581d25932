#include "runtime/http/bearer_auth.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

namespace usp {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

class BearerAuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("usp_bearer_auth_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    path_ = (dir_ / "tokens").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Writes the file and moves its mtime by `mtime_offset_s`, so a rewrite is
  // seen as a change even within the file system's timestamp granularity.
  void WriteTokens(const std::string& text, int mtime_offset_s = 0) {
    std::ofstream(path_, std::ios::trunc) << text;
    fs::last_write_time(path_, fs::last_write_time(path_) + std::chrono::seconds(mtime_offset_s));
  }

  std::unique_ptr<BearerAuth> Open(BearerAuthOptions options = {}) {
    options.now = [this] { return now_; };
    auto auth = BearerAuth::FromFile(path_, std::move(options));
    EXPECT_TRUE(auth.ok()) << auth.status().ToString();
    return auth.ok() ? std::move(auth).value() : nullptr;
  }

  static HttpRequest Get(const std::string& path, const std::string& authorization = "") {
    HttpRequest request;
    request.method = "GET";
    request.path = path;
    if (!authorization.empty()) request.headers["authorization"] = authorization;
    return request;
  }

  fs::path dir_;
  std::string path_;
  Clock::time_point now_ = Clock::time_point() + std::chrono::hours(1);
};

TEST(ParseTokenFile, TrimsLinesAndSkipsBlanksAndComments) {
  EXPECT_EQ(ParseTokenFile("# rotated 2026-01-01\n  alpha  \r\n\n\tbeta\n#gamma\ndelta"),
            (std::vector<std::string>{"alpha", "beta", "delta"}));
  EXPECT_TRUE(ParseTokenFile("\n# only comments\n   \n").empty());
}

TEST_F(BearerAuthTest, RefusesAMissingFileOrOneWithoutTokens) {
  auto missing = BearerAuth::FromFile(path_);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), Status::Code::kNotFound);
  EXPECT_NE(missing.status().message().find(path_), std::string::npos);

  WriteTokens("# nothing here\n\n");
  auto empty = BearerAuth::FromFile(path_);
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(empty.status().message().find("holds no token"), std::string::npos);
}

TEST_F(BearerAuthTest, AcceptsAListedTokenAndRejectsOthersWithAChallenge) {
  WriteTokens("alpha\nbeta\n");
  auto auth = Open();
  ASSERT_NE(auth, nullptr);
  EXPECT_EQ(auth->token_count(), 2u);
  EXPECT_FALSE(auth->Check(Get("/v1/users/u/signals", "Bearer alpha")));
  EXPECT_FALSE(auth->Check(Get("/v1/users/u/signals", "bearer   beta ")));

  auto missing = auth->Check(Get("/v1/users/u/signals"));
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 401);
  EXPECT_NE(missing->body.find(R"("code":"unauthorized")"), std::string::npos);
  ASSERT_EQ(missing->headers.size(), 1u);
  EXPECT_EQ(missing->headers[0].first, "WWW-Authenticate");
  EXPECT_EQ(missing->headers[0].second, R"(Bearer realm="usp")");

  for (const char* bad :
       {"Bearer alph", "Bearer alphaa", "Bearer ", "Basic alpha", "alpha", "Bearer gamma"}) {
    auto denied = auth->Check(Get("/v1/users/u/profile", bad));
    ASSERT_TRUE(denied) << bad;
    EXPECT_EQ(denied->status, 401) << bad;
    EXPECT_EQ(denied->headers.at(0).first, "WWW-Authenticate");
    // The presented credential is never echoed back.
    EXPECT_EQ(denied->body.find("alph"), std::string::npos) << denied->body;
  }
  EXPECT_EQ(auth->Check(Get("/x", "Bearer gamma"))->headers[0].second,
            R"(Bearer realm="usp", error="invalid_token")");
}

TEST_F(BearerAuthTest, LeavesProbesOpenAndMetricsOnlyWhenPublic) {
  WriteTokens("alpha\n");
  auto open_metrics = Open();
  EXPECT_FALSE(open_metrics->Check(Get("/healthz")));
  EXPECT_FALSE(open_metrics->Check(Get("/readyz")));
  EXPECT_FALSE(open_metrics->Check(Get("/metrics")));
  EXPECT_TRUE(open_metrics->Check(Get("/healthz/x")));
  EXPECT_TRUE(open_metrics->Check(Get("/unknown")));

  BearerAuthOptions options;
  options.public_paths = {"/healthz", "/readyz"};
  auto closed_metrics = Open(options);
  EXPECT_TRUE(closed_metrics->Check(Get("/metrics")));
  EXPECT_FALSE(closed_metrics->Check(Get("/metrics", "Bearer alpha")));
  EXPECT_FALSE(closed_metrics->Check(Get("/readyz")));
}

TEST_F(BearerAuthTest, PicksUpARotatedFileAfterTheReloadInterval) {
  WriteTokens("old\n");
  BearerAuthOptions options;
  options.reload_interval = std::chrono::seconds(5);
  auto auth = Open(options);
  WriteTokens("new\n", /*mtime_offset_s=*/10);

  now_ += std::chrono::seconds(4);  // not due yet: the old token still works
  EXPECT_FALSE(auth->Check(Get("/p", "Bearer old")));
  EXPECT_TRUE(auth->Check(Get("/p", "Bearer new")));

  now_ += std::chrono::seconds(2);
  EXPECT_FALSE(auth->Check(Get("/p", "Bearer new")));
  EXPECT_TRUE(auth->Check(Get("/p", "Bearer old")));
}

TEST_F(BearerAuthTest, KeepsTheTokensWhenTheFileVanishesAndFailsClosedWhenEmptied) {
  WriteTokens("alpha\n");
  BearerAuthOptions options;
  options.reload_interval = std::chrono::milliseconds(0);
  auto auth = Open(options);

  fs::remove(path_);
  now_ += std::chrono::seconds(1);
  EXPECT_FALSE(auth->Check(Get("/p", "Bearer alpha")));

  WriteTokens("# all revoked\n", /*mtime_offset_s=*/20);
  now_ += std::chrono::seconds(1);
  EXPECT_EQ(auth->token_count(), 0u);
  EXPECT_TRUE(auth->Check(Get("/p", "Bearer alpha")));
  EXPECT_FALSE(auth->Check(Get("/healthz")));
}

}  // namespace
}  // namespace usp
