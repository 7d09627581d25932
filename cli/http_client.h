#pragma once
// A minimal blocking HTTP/1.1 GET client (Boost.Beast) for uspctl: readiness
// checks of the processes it supervises and `uspctl query`.

#include <string>

#include "core/status.h"

namespace usp {

struct HttpGetResult {
  int status = 0;
  std::string body;
};

// url: "http://HOST:PORT/path?query". Errors: bad URL, connect/read failure
// or timeout.
Result<HttpGetResult> HttpGet(const std::string& url, int timeout_ms = 5000);

}  // namespace usp
