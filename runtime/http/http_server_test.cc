#include "runtime/http/http_server.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace usp {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

// A synchronous Beast client holding one keep-alive connection.
class TestClient {
 public:
  explicit TestClient(uint16_t port) : socket_(ioc_) {
    socket_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  }

  http::response<http::string_body> Send(http::verb method, const std::string& target,
                                         const std::string& body = "", bool keep_alive = true) {
    http::request<http::string_body> req{method, target, 11};
    req.set(http::field::host, "127.0.0.1");
    req.set("X-Test-Header", "Value");
    req.keep_alive(keep_alive);
    req.body() = body;
    req.prepare_payload();
    http::write(socket_, req);
    http::response<http::string_body> res;
    http::read(socket_, buffer_, res);
    return res;
  }

  http::response<http::string_body> Get(const std::string& target) {
    return Send(http::verb::get, target);
  }

  tcp::socket& socket() { return socket_; }
  beast::flat_buffer& buffer() { return buffer_; }

 private:
  asio::io_context ioc_;
  tcp::socket socket_;
  beast::flat_buffer buffer_;
};

// Echoes what the server decoded, as "method|path|k=v;...|header|body".
HttpResponse Echo(const HttpRequest& req) {
  HttpResponse res;
  res.content_type = "text/plain";
  res.body = req.method + "|" + req.path + "|";
  for (const auto& [k, v] : req.query) res.body += k + "=" + v + ";";
  auto it = req.headers.find("x-test-header");
  res.body += "|" + (it == req.headers.end() ? std::string("-") : it->second);
  res.body += "|" + req.body;
  if (req.path == "/teapot") res.status = 418;
  if (req.path == "/throw") throw std::runtime_error("boom");
  return res;
}

std::unique_ptr<HttpServer> StartEcho(int threads = 2) {
  auto server = HttpServer::Start("127.0.0.1", 0, threads, Echo);
  EXPECT_TRUE(server.ok()) << server.status().ToString();
  return std::move(server).value();
}

TEST(HttpServer, PicksAFreePortAndServesTheHandlerResponse) {
  auto server = StartEcho();
  ASSERT_NE(server->port(), 0);
  TestClient client(server->port());
  auto res = client.Get("/hello");
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_EQ(res[http::field::content_type], "text/plain");
  EXPECT_EQ(res.body(), "GET|/hello||Value|");
}

TEST(HttpServer, PassesTheHandlerStatus) {
  auto server = StartEcho();
  TestClient client(server->port());
  EXPECT_EQ(client.Get("/teapot").result_int(), 418u);
}

TEST(HttpServer, DecodesPathAndQuery) {
  auto server = StartEcho();
  TestClient client(server->port());
  auto res = client.Get("/v1/users/a%20b%2Fc/signals?types=x%2Cy&limit=5&q=1+2");
  EXPECT_EQ(res.body(), "GET|/v1/users/a b/c/signals|limit=5;q=1 2;types=x,y;|Value|");
}

TEST(HttpServer, KeepsTheConnectionAliveAcrossRequests) {
  auto server = StartEcho();
  TestClient client(server->port());
  for (int i = 0; i < 50; ++i) {
    auto res = client.Get("/n/" + std::to_string(i));
    ASSERT_EQ(res.body(), "GET|/n/" + std::to_string(i) + "||Value|");
    EXPECT_TRUE(res.keep_alive());
  }
}

TEST(HttpServer, ClosesTheConnectionWhenTheClientAsks) {
  auto server = StartEcho();
  TestClient client(server->port());
  auto res = client.Send(http::verb::get, "/bye", "", /*keep_alive=*/false);
  EXPECT_FALSE(res.keep_alive());
  char byte;
  beast::error_code ec;
  client.socket().read_some(asio::buffer(&byte, 1), ec);
  EXPECT_EQ(ec, asio::error::eof);
}

TEST(HttpServer, DeliversTheRequestBody) {
  auto server = StartEcho();
  TestClient client(server->port());
  auto res = client.Send(http::verb::post, "/p", R"({"a":1})");
  EXPECT_EQ(res.body(), R"(POST|/p||Value|{"a":1})");
}

TEST(HttpServer, TurnsAHandlerExceptionIntoA500) {
  auto server = StartEcho();
  TestClient client(server->port());
  auto res = client.Get("/throw");
  EXPECT_EQ(res.result_int(), 500u);
  EXPECT_EQ(res.body(), R"({"error":{"code":"internal","message":"boom"}})");
  EXPECT_EQ(client.Get("/after").result_int(), 200u);
}

TEST(HttpServer, AnswersAMalformedRequestWith400) {
  auto server = StartEcho();
  TestClient client(server->port());
  std::string garbage = "NOT HTTP AT ALL\r\n\r\n";
  asio::write(client.socket(), asio::buffer(garbage));
  http::response<http::string_body> res;
  http::read(client.socket(), client.buffer(), res);
  EXPECT_EQ(res.result_int(), 400u);
}

TEST(HttpServer, ServesManyClientsConcurrently) {
  auto server = StartEcho(4);
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 8; ++c) {
    clients.emplace_back([&, c] {
      TestClient client(server->port());
      for (int i = 0; i < 100; ++i) {
        std::string path = "/c" + std::to_string(c) + "/" + std::to_string(i);
        if (client.Get(path).body() == "GET|" + path + "||Value|") ++ok;
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(ok.load(), 800);
}

TEST(HttpServer, FailsToBindAPortInUse) {
  auto first = StartEcho();
  auto second = HttpServer::Start("127.0.0.1", first->port(), 1, Echo);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), Status::Code::kUnavailable);
}

TEST(HttpServer, RejectsABadAddress) {
  auto server = HttpServer::Start("not-an-ip", 0, 1, Echo);
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.status().code(), Status::Code::kInvalidArgument);
}

TEST(HttpServer, StopClosesOpenConnectionsAndIsIdempotent) {
  auto server = StartEcho();
  TestClient client(server->port());
  EXPECT_EQ(client.Get("/x").result_int(), 200u);
  server->Stop();
  server->Stop();
  char byte;
  beast::error_code ec;
  client.socket().read_some(asio::buffer(&byte, 1), ec);
  EXPECT_TRUE(ec) << "connection should be closed";
}

TEST(JsonError, BuildsTheErrorBody) {
  HttpResponse res = JsonError(404, "unknown_signal", "no signal \"x\"");
  EXPECT_EQ(res.status, 404);
  EXPECT_EQ(res.content_type, "application/json");
  EXPECT_EQ(res.body, R"({"error":{"code":"unknown_signal","message":"no signal \"x\""}})");
}

}  // namespace
}  // namespace usp
