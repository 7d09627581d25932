#include "runtime/http/http_server.h"

#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <exception>
#include <memory>
#include <mutex>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "core/signal_record.h"
#include "runtime/http/url_codec.h"

namespace usp {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

HttpResponse JsonError(int status, const std::string& code, const std::string& message) {
  HttpResponse response;
  response.status = status;
  response.body.reserve(32 + code.size() + message.size());
  response.body += R"({"error":{"code":)";
  AppendJsonString(code, &response.body);
  response.body += R"(,"message":)";
  AppendJsonString(message, &response.body);
  response.body += "}}";
  return response;
}

namespace {

// Idle keep-alive connections and slow clients are dropped after this long.
constexpr auto kIoTimeout = std::chrono::seconds(60);

// Converts Beast's request to ours. The body is moved, not copied.
HttpRequest ToHttpRequest(http::request<http::string_body>& in) {
  HttpRequest out;
  out.method = std::string(in.method_string());
  std::string_view target(in.target().data(), in.target().size());
  size_t question = target.find('?');
  out.path = PercentDecode(target.substr(0, question), /*plus_as_space=*/false);
  if (question != std::string_view::npos) {
    ParseQueryString(target.substr(question + 1), &out.query);
  }
  for (const auto& field : in) {
    std::string name(field.name_string());
    for (char& c : name) {
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    out.headers[std::move(name)] = std::string(field.value());
  }
  out.body = std::move(in.body());
  return out;
}

// One connection: read a request, run the handler, write the response,
// repeat while the client keeps the connection alive. Lifetime is held by
// the shared_ptr captured in each pending operation.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& socket, const HttpHandler* handler)
      : stream_(std::move(socket)), handler_(handler) {}

  void Start() {
    // Runs on the connection's strand so that every operation is serialized.
    asio::dispatch(stream_.get_executor(),
                   beast::bind_front_handler(&Session::Read, shared_from_this()));
  }

 private:
  void Read() {
    request_ = {};
    stream_.expires_after(kIoTimeout);
    http::async_read(stream_, buffer_, request_,
                     beast::bind_front_handler(&Session::OnRead, shared_from_this()));
  }

  void OnRead(beast::error_code ec, size_t) {
    if (ec == http::error::end_of_stream) return Close();
    if (ec) {
      // Parse errors get an answer; transport errors just drop the connection.
      if (ec.category() == make_error_code(http::error::bad_target).category()) {
        return WriteBadRequest();
      }
      return;  // Timeout, reset, or shutdown: the socket is closed on destruction.
    }
    bool keep_alive = request_.keep_alive();
    unsigned version = request_.version();
    HttpRequest request = ToHttpRequest(request_);
    HttpResponse response;
    try {
      response = (*handler_)(request);
    } catch (const std::exception& e) {
      response = JsonError(500, "internal", e.what());
    } catch (...) {
      response = JsonError(500, "internal", "unknown error");
    }
    response_.result(static_cast<unsigned>(response.status));
    response_.version(version);
    response_.set(http::field::content_type, response.content_type);
    response_.keep_alive(keep_alive);
    response_.body() = std::move(response.body);
    response_.prepare_payload();
    Write();
  }

  void WriteBadRequest() {
    HttpResponse response = JsonError(400, "bad_request", "malformed HTTP request");
    response_.result(http::status::bad_request);
    response_.version(11);
    response_.set(http::field::content_type, response.content_type);
    response_.keep_alive(false);
    response_.body() = std::move(response.body);
    response_.prepare_payload();
    Write();
  }

  void Write() {
    stream_.expires_after(kIoTimeout);
    http::async_write(stream_, response_,
                      beast::bind_front_handler(&Session::OnWrite, shared_from_this()));
  }

  void OnWrite(beast::error_code ec, size_t) {
    if (ec) return;
    bool keep_alive = response_.keep_alive();
    response_ = {};
    if (!keep_alive) return Close();
    Read();
  }

  void Close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  }

  beast::tcp_stream stream_;
  const HttpHandler* handler_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> request_;
  http::response<http::string_body> response_;
};

class BeastHttpServer : public HttpServer {
 public:
  explicit BeastHttpServer(HttpHandler handler)
      : handler_(std::move(handler)),
        ioc_(std::make_unique<asio::io_context>()),
        acceptor_(std::make_unique<tcp::acceptor>(asio::make_strand(*ioc_))) {}

  ~BeastHttpServer() override { Stop(); }

  Status Listen(const std::string& address, uint16_t port) {
    beast::error_code ec;
    tcp::endpoint endpoint(asio::ip::make_address(address, ec), port);
    if (ec) return Status::InvalidArgument("bad listen address '" + address + "': " + ec.message());
    acceptor_->open(endpoint.protocol(), ec);
    if (!ec) acceptor_->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_->bind(endpoint, ec);
    if (!ec) acceptor_->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return Status::Unavailable("cannot listen on " + address + ":" + std::to_string(port) + ": " +
                                 ec.message());
    }
    port_ = acceptor_->local_endpoint().port();
    return Status::Ok();
  }

  void Run(int threads) {
    Accept();
    if (threads < 1) threads = 1;
    threads_.reserve(threads);
    for (int i = 0; i < threads; ++i) {
      threads_.emplace_back([this] { ioc_->run(); });
    }
  }

  uint16_t port() const override { return port_; }

  void Stop() override {
    std::lock_guard<std::mutex> lock(stop_mutex_);
    if (stopped_) return;
    stopped_ = true;
    ioc_->stop();
    for (std::thread& t : threads_) t.join();
    threads_.clear();
    acceptor_.reset();
    // Destroying the io_context destroys the pending operations and with them
    // every session, which closes the client connections.
    ioc_.reset();
  }

 private:
  void Accept() {
    acceptor_->async_accept(asio::make_strand(*ioc_),
                            [this](beast::error_code ec, tcp::socket socket) {
                              if (ec == asio::error::operation_aborted) return;
                              if (!ec) {
                                socket.set_option(tcp::no_delay(true), ec);
                                std::make_shared<Session>(std::move(socket), &handler_)->Start();
                              }
                              Accept();
                            });
  }

  const HttpHandler handler_;
  std::unique_ptr<asio::io_context> ioc_;
  std::unique_ptr<tcp::acceptor> acceptor_;
  std::vector<std::thread> threads_;
  uint16_t port_ = 0;
  std::mutex stop_mutex_;
  bool stopped_ = false;
};

}  // namespace

Result<std::unique_ptr<HttpServer>> HttpServer::Start(const std::string& address, uint16_t port,
                                                      int threads, HttpHandler handler) {
  auto server = std::make_unique<BeastHttpServer>(std::move(handler));
  USP_RETURN_IF_ERROR(server->Listen(address, port));
  server->Run(threads);
  return std::unique_ptr<HttpServer>(std::move(server));
}

}  // namespace usp
