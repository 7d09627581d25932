#include "runtime/http/http_client.h"

#include <chrono>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace usp {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;

Result<HttpClientResponse> HttpCall(const std::string& method, const std::string& url,
                                    const std::string& body, int timeout_ms) {
  const http::verb verb = http::string_to_verb(method);
  if (verb == http::verb::unknown) return Status::InvalidArgument("unknown HTTP method " + method);
  constexpr std::string_view kScheme = "http://";
  if (url.rfind(kScheme, 0) != 0) return Status::InvalidArgument("only http:// URLs: " + url);
  std::string rest = url.substr(kScheme.size());
  size_t slash = rest.find('/');
  std::string hostport = rest.substr(0, slash);
  std::string target = slash == std::string::npos ? "/" : rest.substr(slash);
  size_t colon = hostport.rfind(':');
  std::string host = colon == std::string::npos ? hostport : hostport.substr(0, colon);
  std::string port = colon == std::string::npos ? "80" : hostport.substr(colon + 1);

  // Asynchronous operations on one io_context: beast::tcp_stream's deadline
  // (expires_after) applies only to them, and it covers the whole exchange,
  // so a peer that accepts and never answers cannot block the caller.
  boost::asio::io_context ioc;
  tcp::resolver resolver(ioc);
  beast::error_code ec;
  auto endpoints = resolver.resolve(host, port, ec);
  if (ec) return Status::Unavailable("resolve " + hostport + ": " + ec.message());
  beast::tcp_stream stream(ioc);
  stream.expires_after(std::chrono::milliseconds(timeout_ms));

  http::request<http::string_body> req{verb, target, 11};
  req.set(http::field::host, hostport);
  req.set(http::field::user_agent, "usp");
  if (!body.empty()) {
    req.set(http::field::content_type, "application/json");
    req.body() = body;
  }
  req.prepare_payload();

  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(256 * 1024 * 1024);
  std::string failed_step;
  auto fail = [&](const char* step, beast::error_code e) {
    ec = e;
    failed_step = step;
  };
  stream.async_connect(endpoints, [&](beast::error_code e, const tcp::endpoint&) {
    if (e) return fail("connect", e);
    http::async_write(stream, req, [&](beast::error_code e2, size_t) {
      if (e2) return fail("send to", e2);
      http::async_read(stream, buffer, parser, [&](beast::error_code e3, size_t) {
        if (e3) return fail("read from", e3);
      });
    });
  });
  ioc.run();
  if (!failed_step.empty()) {
    std::string why = ec == beast::error::timeout
                          ? "no answer within " + std::to_string(timeout_ms) + " ms"
                          : ec.message();
    return Status::Unavailable(failed_step + " " + hostport + ": " + why);
  }
  stream.socket().shutdown(tcp::socket::shutdown_both, ec);

  HttpClientResponse result;
  result.status = static_cast<int>(parser.get().result_int());
  result.body = std::move(parser.get().body());
  return result;
}

}  // namespace usp
