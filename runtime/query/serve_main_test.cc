// `usp-runtime serve` through RunServe(): flags, startup against the embedded
// broker, the port file, queries over HTTP, and shutdown. One RunServe() per
// process: the shutdown flag is process-wide and cannot be cleared.
#include "runtime/query/serve_main.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/murmur2.h"
#include "core/segment/segment_record.h"
#include "core/session/session_record.h"
#include "core/signal_record.h"
#include "runtime/common/shutdown.h"
#include "runtime/kafka/embedded_kafka.h"
#include "runtime/kafka/kafka_client.h"

namespace usp {
namespace {

namespace fs = std::filesystem;
namespace http = boost::beast::http;

int RunServeWith(std::vector<std::string> args) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return RunServe(static_cast<int>(argv.size()), argv.data());
}

// The bearer token every query of the serve test sends (--auth-tokens-file).
constexpr const char* kToken = "s3cr3t-query-token";

http::response<http::string_body> HttpGetResponse(uint16_t port, const std::string& target,
                                                  const std::string& token) {
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::socket socket(ioc);
  socket.connect({boost::asio::ip::make_address("127.0.0.1"), port});
  http::request<http::string_body> req{http::verb::get, target, 11};
  req.set(http::field::host, "127.0.0.1");
  if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
  http::write(socket, req);
  boost::beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(socket, buffer, res);
  return res;
}

std::pair<int, std::string> HttpGet(uint16_t port, const std::string& target,
                                    const std::string& token = kToken) {
  auto res = HttpGetResponse(port, target, token);
  return {static_cast<int>(res.result_int()), res.body()};
}

TEST(RunServe, PrintsHelpAndSucceeds) { EXPECT_EQ(RunServeWith({"serve", "--help"}), 0); }

TEST(RunServe, FailsWithoutTheRequiredFlags) {
  EXPECT_NE(RunServeWith({"serve", "--resources", "/nonexistent"}), 0);
  EXPECT_NE(RunServeWith({"serve", "--resources", "x", "--bootstrap", "b", "--data-dir", "d",
                          "--port", "70000"}),
            0);
}

TEST(RunServe, RejectsBadSecurityFlagsBeforeTouchingKafka) {
  std::string tmpl = (fs::temp_directory_path() / "usp-serve-flags-XXXXXX").string();
  fs::path dir = mkdtemp(tmpl.data());
  std::ofstream(dir / "empty-tokens") << "# no tokens yet\n";
  std::ofstream(dir / "cert.pem") << "not a certificate\n";
  std::vector<std::string> base = {
      "serve",       "--resources", dir.string(),           "--bootstrap",
      "127.0.0.1:1", "--data-dir",  (dir / "data").string()};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = base;
    args.insert(args.end(), extra.begin(), extra.end());
    return RunServeWith(args);
  };
  // Exit code 2 (bad flag) comes before any Kafka connection is tried.
  EXPECT_EQ(with({"--auth-tokens-file", (dir / "empty-tokens").string()}), 2);
  EXPECT_NE(with({"--auth-tokens-file", (dir / "missing").string()}), 0);
  EXPECT_EQ(with({"--auth-metrics"}), 2);
  EXPECT_EQ(with({"--tls-cert", (dir / "cert.pem").string()}), 2);
  EXPECT_EQ(
      with({"--tls-cert", (dir / "cert.pem").string(), "--tls-key", (dir / "cert.pem").string()}),
      2);
  EXPECT_EQ(with({"--request-timeout", "soon"}), 2);
  EXPECT_NE(with({"--max-limit", "0"}), 0);
  std::error_code ec;
  fs::remove_all(dir, ec);
}

