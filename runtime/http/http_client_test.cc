#include "runtime/http/http_client.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "runtime/http/http_server.h"

namespace usp {
namespace {

using tcp = boost::asio::ip::tcp;
using Clock = std::chrono::steady_clock;

std::unique_ptr<HttpServer> StartServer() {
  auto server = HttpServer::Start("127.0.0.1", 0, 1, [](const HttpRequest& req) {
    HttpResponse res;
    res.status = req.path == "/missing" ? 404 : 200;
    res.body = req.method + " " + req.path + " " + req.body;
    return res;
  });
  EXPECT_TRUE(server.ok()) << server.status().ToString();
  return std::move(server).value();
}

std::string Url(uint16_t port, const std::string& path) {
  return "http://127.0.0.1:" + std::to_string(port) + path;
}

TEST(HttpClient, SendsTheMethodAndBodyAndReturnsStatusAndBody) {
  auto server = StartServer();
  auto put = HttpCall("PUT", Url(server->port(), "/assignment"), R"({"epoch":3})");
  ASSERT_TRUE(put.ok()) << put.status().ToString();
  EXPECT_EQ(put->status, 200);
  EXPECT_EQ(put->body, R"(PUT /assignment {"epoch":3})");
  auto missing = HttpGet(Url(server->port(), "/missing"));
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->status, 404);
}

// A peer that accepts the connection and never answers (a hung worker) must
// not block the caller past its timeout: probe rounds depend on it.
TEST(HttpClient, GivesUpOnAPeerThatNeverAnswersWithinTheTimeout) {
  boost::asio::io_context ioc;
  tcp::acceptor silent(ioc, tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
  const uint16_t port = silent.local_endpoint().port();  // listening; the kernel accepts
  auto start = Clock::now();
  auto r = HttpGet(Url(port, "/status"), 200);
  auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kUnavailable);
  EXPECT_NE(r.status().message().find("no answer within 200 ms"), std::string::npos)
      << r.status().ToString();
  EXPECT_GE(waited.count(), 190);
  EXPECT_LT(waited.count(), 2000);
}

TEST(HttpClient, ReportsARefusedConnectionAsUnavailable) {
  uint16_t port;
  {
    boost::asio::io_context ioc;
    tcp::acceptor a(ioc, tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
    port = a.local_endpoint().port();
  }  // closed: nothing listens there now
  auto r = HttpGet(Url(port, "/status"), 1000);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kUnavailable);
  EXPECT_NE(r.status().message().find("connect"), std::string::npos) << r.status().ToString();
}

TEST(HttpClient, RejectsABadUrlOrMethod) {
  EXPECT_EQ(HttpGet("https://127.0.0.1:1/").status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(HttpCall("FROB", "http://127.0.0.1:1/", "").status().code(),
            Status::Code::kInvalidArgument);
}

}  // namespace
}  // namespace usp
