#include "runtime/http/http_server.h"

#include <openssl/ssl.h>

#include <array>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/signal_record.h"
#include "runtime/http/url_codec.h"

namespace usp {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
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

// After an error response the server stops sending and reads (and drops)
// what the client still sends for up to this long before closing: closing a
// socket with unread input resets the connection, and the client could lose
// the response.
constexpr auto kLingerTimeout = std::chrono::seconds(2);

// Bytes asked for by the first read of a request.
constexpr size_t kFirstReadBytes = 4096;

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

// What every session of one server shares; owned by the server, which
// outlives its sessions (Stop() destroys them with the io_context).
struct ServerContext {
  HttpHandler handler;
  HttpServerOptions options;
  std::unique_ptr<ssl::context> tls;  // null: plain HTTP
};

// One connection: [TLS handshake], then read a request, run the handler,
// write the response, repeat while the client keeps the connection alive.
// Every operation runs on the connection's strand. Lifetime is held by the
// shared_ptr captured in each pending operation.
//
// Deadlines use our own timer rather than the stream's: on expiry it only
// cancels the pending socket operation, so the session can still answer 408.
// The timer is not re-armed per request (a cancelled wait is one more
// completion through the strand): moving the deadline later only updates
// deadline_, and a wait that wakes before deadline_ waits again. Only a
// deadline earlier than the pending wait re-arms it.
template <class Stream>
class Session : public std::enable_shared_from_this<Session<Stream>> {
 public:
  template <class... StreamArgs>
  explicit Session(const ServerContext* server, StreamArgs&&... stream_args)
      : stream_(std::forward<StreamArgs>(stream_args)...),
        timer_(stream_.get_executor()),
        server_(server) {}

  void Start() {
    asio::dispatch(stream_.get_executor(),
                   beast::bind_front_handler(&Session::Begin, this->shared_from_this()));
  }

 private:
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

  const HttpServerOptions& options() const { return server_->options; }
  tcp::socket& socket() { return beast::get_lowest_layer(stream_).socket(); }

  void Begin() {
    if constexpr (kTls) {
      Arm(options().idle_timeout);
      stream_.async_handshake(
          ssl::stream_base::server,
          beast::bind_front_handler(&Session::OnHandshake, this->shared_from_this()));
    } else {
      WaitForRequest();
    }
  }

  void OnHandshake(beast::error_code ec) {
    Disarm();
    // No or an untrusted client certificate, not TLS at all, or too slow:
    // the handshake already told the client; drop the connection.
    if (ec) return;
    WaitForRequest();
  }

  // At `timeout` from now, cancels the pending socket operations and sets
  // timed_out_ (unless Disarm() or Arm() moved the deadline since).
  void Arm(std::chrono::milliseconds timeout) {
    timed_out_ = false;
    deadline_ = std::chrono::steady_clock::now() + timeout;
    if (waiting_ && timer_.expiry() <= deadline_) return;  // that wait re-checks deadline_
    Wait();
  }

  // No deadline; a pending wait stays and, when it wakes, finds none.
  void Disarm() { deadline_ = std::chrono::steady_clock::time_point::max(); }

  void Wait() {
    uint64_t generation = ++timer_generation_;
    waiting_ = true;
    timer_.expires_at(deadline_);  // cancels an earlier wait, which then sees a newer generation
    // A weak reference: a pending wait must not keep a finished session (and
    // its socket) alive until the wait wakes; destroying the session cancels it.
    timer_.async_wait([weak = this->weak_from_this(), generation](beast::error_code ec) {
      std::shared_ptr<Session> self = weak.lock();
      // A stale wait (re-armed since) must not touch anything.
      if (!self || generation != self->timer_generation_) return;
      self->waiting_ = false;
      if (ec) return;  // the server is stopping
      if (self->deadline_ == std::chrono::steady_clock::time_point::max()) return;
      if (std::chrono::steady_clock::now() < self->deadline_) return self->Wait();
      self->deadline_ = std::chrono::steady_clock::time_point::max();
      self->timed_out_ = true;
      beast::error_code ignored;
      self->socket().cancel(ignored);
    });
  }

  void WaitForRequest() {
    parser_.emplace();
    parser_->header_limit(options().max_header_bytes);
    parser_->body_limit(options().max_body_bytes);
    if (buffer_.size() > 0) return ReadRequest();  // a pipelined request is already here
    // Idle until the first byte: the idle timeout applies, not the request's.
    Arm(options().idle_timeout);
    stream_.async_read_some(
        buffer_.prepare(kFirstReadBytes),
        beast::bind_front_handler(&Session::OnFirstBytes, this->shared_from_this()));
  }