TEST(RunServe, ServesMaterializedSignalsAndStopsOnShutdown) {
  std::string tmpl = (fs::temp_directory_path() / "usp-serve-main-XXXXXX").string();
  fs::path dir = mkdtemp(tmpl.data());
  {
    std::ofstream yaml(dir / "search.yaml");
    yaml << "apiVersion: usp.dev/v1alpha1\n"
            "kind: UserSignal\n"
            "metadata:\n"
            "  name: search\n"
            "spec:\n"
            "  eventSources:\n"
            "    - kafkaTopic: searches\n";
    std::ofstream jobs(dir / "jobs.yaml");
    jobs << "apiVersion: usp.dev/v1alpha1\n"
            "kind: UserSegment\n"
            "metadata: {name: planner}\n"
            "spec:\n"
            "  enter: {signals: [search]}\n"
            "  expireAfter: 14d\n"
            "---\n"
            "apiVersion: usp.dev/v1alpha1\n"
            "kind: SessionJob\n"
            "metadata: {name: engagement}\n"
            "spec:\n"
            "  signals: [search]\n"
            "  window: {type: sliding, size: 10m, slide: 5m}\n"
            "  aggregations: [{name: events, fn: count}]\n"
            "  outputTopic: custom.sessions\n";
  }
  auto kafka = EmbeddedKafka::Start();
  ASSERT_TRUE(kafka.ok());
  ASSERT_TRUE((*kafka)->CreateTopic("usp.signal.search", 2).ok());
  ASSERT_TRUE((*kafka)->CreateTopic("usp.segment.planner", 2).ok());
  ASSERT_TRUE((*kafka)->CreateTopic("custom.sessions", 2).ok());
  ProducerOptions producer_options;
  producer_options.bootstrap = (*kafka)->bootstrap();
  auto producer = KafkaProducer::Create(producer_options, nullptr);
  ASSERT_TRUE(producer.ok());
  SignalRecord record{"u1", "search", 1700000000000, "e1", 1700000000100, R"({"q":"paris"})"};
  ASSERT_TRUE((*producer)
                  ->Produce("usp.signal.search", PartitionForKey("u1", 2), "u1",
                            SerializeSignalRecord(record), 0, 0)
                  .ok());
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  SegmentRecord segment{
      "u1", "planner", true, now - 1000, now + 3600000, now, SegmentReason::kEnter};
  ASSERT_TRUE((*producer)
                  ->Produce("usp.segment.planner", PartitionForKey("u1", 2), "u1",
                            SerializeSegmentRecord(segment), 0, 0)
                  .ok());
  SessionRecord session{"u1", "engagement", 0, 600000, R"({"events":2})", std::nullopt, 600100};
  ASSERT_TRUE((*producer)
                  ->Produce("custom.sessions", PartitionForKey("u1", 2), "u1",
                            SerializeSessionRecord(session), 0, 0)
                  .ok());
  ASSERT_TRUE((*producer)->Flush(10000).ok());

  fs::path port_file = dir / "port";
  fs::path tokens = dir / "tokens";
  std::ofstream(tokens) << "# query clients\nother-token\n" << kToken << "\n";
  int exit_code = -1;
  std::thread serve([&] {
    exit_code = RunServeWith(
        {"serve", "--resources", dir.string(), "--bootstrap", (*kafka)->bootstrap(), "--data-dir",
         (dir / "data").string(), "--port", "0", "--address", "127.0.0.1", "--port-file",
         port_file.string(), "--auth-tokens-file", tokens.string(), "--max-limit", "50"});
  });
  uint16_t port = 0;
  for (int i = 0; i < 300 && port == 0; ++i) {
    std::ifstream in(port_file);
    int p = 0;
    if (in >> p) port = static_cast<uint16_t>(p);
    if (port == 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_NE(port, 0) << "no port file";
  EXPECT_EQ(HttpGet(port, "/healthz", "").first, 200);
  int ready = 0;
  for (int i = 0; i < 200 && ready != 200; ++i) {
    ready = HttpGet(port, "/readyz", "").first;
    if (ready != 200) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(ready, 200);
  auto [status, body] = HttpGet(port, "/v1/users/u1/signals");
  EXPECT_EQ(status, 200);
  EXPECT_EQ(body, R"({"user_id":"u1","signals":[)" + SerializeSignalRecord(record) +
                      R"(],"freshness":{"search":1700000000000}})");
  auto [segments_status, segments_body] = HttpGet(port, "/v1/users/u1/segments");
  EXPECT_EQ(segments_status, 200);
  nlohmann::json segments = nlohmann::json::parse(segments_body)["segments"];
  ASSERT_EQ(segments.size(), 1u);
  EXPECT_EQ(segments[0]["in_segment"], true);
  EXPECT_EQ(segments[0]["start"].get<int64_t>(), now - 1000);
  auto [sessions_status, sessions_body] = HttpGet(port, "/v1/users/u1/sessions?job=engagement");
  EXPECT_EQ(sessions_status, 200);
  EXPECT_EQ(sessions_body,
            R"({"user_id":"u1","sessions":[)" + SerializeSessionRecord(session) + "]}");

  // Bearer-token auth: the API needs a listed token, probes and /metrics do not.
  auto missing = HttpGetResponse(port, "/v1/users/u1/signals", "");
  EXPECT_EQ(missing.result_int(), 401u);
  EXPECT_EQ(missing[http::field::www_authenticate], R"(Bearer realm="usp")");
  EXPECT_NE(missing.body().find(R"("code":"unauthorized")"), std::string::npos);
  EXPECT_EQ(HttpGet(port, "/v1/users/u1/profile", "wrong-token").first, 401);
  EXPECT_EQ(HttpGet(port, "/v1/users/u1/profile", "other-token").first, 200);
  EXPECT_EQ(HttpGet(port, "/nowhere", "").first, 401);
  EXPECT_EQ(HttpGet(port, "/nowhere").first, 404);
  // --max-limit caps `limit`.
  auto [limit_status, limit_body] = HttpGet(port, "/v1/users/u1/signals?limit=51");
  EXPECT_EQ(limit_status, 400);
  EXPECT_NE(limit_body.find("between 0 and 50"), std::string::npos) << limit_body;
  auto [metrics_status, metrics] = HttpGet(port, "/metrics", "");
  EXPECT_EQ(metrics_status, 200);
  EXPECT_NE(metrics.find(R"(usp_query_requests_total{job="serve",kind="query",code="401",)"
                         R"(route="signals"} 1)"),
            std::string::npos)
      << metrics;
  EXPECT_EQ(metrics.find(kToken), std::string::npos);
  RequestShutdown();
  serve.join();
  EXPECT_EQ(exit_code, 0);
  std::error_code ec;
  fs::remove_all(dir, ec);
}

}  // namespace
}  // namespace usp
