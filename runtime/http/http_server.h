#pragma once
// A small HTTP/1.1 server on Boost.Beast for the query API and the workers'
// health/metrics endpoints. Keep-alive, one handler for every request, a
// fixed pool of I/O threads. The handler runs on an I/O thread and must be
// thread-safe; it must not block for long.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "core/status.h"

namespace usp {

struct HttpRequest {
  std::string method;  // "GET"
  std::string path;    // percent-decoded path without the query, "/v1/users/u1/signals"
  std::map<std::string, std::string> query;  // decoded query parameters (last wins)
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

// JSON error body {"error": {"code": CODE, "message": MESSAGE}}.
HttpResponse JsonError(int status, const std::string& code, const std::string& message);

class HttpServer {
 public:
  // Binds `address:port` (port 0 picks a free port) and starts `threads`
  // I/O threads. Errors: the address cannot be bound.
  static Result<std::unique_ptr<HttpServer>> Start(const std::string& address, uint16_t port,
                                                   int threads, HttpHandler handler);
  virtual ~HttpServer() = default;
  virtual uint16_t port() const = 0;
  // Stops accepting, closes connections, joins threads. Idempotent.
  virtual void Stop() = 0;
};

}  // namespace usp