  void OnFirstBytes(beast::error_code ec, size_t bytes) {
    Disarm();
    if (ec) {
      if (ec == asio::error::eof && !kTls) Close();
      return;  // Idle timeout, reset, TLS close or shutdown: dropped on destruction.
    }
    buffer_.commit(bytes);
    // A small request usually arrives whole in this first read: parse it
    // here instead of starting a read operation (one fewer completion).
    beast::error_code parse_ec;
    while (buffer_.size() > 0 && !parser_->is_done()) {
      size_t used = parser_->put(buffer_.data(), parse_ec);
      buffer_.consume(used);
      if (parse_ec || used == 0) break;
    }
    if (parse_ec == http::error::need_more) parse_ec = {};
    if (parse_ec || parser_->is_done()) return OnRead(parse_ec, 0);
    ReadRequest();
  }

  void ReadRequest() {
    Arm(options().request_timeout);
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&Session::OnRead, this->shared_from_this()));
  }

  void OnRead(beast::error_code ec, size_t) {
    bool timed_out = timed_out_;
    Disarm();
    if (ec == http::error::end_of_stream) return Close();
    if (ec) {
      if (timed_out) {
        return WriteError(JsonError(408, "request_timeout",
                                    "the request did not arrive within " +
                                        std::to_string(options().request_timeout.count()) + " ms"));
      }
      if (ec == http::error::header_limit) {
        return WriteError(JsonError(431, "request_header_too_large",
                                    "the request line and headers exceed " +
                                        std::to_string(options().max_header_bytes) + " bytes"));
      }
      if (ec == http::error::body_limit) {
        return WriteError(JsonError(
            413, "request_body_too_large",
            "the request body exceeds " + std::to_string(options().max_body_bytes) + " bytes"));
      }
      if (ec.category() == make_error_code(http::error::bad_target).category()) {
        return WriteError(JsonError(400, "bad_request", "malformed HTTP request"));
      }
      return;  // Reset or shutdown: the socket is closed on destruction.
    }
    http::request<http::string_body> in = parser_->release();
    bool keep_alive = in.keep_alive();
    unsigned version = in.version();
    HttpRequest request = ToHttpRequest(in);
    HttpResponse response;
    try {
      response = server_->handler(request);
    } catch (const std::exception& e) {
      response = JsonError(500, "internal", e.what());
    } catch (...) {
      response = JsonError(500, "internal", "unknown error");
    }
    Write(std::move(response), version, keep_alive);
  }

  // Answers a request the handler never saw, then closes the connection.
  void WriteError(HttpResponse response) {
    lingering_close_ = true;
    Write(std::move(response), 11, /*keep_alive=*/false);
  }

  void Write(HttpResponse response, unsigned version, bool keep_alive) {
    response_ = {};
    response_.result(static_cast<unsigned>(response.status));
    response_.version(version);
    response_.set(http::field::content_type, response.content_type);
    for (const auto& [name, value] : response.headers) response_.set(name, value);
    response_.keep_alive(keep_alive);
    response_.body() = std::move(response.body);
    response_.prepare_payload();
    // On expiry the write is cancelled and the session dropped (OnWrite).
    Arm(options().write_timeout);
    http::async_write(stream_, response_,
                      beast::bind_front_handler(&Session::OnWrite, this->shared_from_this()));
  }

  void OnWrite(beast::error_code ec, size_t) {
    Disarm();
    if (ec) return;
    bool keep_alive = response_.keep_alive();
    response_ = {};
    if (!keep_alive) return lingering_close_ ? Linger() : Close();
    WaitForRequest();
  }

  void Close() {
    if constexpr (kTls) {
      Arm(options().write_timeout);
      stream_.async_shutdown(
          [self = this->shared_from_this()](beast::error_code) { self->Disarm(); });
    } else {
      beast::error_code ec;
      socket().shutdown(tcp::socket::shutdown_send, ec);
    }
  }

  void Linger() {
    if constexpr (kTls) {
      Close();
    } else {
      beast::error_code ec;
      socket().shutdown(tcp::socket::shutdown_send, ec);
      Arm(kLingerTimeout);
      Drain();
    }
  }

  void Drain() {
    socket().async_read_some(asio::buffer(drain_),
                             [self = this->shared_from_this()](beast::error_code ec, size_t) {
                               if (ec) return self->Disarm();
                               self->Drain();
                             });
  }

  Stream stream_;
  asio::steady_timer timer_;
  const ServerContext* server_;
  uint64_t timer_generation_ = 0;
  std::chrono::steady_clock::time_point deadline_ = std::chrono::steady_clock::time_point::max();
  bool waiting_ = false;  // a timer wait is pending
  bool timed_out_ = false;
  bool lingering_close_ = false;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> response_;
  std::array<char, 4096> drain_;
};

