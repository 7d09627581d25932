#pragma once
// A small HTTP/1.1 server on Boost.Beast for the query API and the workers'
// health/metrics endpoints. Keep-alive, one handler for every request, a
// fixed pool of I/O threads, request limits, optional TLS (HTTPS) with
// optional client-certificate verification (mTLS). The handler runs on an
// I/O thread and must be thread-safe; it must not block for long.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"

namespace usp {

struct HttpRequest {
  std::string method;  // "GET"
  std::string path;    // percent-decoded path without the query, "/v1/users/u1/signals"
  std::map<std::string, std::string> query;    // decoded query parameters (last wins)
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  // Extra response header fields (name, value), e.g. WWW-Authenticate.
  std::vector<std::pair<std::string, std::string>> headers = {};
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

// JSON error body {"error": {"code": CODE, "message": MESSAGE}}.
HttpResponse JsonError(int status, const std::string& code, const std::string& message);

// HTTPS. Files are PEM and read once, at Start().
struct HttpTlsOptions {
  std::string cert_file;  // server certificate (chain)
  std::string key_file;   // its private key (unencrypted)
  // CA bundle for client certificates. Empty: clients are not asked for a
  // certificate. Set: every client must present a certificate signed by one
  // of these CAs, or the TLS handshake fails (mutual TLS).
  std::string client_ca_file;
};

// Loads the files of `tls` as Start() would: InvalidArgument naming the file
// that is unreadable, not PEM, or a key that does not match the certificate.
Status CheckTlsFiles(const HttpTlsOptions& tls);

// Limits and transport. Requests over a limit are answered by the server
// itself (the handler never sees them) with a JSON error, then the
// connection is closed.
struct HttpServerOptions {
  int threads = 2;  // I/O threads (at least 1)
  // Request line + header fields larger than this: 431 request_header_too_large.
  uint32_t max_header_bytes = 8 * 1024;
  // Request bodies larger than this: 413 request_body_too_large.
  uint64_t max_body_bytes = 64 * 1024;
  // Once the first byte of a request arrived, the rest must arrive within
  // this, else 408 request_timeout (slow or stalled clients).
  std::chrono::milliseconds request_timeout{10000};
  // A keep-alive connection with no request in flight, or a TLS handshake,
  // is closed (without a response) after this long.
  std::chrono::milliseconds idle_timeout{60000};
  // A response not written within this (the client stopped reading) drops
  // the connection.
  std::chrono::milliseconds write_timeout{30000};
  std::optional<HttpTlsOptions> tls;  // set: HTTPS only
};

class HttpServer {
 public:
  // Binds `address:port` (port 0 picks a free port) and starts the I/O
  // threads. Errors: the address cannot be bound (Unavailable), a bad
  // address or an unreadable/invalid TLS file (InvalidArgument, naming it).
  static Result<std::unique_ptr<HttpServer>> Start(const std::string& address, uint16_t port,
                                                   const HttpServerOptions& options,
                                                   HttpHandler handler);
  // Plain HTTP with default limits and `threads` I/O threads.
  static Result<std::unique_ptr<HttpServer>> Start(const std::string& address, uint16_t port,
                                                   int threads, HttpHandler handler);
  virtual ~HttpServer() = default;
  virtual uint16_t port() const = 0;
  // Stops accepting, closes connections, joins threads. Idempotent.
  virtual void Stop() = 0;
};

}  // namespace usp
