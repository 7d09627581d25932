#pragma once
// A minimal blocking HTTP/1.1 client (Boost.Beast) for the control plane:
// readiness checks and worker probes, the worker control protocol
// (PUT /assignment) and `uspctl query`. One connection per request.

#include <string>

#include "core/status.h"

namespace usp {

struct HttpClientResponse {
  int status = 0;
  std::string body;
};
using HttpGetResult = HttpClientResponse;

// url: "http://HOST:PORT/path?query". `body` is sent as application/json when
// not empty. Errors (Unavailable): bad URL (InvalidArgument), resolve,
// connect, send or read failure, or `timeout_ms` over the whole exchange.
Result<HttpClientResponse> HttpCall(const std::string& method, const std::string& url,
                                    const std::string& body, int timeout_ms = 5000);

inline Result<HttpClientResponse> HttpGet(const std::string& url, int timeout_ms = 5000) {
  return HttpCall("GET", url, "", timeout_ms);
}

}  // namespace usp