using PlainSession = Session<beast::tcp_stream>;
using TlsSession = Session<beast::ssl_stream<beast::tcp_stream>>;

Result<std::unique_ptr<ssl::context>> MakeTlsContext(const HttpTlsOptions& tls) {
  auto context = std::make_unique<ssl::context>(ssl::context::tls_server);
  beast::error_code ec;
  context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                           ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                           ssl::context::no_tlsv1_1 | ssl::context::single_dh_use,
                       ec);
  if (tls.cert_file.empty() || tls.key_file.empty()) {
    return Status::InvalidArgument("TLS needs both a certificate file and a key file");
  }
  context->use_certificate_chain_file(tls.cert_file, ec);
  if (ec) {
    return Status::InvalidArgument("TLS certificate file '" + tls.cert_file + "': " + ec.message());
  }
  context->use_private_key_file(tls.key_file, ssl::context::pem, ec);
  if ((ec && ec.message().find("mismatch") != std::string::npos) ||
      (!ec && SSL_CTX_check_private_key(context->native_handle()) != 1)) {
    return Status::InvalidArgument("TLS key file '" + tls.key_file +
                                   "' does not match the certificate '" + tls.cert_file + "'");
  }
  if (ec) {
    return Status::InvalidArgument("TLS key file '" + tls.key_file + "': " + ec.message());
  }
  if (!tls.client_ca_file.empty()) {
    context->load_verify_file(tls.client_ca_file, ec);
    if (ec) {
      return Status::InvalidArgument("TLS client CA file '" + tls.client_ca_file +
                                     "': " + ec.message());
    }
    // Tell clients which CAs are accepted, so they pick the right certificate.
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(tls.client_ca_file.c_str());
    if (names != nullptr) SSL_CTX_set_client_CA_list(context->native_handle(), names);
    context->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert, ec);
    if (ec) return Status::InvalidArgument("TLS client verification: " + ec.message());
  }
  return context;
}

class BeastHttpServer : public HttpServer {
 public:
  explicit BeastHttpServer(ServerContext context)
      : context_(std::move(context)),
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

  void Run() {
    Accept();
    int threads = context_.options.threads < 1 ? 1 : context_.options.threads;
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
    acceptor_->async_accept(
        asio::make_strand(*ioc_), [this](beast::error_code ec, tcp::socket socket) {
          if (ec == asio::error::operation_aborted) return;
          if (!ec) {
            socket.set_option(tcp::no_delay(true), ec);
            if (context_.tls) {
              std::make_shared<TlsSession>(&context_, std::move(socket), *context_.tls)->Start();
            } else {
              std::make_shared<PlainSession>(&context_, std::move(socket))->Start();
            }
          }
          Accept();
        });
  }

  const ServerContext context_;
  std::unique_ptr<asio::io_context> ioc_;
  std::unique_ptr<tcp::acceptor> acceptor_;
  std::vector<std::thread> threads_;
  uint16_t port_ = 0;
  std::mutex stop_mutex_;
  bool stopped_ = false;
};

}  // namespace

Status CheckTlsFiles(const HttpTlsOptions& tls) { return MakeTlsContext(tls).status(); }

Result<std::unique_ptr<HttpServer>> HttpServer::Start(const std::string& address, uint16_t port,
                                                      const HttpServerOptions& options,
                                                      HttpHandler handler) {
  ServerContext context;
  context.handler = std::move(handler);
  context.options = options;
  if (options.tls) {
    auto tls = MakeTlsContext(*options.tls);
    if (!tls.ok()) return tls.status();
    context.tls = std::move(tls).value();
  }
  auto server = std::make_unique<BeastHttpServer>(std::move(context));
  USP_RETURN_IF_ERROR(server->Listen(address, port));
  server->Run();
  return std::unique_ptr<HttpServer>(std::move(server));
}

Result<std::unique_ptr<HttpServer>> HttpServer::Start(const std::string& address, uint16_t port,
                                                      int threads, HttpHandler handler) {
  HttpServerOptions options;
  options.threads = threads;
  return Start(address, port, options, std::move(handler));
}

}  // namespace usp
