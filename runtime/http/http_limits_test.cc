// Request limits of HttpServer, driven by a raw socket client that sends
// exactly the bytes a slow, idle or oversized client would.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <string>

#include "runtime/http/http_server.h"

namespace usp {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// A blocking socket that sends raw bytes and reads until the server closes.
class RawClient {
 public:
  explicit RawClient(uint16_t port) : socket_(ioc_) {
    socket_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    // A safety net so that a server bug fails the test instead of hanging it.
    timeval timeout{10, 0};
    ::setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  }

  void Send(const std::string& bytes) { asio::write(socket_, asio::buffer(bytes)); }

  // Everything the server sends until it closes the connection.
  std::string ReadUntilClosed() {
    std::string out;
    char chunk[4096];
    while (true) {
      boost::system::error_code ec;
      size_t n = socket_.read_some(asio::buffer(chunk), ec);
      out.append(chunk, n);
      if (ec) {
        closed_cleanly_ = ec == asio::error::eof;
        return out;
      }
    }
  }

  bool closed_cleanly() const { return closed_cleanly_; }

 private:
  asio::io_context ioc_;
  tcp::socket socket_;
  bool closed_cleanly_ = false;
};

class HttpLimitsTest : public ::testing::Test {
 protected:
  void Start(HttpServerOptions options) {
    auto server = HttpServer::Start("127.0.0.1", 0, options, [this](const HttpRequest& r) {
      ++handled_;
      HttpResponse response;
      response.body = "ok:" + std::to_string(r.body.size());
      response.headers.emplace_back("X-Extra", "yes");
      return response;
    });
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
  }

  std::unique_ptr<HttpServer> server_;
  std::atomic<int> handled_{0};
};

std::string StatusLine(const std::string& response) {
  return response.substr(0, response.find("\r\n"));
}

TEST_F(HttpLimitsTest, SendsTheHandlerHeaders) {
  Start({});
  RawClient client(server_->port());
  client.Send("GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  std::string response = client.ReadUntilClosed();
  EXPECT_EQ(StatusLine(response), "HTTP/1.1 200 OK");
  EXPECT_NE(response.find("X-Extra: yes\r\n"), std::string::npos) << response;
}

TEST_F(HttpLimitsTest, AnswersOversizedHeadersWith431AndCloses) {
  HttpServerOptions options;
  options.max_header_bytes = 1024;
  Start(options);
  {
    RawClient client(server_->port());
    client.Send("GET /a HTTP/1.1\r\nHost: x\r\nX-Fill: " + std::string(600, 'a') +
                "\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(StatusLine(client.ReadUntilClosed()), "HTTP/1.1 200 OK");
  }
  RawClient client(server_->port());
  client.Send("GET /a HTTP/1.1\r\nHost: x\r\nX-Fill: " + std::string(20000, 'a') + "\r\n\r\n");
  std::string response = client.ReadUntilClosed();
  EXPECT_EQ(StatusLine(response), "HTTP/1.1 431 Request Header Fields Too Large") << response;
  EXPECT_NE(response.find(R"("code":"request_header_too_large")"), std::string::npos);
  EXPECT_NE(response.find("1024 bytes"), std::string::npos);
  EXPECT_TRUE(client.closed_cleanly());
  EXPECT_EQ(handled_.load(), 1);
}

TEST_F(HttpLimitsTest, AnswersAnOversizedBodyWith413BeforeReadingIt) {
  HttpServerOptions options;
  options.max_body_bytes = 1000;
  Start(options);
  {
    RawClient client(server_->port());
    client.Send("POST /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 1000\r\n\r\n" +
                std::string(1000, 'b'));
    std::string response = client.ReadUntilClosed();
    EXPECT_EQ(StatusLine(response), "HTTP/1.1 200 OK");
    EXPECT_NE(response.find("ok:1000"), std::string::npos);
  }
  RawClient client(server_->port());
  client.Send("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 50000\r\n\r\n" +
              std::string(50000, 'b'));
  std::string response = client.ReadUntilClosed();
  EXPECT_EQ(StatusLine(response), "HTTP/1.1 413 Payload Too Large") << response;
  EXPECT_NE(response.find(R"("code":"request_body_too_large")"), std::string::npos);
  EXPECT_EQ(handled_.load(), 1);
}

TEST_F(HttpLimitsTest, DisconnectsAStalledRequestWith408) {
  HttpServerOptions options;
  options.request_timeout = std::chrono::milliseconds(200);
  Start(options);
  RawClient client(server_->port());
  // Half a request, then silence: the server gives up after request_timeout.
  client.Send("GET /slow HTTP/1.1\r\nHost: x\r\nX-Partial: ");
  std::string response = client.ReadUntilClosed();
  EXPECT_EQ(StatusLine(response), "HTTP/1.1 408 Request Timeout") << response;
  EXPECT_NE(response.find(R"("code":"request_timeout")"), std::string::npos);
  EXPECT_TRUE(client.closed_cleanly());
  EXPECT_EQ(handled_.load(), 0);
}

TEST_F(HttpLimitsTest, ClosesAnIdleConnectionWithoutAResponse) {
  HttpServerOptions options;
  options.idle_timeout = std::chrono::milliseconds(200);
  Start(options);
  RawClient client(server_->port());
  client.Send("GET /first HTTP/1.1\r\nHost: x\r\n\r\n");  // keep-alive
  std::string response = client.ReadUntilClosed();
  // One answer, then the idle keep-alive connection is closed: no 408.
  EXPECT_EQ(StatusLine(response), "HTTP/1.1 200 OK");
  EXPECT_EQ(response.find("HTTP/1.1 408"), std::string::npos) << response;
  EXPECT_TRUE(client.closed_cleanly());
}

}  // namespace
}  // namespace usp
