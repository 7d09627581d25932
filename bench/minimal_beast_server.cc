// usp-bench-beast: R5's reference, a minimal Boost.Beast HTTP/1.1 server.
//
//   usp-bench-beast [--address 127.0.0.1] [--port 0] [--threads 2] [--port-file F]
//
// Answers every request with 200 and the body {"status":"ok"} (the body of
// the query service's /healthz), keeps connections alive, and does nothing
// else: no routing, no metrics, no timeouts, no limits beyond Beast's
// defaults. One io_context run by --threads threads [2: `usp-runtime serve`'s
// default --threads], one strand per connection, as the query service's
// server. Prints "listening on ADDRESS:PORT" and writes the port to
// --port-file; serves until SIGINT/SIGTERM.

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

class Session : public std::enable_shared_from_this<Session> {
 public:
  explicit Session(tcp::socket socket) : stream_(std::move(socket)) {}

  void Start() {
    asio::dispatch(stream_.get_executor(),
                   beast::bind_front_handler(&Session::Read, shared_from_this()));
  }

 private:
  void Read() {
    request_ = {};
    http::async_read(stream_, buffer_, request_,
                     beast::bind_front_handler(&Session::OnRead, shared_from_this()));
  }

  void OnRead(beast::error_code ec, size_t) {
    if (ec) return;  // end of stream or error: the socket closes on destruction
    response_ = {};
    response_.result(http::status::ok);
    response_.version(request_.version());
    response_.set(http::field::content_type, "application/json");
    response_.keep_alive(request_.keep_alive());
    response_.body() = R"({"status":"ok"})";
    response_.prepare_payload();
    http::async_write(stream_, response_,
                      beast::bind_front_handler(&Session::OnWrite, shared_from_this()));
  }

  void OnWrite(beast::error_code ec, size_t) {
    if (ec || !response_.keep_alive()) return;
    Read();
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> request_;
  http::response<http::string_body> response_;
};

void Accept(asio::io_context& ioc, tcp::acceptor& acceptor) {
  acceptor.async_accept(asio::make_strand(ioc), [&](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted) return;
    if (!ec) {
      socket.set_option(tcp::no_delay(true), ec);
      std::make_shared<Session>(std::move(socket))->Start();
    }
    Accept(ioc, acceptor);
  });
}

int Usage(int code) {
  std::fprintf(code == 0 ? stdout : stderr,
               "usage: usp-bench-beast [--address A] [--port P] [--threads N] [--port-file F]\n"
               "A minimal Boost.Beast HTTP/1.1 keep-alive server: 200 {\"status\":\"ok\"} to\n"
               "every request. R5's reference (bench/run r5). Defaults: --address 127.0.0.1,\n"
               "--port 0 (a free port), --threads 2 (usp-runtime serve's default).\n");
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  std::string address = "127.0.0.1";
  std::string port_file;
  int port = 0;
  int threads = 2;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") return Usage(0);
    if (i + 1 >= argc) {
      std::fprintf(stderr, "usp-bench-beast: %s needs a value\n", flag.c_str());
      return Usage(2);
    }
    std::string value = argv[++i];
    char* end = nullptr;
    if (flag == "--address") {
      address = value;
    } else if (flag == "--port-file") {
      port_file = value;
    } else if (flag == "--port" || flag == "--threads") {
      long n = std::strtol(value.c_str(), &end, 10);
      bool bad = value.empty() || *end != '\0' || n < 0 || n > 65535 || (flag == "--threads" && n < 1);
      if (bad) {
        std::fprintf(stderr, "usp-bench-beast: %s: '%s' is not a valid %s\n", flag.c_str(),
                     value.c_str(), flag == "--port" ? "port (0-65535)" : "thread count (>= 1)");
        return 2;
      }
      (flag == "--port" ? port : threads) = static_cast<int>(n);
    } else {
      std::fprintf(stderr, "usp-bench-beast: unknown flag %s\n", flag.c_str());
      return Usage(2);
    }
  }

  asio::io_context ioc(threads);
  beast::error_code ec;
  tcp::endpoint endpoint(asio::ip::make_address(address, ec), static_cast<uint16_t>(port));
  if (ec) {
    std::fprintf(stderr, "usp-bench-beast: --address: '%s': %s\n", address.c_str(),
                 ec.message().c_str());
    return 2;
  }
  tcp::acceptor acceptor(asio::make_strand(ioc));
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    std::fprintf(stderr, "usp-bench-beast: cannot listen on %s:%d: %s\n", address.c_str(), port,
                 ec.message().c_str());
    return 1;
  }
  uint16_t bound = acceptor.local_endpoint().port();
  std::printf("listening on %s:%u\n", address.c_str(), bound);
  std::fflush(stdout);
  if (!port_file.empty()) {
    std::ofstream out(port_file);
    out << bound << "\n";
    if (!out) {
      std::fprintf(stderr, "usp-bench-beast: cannot write --port-file %s\n", port_file.c_str());
      return 1;
    }
  }

  asio::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&](beast::error_code, int) { ioc.stop(); });
  Accept(ioc, acceptor);
  std::vector<std::thread> pool;
  for (int i = 1; i < threads; ++i) pool.emplace_back([&] { ioc.run(); });
  ioc.run();
  for (std::thread& t : pool) t.join();
  return 0;
}
